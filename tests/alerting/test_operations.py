"""Silences and acknowledgements: what they hold back, how they end, what they refuse, and
that every action is stored with who took it. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift_monitor.alerting import operations as ops
from drift_monitor.alerting.incidents import Reason
from drift_monitor.config import Config
from drift_monitor.digest.build import build_digest
from drift_monitor.digest.text import render_digest_text
from drift_monitor.errors import ConfigError, OperationError
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import NotificationRow
from tests.alerting.conftest import Clock, finding, make_config, record_check


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)  # console channel only


def pending(store: Store) -> list[NotificationRow]:
    return store.notifications(status="pending")


def silence(config: Config, store: Store, clock: Clock, *, dimension: str | None = None,
            for_: str = "4h", actor: str = "alice") -> dict:
    return ops.add_silence(config, store, target="support-bot", dimension=dimension,
                           reason="known provider issue, ticket 42", actor=actor,
                           now=clock(), for_=for_)


def test_silenced_incident_is_opened_and_recorded_but_not_paged(config: Config, store: Store,
                                                                 clock: Clock) -> None:
    s = silence(config, store, clock)
    decisions = record_check(config, store, [finding()], clock)
    assert [d.reason for d in decisions] == [Reason.SILENCED]
    assert pending(store) == []
    (incident,) = store.incidents()
    assert incident.status == "open" and incident.last_notified_at is None
    (event,) = store.incident_events(incident.id)
    assert event.reason == "silenced" and event.silence_id == s.id
    assert not event.notified


def test_silence_of_one_dimension_lets_the_others_page(config: Config, store: Store,
                                                       clock: Clock) -> None:
    silence(config, store, clock, dimension="tone")
    decisions = record_check(config, store, [finding("formatting"), finding("tone")], clock)
    by_dim = {d.dimension: d.reason for d in decisions}
    assert by_dim == {"formatting": Reason.FIRST_NOTIFICATION, "tone": Reason.SILENCED}
    (n,) = pending(store)
    assert n.payload["dimensions"] == ["formatting"]


def test_silence_ends_by_itself_and_the_next_check_pages(config: Config, store: Store,
                                                         clock: Clock) -> None:
    silence(config, store, clock, for_="2h")
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    assert record_check(config, store, [finding()], clock)[0].reason is Reason.SILENCED
    clock.advance(hours=1, seconds=1)
    assert store.silences(now=clock()) == []
    decisions = record_check(config, store, [finding()], clock)
    assert decisions[0].reason is Reason.FIRST_NOTIFICATION
    assert len(pending(store)) == 1


def test_expiring_a_silence_early_pages_again_and_is_refused_twice(config: Config,
                                                                   store: Store,
                                                                   clock: Clock) -> None:
    s = silence(config, store, clock)
    record_check(config, store, [finding()], clock)
    clock.advance(minutes=10)
    done = ops.expire_silence(store, s.id, actor="bob", now=clock())
    assert done.expired_by == "bob" and done.expired_at == clock()
    with pytest.raises(OperationError, match="already over"):
        ops.expire_silence(store, s.id, actor="bob", now=clock())
    with pytest.raises(OperationError, match="no silence 999"):
        ops.expire_silence(store, 999, actor="bob", now=clock())
    assert record_check(config, store, [finding()], clock)[0].reason is \
        Reason.FIRST_NOTIFICATION


def test_a_resolution_is_not_held_back(config: Config, store: Store, clock: Clock) -> None:
    record_check(config, store, [finding()], clock)  # announced
    silence(config, store, clock)
    clock.advance(hours=1)
    decisions = record_check(config, store, [], clock)
    assert [d.reason for d in decisions] == [Reason.RESOLVED]
    assert [n.kind for n in pending(store)] == ["resolved", "alert"]


def test_acknowledged_incident_stops_repeating_until_it_changes(config: Config, store: Store,
                                                                clock: Clock) -> None:
    record_check(config, store, [finding()], clock)
    (incident,) = store.incidents()
    acked = ops.ack_incident(store, incident.id, actor="carol", now=clock(),
                             note="looking into it")
    assert acked.acked_by == "carol" and acked.ack_note == "looking into it"
    clock.advance(hours=5)  # past repeat_interval (4h): without the ack this would repeat
    assert record_check(config, store, [finding()], clock)[0].reason is Reason.ACKNOWLEDGED
    clock.advance(hours=5)
    assert record_check(config, store, [finding()], clock)[0].reason is Reason.ACKNOWLEDGED
    assert len(pending(store)) == 1
    # a new suite is a change: it pages, and the acknowledgement no longer holds
    changed = record_check(config, store, [finding(), finding(suite="support")], clock)
    assert changed[0].reason is Reason.CHANGED
    assert store.incident(incident.id).acked_at is None
    clock.advance(hours=5)
    assert record_check(config, store, [finding(), finding(suite="support")],
                        clock)[0].reason is Reason.REPEAT_INTERVAL_ELAPSED


def test_ack_is_refused_for_unknown_and_closed_incidents(config: Config, store: Store,
                                                         clock: Clock) -> None:
    with pytest.raises(OperationError, match="no incident 7"):
        ops.ack_incident(store, 7, actor="x", now=clock())
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    record_check(config, store, [], clock)  # resolves it
    (incident,) = store.incidents()
    with pytest.raises(OperationError, match="resolved: only open incidents"):
        ops.ack_incident(store, incident.id, actor="x", now=clock())
    assert store.operator_actions() == []


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"target": "nope"}, ConfigError, "unknown target 'nope'"),
    ({"dimension": "vibes"}, OperationError, "unknown dimension 'vibes'"),
    ({"reason": "  "}, OperationError, "a reason is required"),
    ({"for_": "4h", "until": "2030-01-01T00:00"}, OperationError, "exactly one"),
    ({"for_": None, "until": None}, OperationError, "exactly one"),
    ({"for_": "soon"}, OperationError, "not a duration"),
    ({"for_": None, "until": "2020-01-01T00:00"}, OperationError, "not in the future"),
    ({"for_": None, "until": "tomorrow"}, OperationError, "not a time"),
    ({"for_": "91d"}, OperationError, "at most 90 days"),
    ({"actor": "\x1b[31mevil"}, OperationError, "printable"),
])
def test_silence_refusals(config: Config, store: Store, clock: Clock, kwargs: dict,
                          error: type[Exception], match: str) -> None:
    args = {"target": "support-bot", "dimension": None, "reason": "why", "actor": "alice",
            "for_": "4h", "until": None, **kwargs}
    with pytest.raises(error, match=match):
        ops.add_silence(config, store, now=clock(), **args)
    assert store.silences(now=clock(), active_only=False) == []


def test_until_is_utc_unless_a_zone_is_given(config: Config, store: Store,
                                             clock: Clock) -> None:
    s = ops.add_silence(config, store, target="support-bot", dimension=None, reason="r",
                        actor="a", now=clock(), until="2026-03-02T12:00")
    assert s.ends_at.isoformat() == "2026-03-02T12:00:00+00:00"
    s = ops.add_silence(config, store, target="support-bot", dimension=None, reason="r",
                        actor="a", now=clock(), until="2026-03-02T12:00+02:00")
    assert s.ends_at.isoformat() == "2026-03-02T10:00:00+00:00"


def test_every_action_is_stored_with_actor_time_and_note(config: Config, store: Store,
                                                         clock: Clock) -> None:
    s = silence(config, store, clock, actor="alice")
    record_check(config, store, [finding()], clock)
    (incident,) = store.incidents()
    clock.advance(minutes=5)
    ops.ack_incident(store, incident.id, actor="bob", now=clock(), note="on it")
    clock.advance(minutes=5)
    ops.expire_silence(store, s.id, actor="carol", now=clock())
    actions = list(reversed(store.operator_actions()))
    assert [(a.action, a.actor) for a in actions] == [
        ("silence_add", "alice"), ("ack", "bob"), ("silence_expire", "carol")]
    assert actions[0].note == "known provider issue, ticket 42"
    assert actions[1].incident_id == incident.id and actions[1].note == "on it"
    assert all(a.target == "support-bot" for a in actions)
    assert actions[2].at == clock()


def test_default_actor_is_as_then_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "dana")
    assert ops.default_actor(None) == "dana"
    assert ops.default_actor("erin") == "erin"


def test_digest_lists_silences_and_what_they_held_back(config: Config, store: Store,
                                                       clock: Clock) -> None:
    s = silence(config, store, clock)
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    record_check(config, store, [finding()], clock)
    clock.advance(minutes=1)
    payload = build_digest(config, store, now=clock)
    (entry,) = payload["silences"]
    (incident,) = store.incidents()
    assert entry["id"] == s.id and entry["active"] and entry["held_back"] == 2
    assert entry["incidents"] == [incident.id] and entry["created_by"] == "alice"
    text = render_digest_text(payload)
    assert f"silence {s.id} on support-bot/all dimensions by alice" in text
    assert "held back 2 notification(s)" in text
