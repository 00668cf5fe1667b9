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


def _open_store(config: Config) -> Any:
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    engine = make_engine(config.database_url)
    ensure_schema(engine)
    return Store(engine)


# --- baseline -------------------------------------------------------------------------------

@main.group()
def baseline() -> None:
    """Pin, show and accept baselines."""


@baseline.command("set")
@click.option("--target", "-t", required=True, help="Target name.")
@click.option("--runs", type=click.IntRange(1, 100), default=None,
              help="How many of the latest finished runs to pin (default baseline.min_runs).")
@pass_state
@handles_errors
def baseline_set(state: State, target: str, runs: int | None) -> None:
    """Pin the last N finished runs as the target's baseline."""
    from drift_monitor.detection.baselines import pin_latest

    config = state.config
    t = config.target(target)
    store = _open_store(config)
    tid = store.upsert_target(t.name, t.provider, t.model)
    pinned = pin_latest(store, tid, t.name, runs or config.settings.baseline.min_runs,
                        reason="set")
    click.echo(f"{t.name}: baseline {pinned.id} pinned on runs {pinned.run_ids}")


@baseline.command("accept")
@click.option("--target", "-t", required=True, help="Target name.")
@click.option("--runs", type=click.IntRange(1, 100), default=None,
              help="How many recent finished runs to pin (default detection.window_runs).")
@pass_state
@handles_errors
def baseline_accept(state: State, target: str, runs: int | None) -> None:
    """Accept the new behaviour: pin the recent runs after a reviewed change.

    The target's open incidents close as accepted in the same transaction.
    """
    from drift_monitor.alerting.incidents import accept_hook
    from drift_monitor.detection.baselines import pin_latest

    config = state.config
    t = config.target(target)
    store = _open_store(config)
    tid = store.upsert_target(t.name, t.provider, t.model)
    decisions: list[Any] = []
    pinned = pin_latest(store, tid, t.name, runs or config.settings.detection.window_runs,
                        reason="accept", note="accepted after review",
                        same_transaction=accept_hook(config, store, t.name, tid,
                                                     decisions=decisions))
    click.echo(f"{t.name}: accepted; baseline {pinned.id} now pins runs {pinned.run_ids}")
    for d in decisions:
        click.echo(f"  incident {d.incident_id} ({d.dimension}) closed as accepted"
                   + (" (notification queued; run 'drift-monitor notify')" if d.queued else ""))


@baseline.command("show")
@click.option("--target", "-t", "target", default=None, help="Target name (default all).")
@pass_state
@handles_errors
def baseline_show(state: State, target: str | None) -> None:
    """Show each target's baselines, newest first."""
    config = state.config
    store = _open_store(config)
    for t in config.targets([target] if target else None):
        tid = store.target_id(t.name)
        history = store.baseline_history(tid) if tid is not None else []
        if not history:
            click.echo(f"{t.name}: no baseline yet (one is pinned automatically after "
                       f"{config.settings.baseline.min_runs} finished runs)")
            continue
        click.echo(f"{t.name}:")
        for b in history:
            state_word = ("active" if b["active"]
                          else f"superseded {b['superseded_at']:%Y-%m-%d %H:%M}")
            click.echo(f"  baseline {b['id']} ({b['reason']}, {state_word}): runs {b['runs']}, "
                       f"{b['responses']} responses, pinned {b['created_at']:%Y-%m-%d %H:%M} UTC"
                       + (f" - {b['note']}" if b["note"] else ""))


# --- check ----------------------------------------------------------------------------------

@main.command()
@click.option("--target", "-t", "targets", multiple=True, help="Target name (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--no-notify", is_flag=True,
              help="Record findings and incidents but queue no notification.")
