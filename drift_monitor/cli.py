"""The command layer: parsing and printing only. Exit codes follow DESIGN.md.

Any DriftMonitorError becomes one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from drift_monitor import __version__
from drift_monitor.config import Config, load_config
from drift_monitor.errors import DriftMonitorError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def handles_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DriftMonitorError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


class State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default ./drift-monitor.yaml, or $DRIFT_MONITOR_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(__version__, prog_name="drift-monitor")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """drift-monitor: catches silent behaviour changes in hosted language models."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = State(config_path)


# --- init -----------------------------------------------------------------------------------

@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@handles_errors
def init(directory: str, force: bool) -> None:
    """Write a commented drift-monitor.yaml and a starter probes/ into DIRECTORY."""
    dest = Path(directory)
    templates = resources.files("drift_monitor") / "templates"
    config_dest = dest / "drift-monitor.yaml"
    probes_dest = dest / "probes"
    targets = [config_dest] + [probes_dest / p.name for p in (templates / "probes").iterdir()
                               if p.name.endswith(".yaml")]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        _fail(f"{', '.join(existing)} already exist(s); use --force to overwrite")
    probes_dest.mkdir(parents=True, exist_ok=True)
    with resources.as_file(templates / "drift-monitor.yaml") as src:
        shutil.copyfile(src, config_dest)
    for item in (templates / "probes").iterdir():
        if item.name.endswith(".yaml"):
            with resources.as_file(item) as src:
                shutil.copyfile(src, probes_dest / item.name)
    click.echo(f"wrote {config_dest} and {probes_dest}/")
    click.echo(f"next: cd {dest} && drift-monitor validate && drift-monitor probe")


# --- validate -------------------------------------------------------------------------------

@main.command()
@pass_state
@handles_errors
def validate(state: State) -> None:
    """Load config and probes, check every target, and print a summary."""
    from drift_monitor.runner import make_provider, samples_for
    from drift_monitor.storage.engine import safe_url

    config = state.config
    library = config.load_probes()
    config.check_suites(library)
    click.echo(f"config: {config.path}")
    click.echo(f"database: {safe_url(config.database_url)}")
    click.echo(f"probes: {sum(len(s.probes) for s in library.suites.values())} in "
               f"{len(library.suites)} suites ({config.probes_dir})")
    for target in config.targets():
        provider = make_provider(config, target)  # checks the key and provider settings
        asyncio.run(provider.aclose())
        probes = library.select(target.suites)
        calls = sum(samples_for(p, target, None) for p in probes)
        click.echo(f"target {target.name}: {target.provider} {target.model}, "
                   f"{len(probes)} probes, {calls} calls per run, {target.schedule}")
    click.echo("valid")


# --- db -------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@pass_state
@handles_errors
def db_upgrade(state: State) -> None:
    """Apply the Alembic migrations up to the newest revision."""
    from drift_monitor.storage.engine import current_revision, make_engine, safe_url, upgrade

    engine = make_engine(state.config.database_url)
    try:
        upgrade(engine)
        click.echo(f"database {safe_url(state.config.database_url)} at revision "
                   f"{current_revision(engine)}")
    finally:
        engine.dispose()


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

    Exit 0 when every round completed (possibly partially), 1 when every call of a round failed.
    """
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
        for target in chosen:
            summary = asyncio.run(probe_round(config, target, store,
                                              library.select(target.suites), samples=samples,
                                              progress=_progress(target.name)))
            failures = ", ".join(f"{k} {n}" for k, n in sorted(summary.failures_by_kind.items()))
            click.echo(f"{target.name}: run {summary.id} {summary.status}: {summary.ok} ok, "
                       f"{summary.failed} failed" + (f" ({failures})" if failures else ""))
            any_failed |= summary.status == "failed"
    finally:
        engine.dispose()
    sys.exit(1 if any_failed else 0)
