"""`probe` and `features recompute`."""

from __future__ import annotations

import sys
from typing import Any

import click

from drift_monitor.cli._base import State, handles_errors, main, open_store, pass_state

# --- probe ----------------------------------------------------------------------------------

INTERRUPTED_NOTE = "interrupted (Ctrl-C): the responses received before are stored"


def _top_error(store: Any, target: str) -> str | None:
    """The newest round's most common failure with the provider's stored (redacted) message."""
    tid = store.target_id(target)
    outcomes = store.recent_round_outcomes(tid, 1) if tid is not None else []
    if not outcomes or not outcomes[0]["error_kind"]:
        return None
    o = outcomes[0]
    status = f" (HTTP {o['http_status']})" if o["http_status"] is not None else ""
    from drift_monitor.detection.outage import provider_message

    message = (provider_message(o["message"]) or "")[:300]
    return f"{o['error_kind']}{status}" + (f": {message}" if message else "")


@main.command()
@click.option("--target", "-t", "targets", multiple=True, help="Target name (repeatable).")
@click.option("--samples", type=click.IntRange(1, 1000), help="Samples per probe.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def probe(state: State, targets: tuple[str, ...], samples: int | None, as_json: bool) -> None:
    """Run one probe round now for the targets (default: all).

    Shows progress on stderr (a bar on a terminal, a line every 10 s otherwise). Ctrl-C stops
    the round and finishes its run with what arrived. Exit 0 when every round completed
    (possibly partially), 1 when every call of a round failed, 2 on bad input or when the
    database failed mid-round (what was stored is kept), 130 when interrupted.
    """
    from drift_monitor.app.estimate import estimate
    from drift_monitor.app.rounds import finish_interrupted, run_round
    from drift_monitor.cli._progress import RoundProgress
    from drift_monitor.errors import StorageError
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    config = state.config
    library = config.load_probes()
    config.check_suites(library)
    chosen = config.targets(list(targets))
    for t in chosen:
        config.api_key(t)  # fail on a missing key before anything is stored
    engine = make_engine(config.database_url)
    rounds: list[dict[str, Any]] = []
    try:
        ensure_schema(engine)
        store = Store(engine)
        any_failed = False
        storage_failed = False
        for target in chosen:
            probes = library.select(target.suites)
            click.echo(f"probe {target.name}: {estimate(target, probes, samples).describe()}",
                       err=True)
            try:
                summary = run_round(config, target, store, probes, samples=samples,
                                    progress=RoundProgress(target.name))
            except KeyboardInterrupt:
                # finish its run (never left ``running``)
                run_id = finish_interrupted(store, target.name, INTERRUPTED_NOTE,
                                            trigger="manual")
                click.echo(f"interrupted: run {run_id} of {target.name} finished with the "
                           "responses received so far", err=True)
                sys.exit(130)
            except StorageError as exc:
                # one line; the next targets are still tried (the database may be back)
                click.echo(f"error: {exc}", err=True)
                storage_failed = True
                rounds.append({"target": target.name, "error": str(exc)})
                continue
            error = _top_error(store, target.name) if summary.failed else None
            rounds.append({"target": target.name, "run": summary.id, "status": summary.status,
                           "expected": summary.expected, "ok": summary.ok,
                           "failed": summary.failed,
                           "failures_by_kind": summary.failures_by_kind, "error": error})
            if not as_json:
                failures = ", ".join(f"{k} {n}"
                                     for k, n in sorted(summary.failures_by_kind.items()))
                click.echo(f"{target.name}: run {summary.id} {summary.status}: {summary.ok} ok, "
                           f"{summary.failed} failed" + (f" ({failures})" if failures else ""))
                if error:
                    click.echo(f"  most common error: {error}")
            any_failed |= summary.status == "failed"
    finally:
        engine.dispose()
    if as_json:
        import json

        click.echo(json.dumps({"rounds": rounds}, indent=2))
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
    from drift_monitor.app.features import recompute
    from drift_monitor.features.persist import current_version

    config = state.config
    if target:
        config.target(target)
    store = open_store(config)

    def show(done: int, total: int) -> None:
        click.echo(f"  {done}/{total} responses", err=True)

    n = recompute(store, target=target, progress=show)
    click.echo(f"recomputed features for {n} responses (feature set {current_version()})")