@pass_state
@handles_errors
def check(state: State, targets: tuple[str, ...], as_json: bool, no_notify: bool) -> None:
    """Compare the latest window with the baseline, record findings, update incidents and queue
    notifications (delivered by 'drift-monitor notify').

    Exit 0 no drift, 1 drift, 2 error.
    """
    import json

    from drift_monitor.alerting.incidents import check_saver
    from drift_monitor.alerting.render import finding_lines
    from drift_monitor.detection.check import check_target, make_confirm_round

    config = state.config
    library = config.load_probes()
    config.check_suites(library)
    chosen = config.targets(list(targets))
    store = _open_store(config)
    results = []
    decisions: list[Any] = []
    save = check_saver(config, store, notify=not no_notify, decisions=decisions)
    for t in chosen:
        confirm = make_confirm_round(config, t, store, library)
        results.append(check_target(config, t, store, confirm_round=confirm, save=save))
    if as_json:
        click.echo(json.dumps({"checks": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            if r.error:
                click.echo(f"{r.target}: error: {r.error}")
                continue
            word = "DRIFT" if r.drift else "no drift"
            click.echo(f"{r.target}: {word} (baseline runs {r.baseline_runs}, "
                       f"{r.baseline_responses} responses; window runs {r.window_runs}, "
                       f"{r.window_responses} responses)")
            for f in r.findings:
                click.echo("\n".join(finding_lines(f)))
                if not f.confirmed:
                    click.echo("      (not confirmed yet: no page)")
            for note in r.notes:
                click.echo(f"  note: {note}")
            for d in decisions:
                if d.target == r.target:
                    click.echo(f"  incident {d.incident_id} ({d.dimension}): {d.action}, "
                               f"{d.reason.value}" + (", notification queued" if d.queued else ""))
        if any(d.queued for d in decisions):
            click.echo("notifications queued: run 'drift-monitor notify' to deliver them")
    if any(r.drift for r in results):
        sys.exit(1)
    sys.exit(2 if any(r.error for r in results) else 0)


# --- notify ---------------------------------------------------------------------------------

@main.command()
@pass_state
@handles_errors
def notify(state: State) -> None:
    """Deliver pending notifications now (alerts, resolutions, digests).

    Exit 0 when none is left pending, 1 when some are (they are retried with backoff).
    Notifications that failed permanently are listed and not retried.
    """
    from drift_monitor.alerting.outbox import deliver

    config = state.config
    store = _open_store(config)
    report = deliver(config, store)
    for a in report.attempts:
        click.echo(a.describe())
    counts = store.notification_counts()
    click.echo(f"{report.delivered} delivered now; {report.pending} pending; "
               f"{counts.get('failed', 0)} failed permanently in total")
    shown = {a.id for a in report.attempts}
    for n in store.notifications(status="failed", limit=5):
        if n["id"] not in shown:  # earlier permanent failures stay visible until fixed
            click.echo(f"  failed {n['last_attempt_at']:%Y-%m-%d %H:%M} UTC: {n['kind']} "
                       f"({n['reason']}) for {n['target'] or 'all targets'} via "
                       f"{n['channel']}: {n['last_error']}")
    sys.exit(1 if report.pending else 0)


# --- digest ---------------------------------------------------------------------------------

@main.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True,
              help="How many days back the digest covers.")
@click.option("--send", is_flag=True, help="Queue the digest and deliver it now.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              help="Write a self-contained HTML report with charts to this file.")
@pass_state
@handles_errors
def digest(state: State, days: int, send: bool, html_path: str | None) -> None:
    """Build the digest of the last DAYS days; print it, send it, write the HTML report.

    Sending the same period's digest twice sends it once (it is deduplicated by period).
    """
    from drift_monitor.alerting.channels import channel_names
    from drift_monitor.alerting.outbox import deliver
    from drift_monitor.digest import build_digest, queue_digest, render_digest_text

    config = state.config
    store = _open_store(config)
    payload = build_digest(config, store, days=days)
    if not (send and channel_names(config) == ["console"]):  # the console prints it anyway
        click.echo(render_digest_text(payload))
    if html_path:
        from drift_monitor.digest_report import render_html

        try:
            Path(html_path).write_text(render_html(payload), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write the report to {html_path}: {exc.strerror or exc}")
        click.echo(f"report written to {html_path}")
    if send:
        keys = queue_digest(config, store, payload)
        report = deliver(config, store, keys=keys)
        for a in report.attempts:
            click.echo(a.describe())
        if not report.attempts:
            click.echo("this period's digest was already sent")
        elif report.pending:
            click.echo("the digest stays queued; 'drift-monitor notify' retries it")


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
    store = _open_store(config)

    def show(done: int, total: int) -> None:
        click.echo(f"  {done}/{total} responses", err=True)

    n = recompute(store, target=target, progress=show)
    click.echo(f"recomputed features for {n} responses (feature set {current_version()})")


# --- demo -----------------------------------------------------------------------------------

@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Keep the demo's files here (default: a temporary directory).")
@handles_errors
def demo(directory: str | None) -> None:
    """A self-contained run on recorded GPT-3.5 data: baseline, silent update, detection."""
    from drift_monitor.demo import run_demo

    run_demo(Path(directory) if directory else None, echo=click.echo)
