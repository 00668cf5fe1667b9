"""`check`, `notify` and `digest`."""

from __future__ import annotations

import sys
from typing import Any

import click

from drift_monitor.cli._base import (
    State,
    handles_errors,
    main,
    open_store,
    pass_state,
    write_report,
)

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
    # a control arm is checked before the targets it controls, so their alerts read its
    # check of this round, not the previous one
    controls = {t.control for t in config.targets()}
    chosen.sort(key=lambda t: t.name not in controls)
    store = open_store(config)
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
    store = open_store(config)
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
    from drift_monitor.alerting.outbox import deliver
    from drift_monitor.alerting.routes import make_router
    from drift_monitor.digest import build_digest, queue_digest, render_digest_text

    config = state.config
    store = open_store(config)
    payload = build_digest(config, store, days=days)
    if not (send and make_router(config).digest == ("console",)):  # the console prints it anyway
        click.echo(render_digest_text(payload))
    if html_path:
        from drift_monitor.digest_report import render_html

        write_report(html_path, render_html(payload))
    if send:
        keys = queue_digest(config, store, payload)
        report = deliver(config, store, keys=keys)
        for a in report.attempts:
            click.echo(a.describe())
        if not report.attempts:
            click.echo("this period's digest was already sent")
        elif report.pending:
            click.echo("the digest stays queued; 'drift-monitor notify' retries it")


