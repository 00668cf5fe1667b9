"""`check`, `notify` and `digest`."""

from __future__ import annotations

import sys
from typing import Any

import click

from drift_monitor.cli._base import (
    State,
    handles_errors,
    json_default,
    main,
    open_store,
    pass_state,
    write_report,
)
from drift_monitor.storage.rows import NotificationRow

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

    from drift_monitor.alerting.render import finding_lines
    from drift_monitor.app.checks import run_checks

    config = state.config
    library = config.load_probes()
    config.check_suites(library)
    chosen = config.targets(list(targets))
    store = open_store(config)
    decisions: list[Any] = []
    results = run_checks(config, store, chosen, library, notify=not no_notify,
                         decisions=decisions)
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

def _attempt_json(a: Any) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "reason": a.reason, "target": a.target,
            "channel": a.channel, "outcome": a.outcome, "error": a.error,
            "next_attempt_at": a.next_attempt_at.isoformat() if a.next_attempt_at else None}


def _failed_json(n: NotificationRow) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "reason": n.reason, "target": n.target,
            "channel": n.channel, "attempts": n.attempts, "error": n.last_error,
            "last_attempt_at": n.last_attempt_at.isoformat() if n.last_attempt_at
            else None}


def _failed_line(n: NotificationRow) -> str:
    when = f"{n.last_attempt_at:%Y-%m-%d %H:%M} UTC" if n.last_attempt_at else "?"
    return (f"  failed #{n.id} {when}: {n.kind} ({n.reason}) for "
            f"{n.target or 'all targets'} via {n.channel}: {n.last_error}")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_context
@handles_errors
def notify(ctx: click.Context, as_json: bool) -> None:
    """Deliver pending notifications now (alerts, resolutions, digests).

    Exit 0 when everything it tried was delivered, 1 when some are left pending (they are
    retried with backoff) or failed permanently now. Notifications that failed permanently are
    listed with their id and not retried: fix the cause, then 'notify retry ID' (or
    '--all-failed'), or 'notify drop ID'.
    """
    if ctx.invoked_subcommand is not None:
        return
    import json

    from drift_monitor.alerting.outbox import deliver

    state = ctx.find_object(State)
    assert state is not None
    config = state.config
    store = open_store(config)
    report = deliver(config, store)
    # a permanent failure in this run is not a delivery (issue 13): exit 1
    failed_now = any(a.outcome == "failed" for a in report.attempts)
    counts = store.notification_counts()
    shown = {a.id for a in report.attempts}
    # earlier permanent failures stay visible until retried or dropped
    failed = [n for n in store.notifications(status="failed", limit=20) if n.id not in shown]
    if as_json:
        click.echo(json.dumps({"attempts": [_attempt_json(a) for a in report.attempts],
                               "delivered": report.delivered, "pending": report.pending,
                               "counts": counts,
                               "failed": [_failed_json(n) for n in failed]}, indent=2))
        sys.exit(1 if report.pending or failed_now else 0)
    for a in report.attempts:
        click.echo(f"#{a.id} {a.describe()}")
    click.echo(f"{report.delivered} delivered now; {report.pending} pending; "
               f"{counts.get('failed', 0)} failed permanently in total")
    for n in failed[:5]:
        click.echo(_failed_line(n))
    if counts.get("failed", 0):
        click.echo("  after fixing the cause: 'drift-monitor notify retry ID' (or "
                   "--all-failed); to give up on one: 'drift-monitor notify drop ID'")
    sys.exit(1 if report.pending or failed_now else 0)


