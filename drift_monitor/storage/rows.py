"""Typed rows: what Store's methods return instead of ``dict[str, Any]``.

Each is a frozen dataclass whose fields are its table's columns (tests/storage/test_rows.py
keeps them in step with storage/tables.py), plus the joined columns a query adds (``target``:
the target's name). :func:`row_of` builds one from a result row; ``dataclasses.replace`` makes
a changed copy; ``as_dict`` gives the plain mapping JSON output is made of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

R = TypeVar("R")


def row_of(cls: type[R], row: Any) -> R:
    """A ``cls`` from a SQLAlchemy result row (its columns by name; extra ones ignored)."""
    m = row._mapping
    return cls(**{f.name: m[f.name] for f in fields(cls)  # type: ignore[arg-type]
                  if f.name in m})


def as_dict(row: Any) -> dict[str, Any]:
    """The row as a plain dict, fields in column order (for ``--json`` output)."""
    return asdict(row)


@dataclass(frozen=True)
class IncidentRow:
    """An incident (table ``incidents``); ``target`` is its target's name when joined."""

    id: int
    target_id: int
    dimension: str
    status: str
    severity: str
    summary: str
    finding_keys: list[str]
    notified_keys: list[str]
    notified_severity: str | None
    notified_channels: list[str] | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    last_notified_at: datetime | None = None
    notifications: int = 0
    first_check_id: int | None = None
    last_check_id: int | None = None
    closed_by_check_id: int | None = None
    accepted_baseline_id: int | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_note: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class IncidentEventRow:
    """One decision about an incident (table ``incident_events``)."""

    id: int
    incident_id: int
    check_id: int | None
    at: datetime
    action: str
    reason: str
    notified: bool
    dedup_key: str | None
    silence_id: int | None = None


@dataclass(frozen=True)
class NotificationRow:
    """An outbox row (table ``notifications``); ``target`` is its target's name when joined."""

    id: int
    dedup_key: str
    channel: str
    kind: str
    reason: str
    target_id: int | None
    incident_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    claimed_until: datetime | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class SilenceRow:
    """A silence (table ``silences``): alerts of ``target`` (one ``dimension``, or all) are
    recorded but not sent from ``starts_at`` to ``ends_at`` or until it is expired."""

    id: int
    target: str
    dimension: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    expired_at: datetime | None = None
    expired_by: str | None = None


@dataclass(frozen=True)
class OperatorActionRow:
    """Who did what (table ``operator_actions``)."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None = None
    incident_id: int | None = None
    silence_id: int | None = None
    baseline_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class BaselineSummary:
    """One baseline of a target, as ``baseline show`` and the target page list it: the
    ``baselines`` row with the runs it pins and how many successful responses they hold."""

    id: int
    created_at: datetime
    reason: str
    active: bool
    superseded_at: datetime | None
    note: str | None
    runs: list[int]
    responses: int


@dataclass(frozen=True)
class FindingRecord:
    """A stored finding (table ``findings``; ``tables.FindingRow`` is its table class)."""

    id: int
    check_id: int
    target_id: int
    dimension: str
    metric: str
    probe: str | None
    suite: str | None
    baseline_value: Any
    current_value: Any
    effect: float
    p_value: float | None
    q_value: float | None
    severity: str
    summary: str
    examples: list[dict[str, str]]
    direction: int
    confirmed: bool
    confirmed_by: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class SlotClaimRow:
    """A scheduled slot of a target, claimed by a daemon or recorded missed (``slot_claims``)."""

    id: int
    target: str
    scheduled_for: datetime
    status: str
    trigger: str
    daemon_id: str | None
    claimed_at: datetime
    lease_until: datetime | None = None
    finished_at: datetime | None = None
    run_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class DaemonLeaseRow:
    """A running daemon and its last sign of life (table ``daemon_leases``)."""

    daemon_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class LatestRun:
    """A target's most recently started run, as the console and ``targets`` show it."""

    id: int
    target_id: int
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    ok_count: int
    failed_count: int
    note: str | None


@dataclass(frozen=True)
class LatestCheck:
    """A target's most recent check, as the console and ``targets`` show it."""

    id: int
    target_id: int
    status: str
    drift: bool
    created_at: datetime
    error: str | None
