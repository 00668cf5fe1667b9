"""`probe` and `features recompute`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import click

from drift_monitor.cli._base import State, handles_errors, main, open_store, pass_state

# --- probe ----------------------------------------------------------------------------------

def _progress(target: str) -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        click.echo(f"\r  {target}: {done}/{total} calls", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show


@main.command()
@click.option("--target", "-t", "targets", multiple=True, help="Target name (repeatable).")
@click.option("--samples", type=click.IntRange(1, 1000), help="Samples per probe.")
@pass_state
@handles_errors
def probe(state: State, targets: tuple[str, ...], samples: int | None) -> None:
    """Run one probe round now for the targets (default: all).

    Exit 0 when every round completed (possibly partially), 1 when every call of a round failed,
    2 on bad input or when the database failed mid-round (what was stored is kept).
    """
    from drift_monitor.errors import StorageError
    from drift_monitor.runner import probe_round
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    config = state.config
    library = config.load_probes()
    config.check_suites(library)
    chosen = config.targets(list(targets))
    for t in chosen:
        config.api_key(t)  # fail on a missing key before anything is stored
    engine = make_engine(config.database_url)
    try:
        ensure_schema(engine)
        store = Store(engine)
        any_failed = False
        storage_failed = False
        for target in chosen:
            try:
                summary = asyncio.run(probe_round(config, target, store,
                                                  library.select(target.suites),
                                                  samples=samples,
                                                  progress=_progress(target.name)))
            except StorageError as exc:
                # one line; the next targets are still tried (the database may be back)
                click.echo(f"error: {exc}", err=True)
                storage_failed = True
                continue
            failures = ", ".join(f"{k} {n}" for k, n in sorted(summary.failures_by_kind.items()))
            click.echo(f"{target.name}: run {summary.id} {summary.status}: {summary.ok} ok, "
                       f"{summary.failed} failed" + (f" ({failures})" if failures else ""))
            any_failed |= summary.status == "failed"
    finally:
        engine.dispose()
    sys.exit(2 if storage_failed else 1 if any_failed else 0)


# --- features -------------------------------------------------------------------------------

@main.group()
def features() -> None:
    """Stored response features."""


@features.command("recompute")
@click.option("--target", "-t", default=None, help="Only this target's responses.")
@pass_state
@handles_errors
def features_recompute(state: State, target: str | None) -> None:
    """Compute features for stored responses whose feature-set version is not the current one."""
    from drift_monitor.features.persist import current_version, recompute

    config = state.config
    if target:
        config.target(target)
    store = open_store(config)

    def show(done: int, total: int) -> None:
        click.echo(f"  {done}/{total} responses", err=True)

    n = recompute(store, target=target, progress=show)
    click.echo(f"recomputed features for {n} responses (feature set {current_version()})")


