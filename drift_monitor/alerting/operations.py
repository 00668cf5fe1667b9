"""Incident operations, shared by the CLI and the console: acknowledge, silence, expire.

Rules:

- *Acknowledge* (``incidents ack N``): an open incident stops repeating; it notifies again only
  when it changes (a suite not announced yet, or a higher severity), and that change
  clears the acknowledgement. Closed incidents cannot be acknowledged.
- *Silence* (``silence add``): Alertmanager-style. From now until its end, the alerts of one
  target (one dimension, or all) are held back: the incident is still opened, updated and shown,
  its decision is recorded with reason ``silenced`` and the silence's id, but nothing is queued.
  When the silence ends, the next check of a still-open incident announces it
  (``first_notification`` if it was never announced). Resolutions and acceptances are not held
  back: "it is over" is never noise.
- Every action is stored with its actor (``--as``, else ``$USER``), time and note.

Each function raises OperationError with a clear reason when the action is refused.
"""

from __future__ import annotations

import getpass
import os
import re
from datetime import UTC, datetime, timedelta

from drift_monitor.config import Config, parse_duration
from drift_monitor.detection.findings import DIMENSIONS
from drift_monitor.errors import OperationError
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import IncidentRow, SilenceRow

MAX_SILENCE = timedelta(days=90)  # a forgotten silence must end by itself
MAX_ACTOR = 100
MAX_NOTE = 2000
_ACTOR = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


def default_actor(given: str | None = None) -> str:
    """``given`` (``--as``), else ``$USER``, else the login name; validated."""
    actor = given or os.environ.get("USER") or _login()
    actor = actor.strip()
    if not _ACTOR.match(actor):
        raise OperationError(f"the actor must be 1 to {MAX_ACTOR} printable characters "
                             f"(got {actor[:40]!r})")
    return actor


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (a container): name it plainly
        return "unknown"


def _note(text: str | None, what: str, *, required: bool = False) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise OperationError(f"a {what} is required (say why, for whoever reads it later)")
        return None
    if len(text) > MAX_NOTE:
        raise OperationError(f"the {what} is {len(text)} characters; at most {MAX_NOTE}")
    return text


def parse_until(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (``2026-12-02T08:00``, UTC unless it names a zone)."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise OperationError(f"--until '{text}' is not a time like 2026-12-02T08:00 "
                             "(UTC unless a zone is given)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def silence_end(now: datetime, *, for_: str | None, until: str | None) -> datetime:
    """The end of a silence from ``--for 4h`` or ``--until TIME`` (exactly one)."""
    if (for_ is None) == (until is None):
        raise OperationError("give exactly one of --for (e.g. 4h) or --until (a time)")
    if for_ is not None:
        try:
            end = now + timedelta(seconds=parse_duration(for_))
        except ValueError as exc:
            raise OperationError(f"--for: {exc}") from None
    else:
        end = parse_until(until or "", now)
    if end <= now:
        raise OperationError(f"the silence would end at {end:%Y-%m-%d %H:%M} UTC, which is "
                             "not in the future")
    if end - now > MAX_SILENCE:
        raise OperationError(f"a silence lasts at most {MAX_SILENCE.days} days (so a forgotten "
                             "one ends by itself)")
    return end


def add_silence(config: Config, store: Store, *, target: str, dimension: str | None,
                reason: str | None, actor: str, now: datetime, for_: str | None = None,
                until: str | None = None) -> SilenceRow:
    """Create a silence; returns its row. ConfigError for an unknown target."""
    config.target(target)  # an unknown name fails with the list of known ones
    if dimension is not None and dimension not in DIMENSIONS:
        raise OperationError(f"unknown dimension '{dimension}' (one of {', '.join(DIMENSIONS)})")
    end = silence_end(now, for_=for_, until=until)
    values = {"target": target, "dimension": dimension, "starts_at": now, "ends_at": end,
              "reason": _note(reason, "reason", required=True)}
    sid = store.add_silence(values, actor=default_actor(actor), now=now)
    row = store.silence(sid)
    assert row is not None
    return row


def expire_silence(store: Store, silence_id: int, *, actor: str, now: datetime,
                   note: str | None = None) -> SilenceRow:
    """End a silence now; OperationError when it does not exist or is already over."""
    row = store.silence(silence_id)
    if row is None:
        raise OperationError(f"there is no silence {silence_id} ('drift-monitor silence list' "
                             "shows them)")
    if not store.expire_silence(silence_id, actor=default_actor(actor), now=now,
                                note=_note(note, "note")):
        raise OperationError(f"silence {silence_id} is already over (it ended "
                             f"{(row.expired_at or row.ends_at):%Y-%m-%d %H:%M} UTC)")
    done = store.silence(silence_id)
    assert done is not None
    return done


def ack_incident(store: Store, incident_id: int, *, actor: str, now: datetime,
                 note: str | None = None) -> IncidentRow:
    """Acknowledge an open incident; OperationError when it does not exist or is closed."""
    row = store.incident(incident_id)
    if row is None:
        raise OperationError(f"there is no incident {incident_id} ('drift-monitor incidents "
                             "list' shows them)")
    if row.status != "open":
        raise OperationError(f"incident {incident_id} is {row.status}: only open incidents "
                             "can be acknowledged")
    if not store.ack_incident(incident_id, actor=default_actor(actor), now=now,
                              note=_note(note, "note")):
        raise OperationError(f"incident {incident_id} closed meanwhile")
    done = store.incident(incident_id)
    assert done is not None
    return done


def covering_silence(silences: list[SilenceRow], dimension: str) -> SilenceRow | None:
    """The silence (of those in force for the target) that covers ``dimension``: one for that
    dimension first, else one for the whole target; the oldest of each kind."""
    for s in silences:
        if s.dimension == dimension:
            return s
    for s in silences:
        if s.dimension is None:
            return s
    return None


def silence_state(s: SilenceRow, now: datetime) -> str:
    """``active``, ``pending`` (not started), ``expired`` (ended early) or ``ended``."""
    if s.expired_at is not None:
        return "expired"
    if s.ends_at <= now:
        return "ended"
    return "pending" if s.starts_at > now else "active"
