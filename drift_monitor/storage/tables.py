"""SQLAlchemy 2 typed tables. The schema changes only through Alembic migrations in migrations/.

No secret is ever a column: targets store the provider, model and a hash of their settings, never
an API key or the name-to-value of an env var.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from drift_monitor.clock import utc_now


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)



class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[int]: JSON(),
                           list[str]: JSON(), list[dict[str, str]]: JSON(), Any: JSON()}


class Target(Base):
    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ProbeVersion(Base):
    __tablename__ = "probe_versions"
    __table_args__ = (UniqueConstraint("suite", "probe_id", "version",
                                       name="uq_probe_versions_suite_probe_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    suite: Mapped[str] = mapped_column(String(200))
    probe_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_target_started", "target_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    # running | complete | partial | failed | abandoned (its process died mid-round)
    status: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    expected_count: Mapped[int] = mapped_column(Integer, default=0)
    ok_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # "host:pid" of the process running the round and its last sign of life (renewed while
    # the round runs): the stale-run sweep finishes a run whose owner died as ``abandoned``
    owner: Mapped[str | None] = mapped_column(String(200), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    target: Mapped[Target] = relationship()


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("run_id", "probe_version_id", "sample_index",
                         name="uq_responses_run_probe_sample"),
        Index("ix_responses_probe_version", "probe_version_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    probe_version_id: Mapped[int] = mapped_column(ForeignKey("probe_versions.id"))
    sample_index: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    error_kind: Mapped[str | None] = mapped_column(String(30), default=None)
    error_detail: Mapped[str | None] = mapped_column(Text, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    finish_reason: Mapped[str | None] = mapped_column(String(50), default=None)
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    # part of output_tokens, when the provider reports it apart (migration 0011)
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    model_returned: Mapped[str | None] = mapped_column(String(200), default=None)
    fingerprint: Mapped[str | None] = mapped_column(String(200), default=None)
    request_id: Mapped[str | None] = mapped_column(String(200), default=None)
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Baseline(Base):
    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    reason: Mapped[str] = mapped_column(String(30))  # automatic | set | accept
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    superseded_at: Mapped[datetime | None] = mapped_column(default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class BaselineRun(Base):
    __tablename__ = "baseline_runs"

    baseline_id: Mapped[int] = mapped_column(ForeignKey("baselines.id", ondelete="CASCADE"),
                                             primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)


class ResponseFeatures(Base):
    """Features of one successful response, under the feature-set version that computed them."""

    __tablename__ = "response_features"

    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"),
                                             primary_key=True)
    feature_set_version: Mapped[str] = mapped_column(String(20), index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(default=utc_now)


class Check(Base):
    """One comparison of a window of runs with the baseline."""

    __tablename__ = "checks"
    __table_args__ = (Index("ix_checks_target_created", "target_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    baseline_id: Mapped[int | None] = mapped_column(ForeignKey("baselines.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    status: Mapped[str] = mapped_column(String(20))  # ok | drift | unconfirmed | error
    drift: Mapped[bool] = mapped_column(Boolean, default=False)
    window_run_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    baseline_run_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    baseline_responses: Mapped[int] = mapped_column(Integer, default=0)
    window_responses: Mapped[int] = mapped_column(Integer, default=0)
    confirmation_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), default=None)
    model_string_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    tests_run: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class DetectionEvidence(Base):
    """What the sequential test carries from one check to the next, per target (one row)."""

    __tablename__ = "detection_evidence"

    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), primary_key=True)
    baseline_id: Mapped[int | None] = mapped_column(ForeignKey("baselines.id"), default=None)
    # the check that saved it (no foreign key: pruning old checks must not touch evidence)
    check_id: Mapped[int | None] = mapped_column(Integer, default=None)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class FindingRow(Base):
    """One measured difference found by a check."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_target_check", "target_id", "check_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    dimension: Mapped[str] = mapped_column(String(20))
    metric: Mapped[str] = mapped_column(String(100))
    probe: Mapped[str | None] = mapped_column(String(200), default=None)
    suite: Mapped[str | None] = mapped_column(String(200), default=None)
    baseline_value: Mapped[Any] = mapped_column(JSON, default=None)
    current_value: Mapped[Any] = mapped_column(JSON, default=None)
    effect: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float, default=None)
    q_value: Mapped[float | None] = mapped_column(Float, default=None)
    severity: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    examples: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    direction: Mapped[int] = mapped_column(Integer, default=0)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_by: Mapped[str | None] = mapped_column(String(30), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Incident(Base):
    """An open drift episode for (target, dimension): opens, repeats, resolves or is accepted.

    At most one incident per (target, dimension) is open at a time (a partial unique index), so
    two checks racing on one target can never open two.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("uq_incidents_open_target_dimension", "target_id", "dimension", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_incidents_target_opened", "target_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    dimension: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))  # open | resolved | accepted
    severity: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    # (metric, suite, direction) keys of the paging findings, now and at the last notification:
    # a key that was not in the notified set is a change worth a new message
    finding_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    notified_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    notified_severity: Mapped[str | None] = mapped_column(String(10), default=None)
    # the channels its alerts went to (routes pick them); resolutions go to the same ones
    notified_channels: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    opened_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    notifications: Mapped[int] = mapped_column(Integer, default=0)  # the dedup key's sequence
    first_check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"), default=None)
    last_check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"), default=None)
    closed_by_check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"),
                                                           default=None)
    accepted_baseline_id: Mapped[int | None] = mapped_column(ForeignKey("baselines.id"),
                                                             default=None)
    # an acknowledged incident stops repeating until it changes (alerting/operations.py)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    acked_by: Mapped[str | None] = mapped_column(String(100), default=None)
    ack_note: Mapped[str | None] = mapped_column(Text, default=None)


class IncidentEvent(Base):
    """One named decision about an incident (opened, repeat, resolved...), notified or not."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"), default=None)
    at: Mapped[datetime] = mapped_column()
    action: Mapped[str] = mapped_column(String(12))  # open | update | resolve | accept
    reason: Mapped[str] = mapped_column(String(40))
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    dedup_key: Mapped[str | None] = mapped_column(String(200), default=None)
    # the silence that held this decision's notification back (reason ``silenced``)
    silence_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)


