"""`targets`, `incidents list/show/ack`, `silence add/list/expire`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from drift_monitor.cli._base import State, handles_errors, open_store, pass_state
from drift_monitor.storage.rows import IncidentRow, SilenceRow, as_dict

AS_HELP = "Who is acting (stored with the action; default $USER)."


def _now() -> datetime:
    return datetime.now(UTC)


def _t(v: datetime | None) -> str:
    return "-" if v is None else f"{v:%Y-%m-%d %H:%M}"


def _iso(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, dict):
        return {k: _iso(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_iso(x) for x in v]
    return v


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(_iso(obj), indent=2, default=str))


# --- targets --------------------------------------------------------------------------------

@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def targets(state: State, as_json: bool) -> None:
    """Every target with its state (ok, drifting, confirming, stale, failing, silenced), last
    run, open incidents, error rate and models of the last 24 h, cost today."""
    from drift_monitor.app.overview import overview
    from drift_monitor.digest.text import fmt_pct

    rows = overview(state.config, open_store(state.config), _now())
    if as_json:
        _echo_json({"targets": [r.to_json() for r in rows]})
        return
    for r in rows:
        run = r.last_run
        last = "never" if run is None else f"{_t(run.started_at)} UTC ({run.status})"
        cost = "n/a" if r.cost_today_usd is None else f"${r.cost_today_usd:.2f}"
        models = ", ".join(r.model_strings_24h) or "none"
        click.echo(f"{r.name}: {r.state.upper()}" + (f" ({r.why})" if r.why else ""))
        click.echo(f"  {r.provider} {r.model}, {r.schedule}; last run {last}")
        click.echo(f"  24 h: {r.runs_24h} runs, {fmt_pct(r.error_rate_24h)} errors, models "
                   f"{models}; cost today {cost}; open incidents {len(r.open_incidents)}")


# --- incidents ------------------------------------------------------------------------------

@click.group()
def incidents() -> None:
    """List, show and acknowledge incidents."""


def _incident_json(i: IncidentRow) -> dict[str, Any]:
    keys = ("id", "target", "dimension", "status", "severity", "summary", "opened_at",
            "updated_at", "closed_at", "last_notified_at", "notifications", "acked_at",
            "acked_by", "ack_note", "first_check_id", "last_check_id", "accepted_baseline_id")
    return {k: getattr(i, k) for k in keys}


@incidents.command("list")
@click.option("--target", "-t", default=None, help="Only this target.")
@click.option("--open", "open_only", is_flag=True, help="Only open incidents.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def incidents_list(state: State, target: str | None, open_only: bool, as_json: bool) -> None:
    """Incidents, newest first."""
    config = state.config
    store = open_store(config)
    tid = None
    if target is not None:
        config.target(target)
        tid = store.target_id(target)
    rows = [] if target is not None and tid is None else store.incidents(
        target_id=tid, status="open" if open_only else None)
    rows.reverse()
    if as_json:
        _echo_json({"incidents": [_incident_json(i) for i in rows]})
        return
    if not rows:
        click.echo("no incidents")
    for i in rows:
        ack = f", acked by {i.acked_by}" if i.acked_at else ""
        click.echo(f"#{i.id} {i.target}/{i.dimension} {i.status} "
                   f"{i.severity}, opened {_t(i.opened_at)} UTC{ack}: {i.summary}")


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def incidents_show(state: State, incident_id: int, as_json: bool) -> None:
    """One incident: its findings, events, notifications and who did what."""
    from drift_monitor.errors import OperationError

    store = open_store(state.config)
    i = store.incident(incident_id)
    if i is None:
        raise OperationError(f"there is no incident {incident_id}")
    events = store.incident_events(incident_id)
    findings = (store.check_findings(i.target_id, i.last_check_id, i.dimension)
                if i.last_check_id else [])
    notes = store.incident_notifications(incident_id,
                                         [e.dedup_key for e in events if e.dedup_key])
    actions = store.operator_actions(incident_id=incident_id)
    if as_json:
        _echo_json({"incident": _incident_json(i),
                    "findings": [{k: getattr(f, k) for k in (
                        "metric", "probe", "suite", "severity", "effect", "q_value",
                        "confirmed", "summary")} for f in findings],
                    "events": [{k: getattr(e, k) for k in (
                        "at", "action", "reason", "notified", "check_id", "silence_id")}
                               for e in events],
                    "notifications": [{k: n[k] for k in ("id", "channel", "kind", "status",
                                                         "attempts", "delivered_at",
                                                         "last_error")} for n in notes],
                    "actions": [{k: getattr(a, k) for k in ("at", "actor", "action", "note")}
                                for a in actions]})
        return
    click.echo(f"incident #{i.id} on {i.target}, {i.dimension}: {i.status} "
               f"({i.severity})")
    click.echo(f"  {i.summary}")
    click.echo(f"  opened {_t(i.opened_at)} UTC, updated {_t(i.updated_at)} UTC"
               + (f", closed {_t(i.closed_at)} UTC" if i.closed_at else ""))
    if i.acked_at:
        click.echo(f"  acknowledged by {i.acked_by} at {_t(i.acked_at)} UTC"
                   + (f": {i.ack_note}" if i.ack_note else ""))
    click.echo("findings (latest check):")
    for f in findings:
        click.echo(f"  [{f.severity}] {f.metric}: {f.summary}")
    click.echo("events:")
    for e in events:
        extra = f" (silence {e.silence_id})" if e.silence_id else ""
        click.echo(f"  {_t(e.at)} {e.action}: {e.reason}{extra}"
                   + (", notified" if e.notified else ""))
    click.echo("notifications:")
    for n in notes:
        click.echo(f"  #{n['id']} {n['kind']} via {n['channel']}: {n['status']}"
                   + (f" ({n['last_error']})" if n["last_error"] else ""))
    for a in actions:
        click.echo(f"  {_t(a.at)} {a.actor}: {a.action}"
                   + (f" ({a.note})" if a.note else ""))
    if i.status == "open":
        click.echo(f"accept: drift-monitor baseline accept --target {i.target}")
        click.echo(f"silence: drift-monitor silence add --target {i.target} --dimension "
                   f"{i.dimension} --for 4h --reason '...'")


@incidents.command("ack")
@click.argument("incident_id", type=int)
@click.option("--note", default=None, help="Why (stored with the acknowledgement).")
@click.option("--as", "actor", default=None, help=AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="The incident as JSON.")
@pass_state
@handles_errors
def incidents_ack(state: State, incident_id: int, note: str | None, actor: str | None,
                  as_json: bool) -> None:
    """Acknowledge an open incident: it stops repeating until it changes."""
    from drift_monitor.alerting.operations import ack_incident, default_actor

    store = open_store(state.config)
    i = ack_incident(store, incident_id, actor=default_actor(actor), now=_now(), note=note)
    if as_json:
        _echo_json({"incident": _incident_json(i)})
        return
    click.echo(f"incident #{i.id} ({i.target}/{i.dimension}) acknowledged by "
               f"{i.acked_by}: no repeats until it changes")


# --- silence --------------------------------------------------------------------------------

@click.group()
def silence() -> None:
    """Hold back a target's alerts for a while (incidents are still recorded and shown)."""