@notify.command("retry")
@click.argument("notification_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Every notification that failed permanently.")
@pass_state
@handles_errors
def notify_retry(state: State, notification_id: int | None, all_failed: bool) -> None:
    """Deliver a notification that failed permanently again, now (after fixing the cause).

    Exit 0 when it was delivered, 1 when it is still pending or failed again, 2 when there is
    no such failed notification.
    """
    from drift_monitor.alerting.outbox import deliver
    from drift_monitor.clock import utc_now

    if (notification_id is None) == (not all_failed):
        raise click.UsageError("give a notification ID or --all-failed (not both)")
    config = state.config
    store = open_store(config)
    if notification_id is not None:
        row = store.notification(notification_id)
        if row is None or row.status != "failed":
            state_word = "does not exist" if row is None else f"is {row.status}"
            click.echo(f"error: notification {notification_id} {state_word}; only failed "
                       "ones can be retried ('drift-monitor notify' lists them)", err=True)
            sys.exit(2)
    ids = store.retry_notifications(None if all_failed else [notification_id or 0], utc_now())
    if not ids:
        click.echo("no notification failed permanently: nothing to retry")
        sys.exit(0)
    keys = [n.dedup_key for n in (store.notification(i) for i in ids) if n]
    report = deliver(config, store, keys=keys)
    for a in report.attempts:
        click.echo(f"#{a.id} {a.describe()}")
    sys.exit(0 if report.delivered == len(ids) else 1)


@notify.command("drop")
@click.argument("notification_id", type=int)
@pass_state
@handles_errors
def notify_drop(state: State, notification_id: int) -> None:
    """Give up on a failed (or pending) notification: it is never sent and no longer listed,
    but kept, marked ``dropped``. Exit 2 when there is no such notification to drop."""
    from drift_monitor.clock import utc_now

    store = open_store(state.config)
    row = store.notification(notification_id)
    if row is None or not store.drop_notification(notification_id, utc_now()):
        state_word = "does not exist" if row is None else f"is {row.status}"
        click.echo(f"error: notification {notification_id} {state_word}; only failed or "
                   "pending ones can be dropped", err=True)
        sys.exit(2)
    click.echo(f"dropped notification #{notification_id}: {row.kind} ({row.reason}) for "
               f"{row.target or 'all targets'} via {row.channel}")


# --- digest ---------------------------------------------------------------------------------

@main.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True,
              help="How many days back the digest covers.")
@click.option("--send", is_flag=True, help="Queue the digest and deliver it now.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              help="Write a self-contained HTML report with charts to this file.")
@click.option("--json", "as_json", is_flag=True, help="The digest as one JSON object on stdout.")
@pass_state
@handles_errors
def digest(state: State, days: int, send: bool, html_path: str | None, as_json: bool) -> None:
    """Build the digest of the last DAYS days; print it, send it, write the HTML report.

    Sending the same period's digest twice sends it once (it is deduplicated by period). Exit 0,
    or 1 when --send could not deliver it (still pending, or failed permanently).
    """
    import json

    from drift_monitor.alerting.outbox import deliver
    from drift_monitor.alerting.routes import make_router
    from drift_monitor.app.digest import build_digest, queue_digest
    from drift_monitor.digest.text import render_digest_text

    config = state.config
    store = open_store(config)
    payload = build_digest(config, store, days=days)
    if as_json:
        click.echo(json.dumps(payload, indent=2, default=json_default))
    elif not (send and make_router(config).digest == ("console",)):  # the console prints it
        click.echo(render_digest_text(payload))
    if html_path:
        from drift_monitor.digest.html import render_html

        write_report(html_path, render_html(payload))
    if not send:
        return
    keys = queue_digest(config, store, payload)
    report = deliver(config, store, keys=keys)
    out = click.echo if not as_json else (lambda m: click.echo(m, err=True))
    for a in report.attempts:
        out(a.describe())
    rows = [store.notification_by_key(k) for k in keys]
    failed = [r for r in rows if r is not None and r.status == "failed"]
    attempted = {a.id for a in report.attempts}
    for r in failed:
        if r.id not in attempted:  # an earlier send of this period failed for good
            out(f"this period's digest failed permanently via {r.channel} "
                f"(#{r.id}): {r.last_error}; fix it, then 'drift-monitor notify retry "
                f"{r.id}'")
    if not report.attempts and not failed:
        out("this period's digest was already sent")
    elif report.pending:
        out("the digest stays queued; 'drift-monitor notify' retries it")
    if failed or report.pending:
        sys.exit(1)