class Notification(Base):
    """The outbox: one message to deliver, written in the transaction that decided it.

    Delivery is at-least-once: a row is claimed with a conditional UPDATE (``claimed_until``),
    sent, then marked. ``dedup_key`` is unique, so deciding the same thing twice queues it once.
    Never holds a secret: channels read webhook URLs and tokens from the environment at send time.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedup_key", name="uq_notifications_dedup_key"),
        Index("ix_notifications_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))  # alert | resolved | accepted | digest
    reason: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id"), default=None)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    next_attempt_at: Mapped[datetime] = mapped_column()
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class SlotClaim(Base):
    """One scheduled slot (target, time) and what became of it: claimed by exactly one daemon
    (the unique key makes an INSERT ... ON CONFLICT DO NOTHING the claim) or recorded missed.

    ``target`` is the target's name (or ``(digest)`` for the weekly digest), not a foreign key:
    a slot is claimed before the round creates the target's row. ``lease_until`` is renewed by
    the claiming daemon's heartbeat while the round runs; a running claim whose lease expired
    belongs to a daemon that died.
    """

    __tablename__ = "slot_claims"
    __table_args__ = (
        UniqueConstraint("target", "scheduled_for", name="uq_slot_claims_target_slot"),
        Index("ix_slot_claims_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(200))
    scheduled_for: Mapped[datetime] = mapped_column()
    # running | done | failed | interrupted | abandoned | missed
    status: Mapped[str] = mapped_column(String(12))
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")
    daemon_id: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class DaemonLease(Base):
    """One running daemon, kept alive by its heartbeat; deleted when it stops cleanly."""

    __tablename__ = "daemon_leases"

    daemon_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()


class Silence(Base):
    """Alertmanager-style: notifications of ``target`` (one ``dimension``, or all when None)
    are held back from ``starts_at`` to ``ends_at``, or until ``expired_at`` when ended early.
    Incidents are still opened, recorded and shown. ``target`` is a name, like slot claims: a
    silence may be set before the target's first round."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_target_ends", "target", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[str | None] = mapped_column(String(20), default=None)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column()
    expired_at: Mapped[datetime | None] = mapped_column(default=None)
    expired_by: Mapped[str | None] = mapped_column(String(100), default=None)


class OperatorAction(Base):
    """Who did what, when and why: ``ack``, ``silence_add``, ``silence_expire``,
    ``baseline_set``, ``baseline_accept``."""

    __tablename__ = "operator_actions"
    __table_args__ = (Index("ix_operator_actions_incident", "incident_id"),
                      Index("ix_operator_actions_silence", "silence_id"),
                      Index("ix_operator_actions_target", "target", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), default=None)
    silence_id: Mapped[int | None] = mapped_column(
        ForeignKey("silences.id", ondelete="CASCADE"), default=None)
    baseline_id: Mapped[int | None] = mapped_column(
        ForeignKey("baselines.id", ondelete="CASCADE"), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