def _silence_line(s: SilenceRow, now: datetime) -> str:
    from drift_monitor.alerting.operations import silence_state

    state = silence_state(s, now)
    end = s.expired_at or s.ends_at
    return (f"silence {s.id}: {s.target}/{s.dimension or 'all dimensions'}, "
            f"{state} ({_t(s.starts_at)} to {_t(end)} UTC), by {s.created_by}: "
            f"{s.reason}")


@silence.command("add")
@click.option("--target", "-t", required=True, help="Target name.")
@click.option("--dimension", "-d", default=None,
              help="Only this dimension (formatting, tone, answers, metadata, operational).")
@click.option("--for", "for_", default=None, help="How long: 30m, 4h, 2d.")
@click.option("--until", default=None, help="Until a time, e.g. 2026-12-02T08:00 (UTC).")
@click.option("--reason", "-r", required=True, help="Why (required; shown to everyone).")
@click.option("--as", "actor", default=None, help=AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="The silence as JSON.")
@pass_state
@handles_errors
def silence_add(state: State, target: str, dimension: str | None, for_: str | None,
                until: str | None, reason: str, actor: str | None, as_json: bool) -> None:
    """Silence a target (or one dimension of it) for a while."""
    from drift_monitor.alerting.operations import add_silence, default_actor

    now = _now()
    s = add_silence(state.config, open_store(state.config), target=target, dimension=dimension,
                    reason=reason, actor=default_actor(actor), now=now, for_=for_, until=until)
    if as_json:
        _echo_json({"silence": as_dict(s)})
    else:
        click.echo(_silence_line(s, now))


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also silences that are over.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def silence_list(state: State, show_all: bool, as_json: bool) -> None:
    """Silences in force (with --all, also those that are over), newest first."""
    now = _now()
    rows = open_store(state.config).silences(now=now, active_only=not show_all)
    if as_json:
        _echo_json({"silences": [as_dict(s) for s in rows]})
        return
    if not rows:
        click.echo("no silences in force" if not show_all else "no silences")
    for s in rows:
        click.echo(_silence_line(s, now))


@silence.command("expire")
@click.argument("silence_id", type=int)
@click.option("--as", "actor", default=None, help=AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="The silence as JSON.")
@pass_state
@handles_errors
def silence_expire(state: State, silence_id: int, actor: str | None, as_json: bool) -> None:
    """End a silence now."""
    from drift_monitor.alerting.operations import default_actor, expire_silence

    now = _now()
    s = expire_silence(open_store(state.config), silence_id, actor=default_actor(actor),
                       now=now)
    if as_json:
        _echo_json({"silence": as_dict(s)})
    else:
        click.echo(_silence_line(s, now))
