"""Incident rules on a controllable clock, on SQLite and PostgreSQL: an incident notifies once
when it opens, again only when it changes or after repeat_interval, once when it resolves or is
accepted; every decision is named, stored and logged; everything is one transaction."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from drift_monitor.alerting.incidents import IncidentBook, Policy, Reason, accept_hook
from drift_monitor.config import Config
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import NotificationRow
from drift_monitor.storage.tables import Check, Incident, Notification
from tests.alerting.conftest import CheckResult, Clock, finding, make_config, record_check


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)  # no Slack configured: the console channel


def reasons(decisions: list) -> list[str]:
    return [d.reason.value for d in decisions]


def queued(store: Store) -> list[NotificationRow]:
    return list(reversed(store.notifications()))


def test_incident_notifies_when_it_opens_then_only_after_repeat_interval(
        config: Config, store: Store, clock: Clock) -> None:
    drift = [finding()]
    assert reasons(record_check(config, store, drift, clock)) == ["first_notification"]
    clock.advance(hours=1)
    assert reasons(record_check(config, store, drift, clock)) == ["already_notified"]
    clock.advance(hours=2, minutes=59)
    assert reasons(record_check(config, store, drift, clock)) == ["already_notified"]
    clock.advance(minutes=1)  # 4h since the last message
    assert reasons(record_check(config, store, drift, clock)) == ["repeat_interval_elapsed"]
    clock.advance(hours=1)
    assert reasons(record_check(config, store, drift, clock)) == ["already_notified"]

    sent = queued(store)
    assert [n.reason for n in sent] == ["first_notification", "repeat_interval_elapsed"]
    assert all(n.channel == "console" and n.status == "pending" for n in sent)
    (incident,) = store.incidents()
    assert incident.status == "open" and incident.notifications == 2
    events = store.incident_events(incident.id)
    assert [(e.action, e.reason, e.notified) for e in events] == [
        ("open", "first_notification", True), ("update", "already_notified", False),
        ("update", "already_notified", False), ("update", "repeat_interval_elapsed", True),
        ("update", "already_notified", False)]


def test_a_new_suite_or_a_higher_severity_is_a_change_worth_a_message(
        config: Config, store: Store, clock: Clock) -> None:
    record_check(config, store, [finding(severity="warning")], clock)
    clock.advance(minutes=10)
    escalated = [finding(severity="critical")]
    assert reasons(record_check(config, store, escalated, clock)) == ["changed"]
    clock.advance(minutes=10)
    # another metric of the announced suite joining as its evidence builds up is not news
    joined = escalated + [finding(metric="all_fenced_rate")]
    assert reasons(record_check(config, store, joined, clock)) == ["already_notified"]
    clock.advance(minutes=10)
    more = escalated + [finding(metric="json_valid_rate", suite="contracts")]
    assert reasons(record_check(config, store, more, clock)) == ["changed"]
    clock.advance(minutes=10)
    # a suite dropping out, or a different probe of the same metric, is not news
    assert reasons(record_check(config, store, escalated, clock)) == ["already_notified"]
    assert [n.reason for n in queued(store)] == ["first_notification", "changed", "changed"]


def test_one_clean_check_resolves_and_says_so_once(config: Config, store: Store,
                                                   clock: Clock) -> None:
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    decisions = record_check(config, store, [], clock)
    assert [(d.action, d.reason) for d in decisions] == [("resolve", Reason.RESOLVED)]
    clock.advance(hours=1)
    assert record_check(config, store, [], clock) == []  # nothing open, nothing to say
    resolved = queued(store)[-1]
    assert resolved.kind == "resolved" and resolved.payload["dimensions"] == ["formatting"]
    (incident,) = store.incidents()
    assert incident.status == "resolved"
    assert incident.closed_at == clock.t - timedelta(hours=1)

    # drifting again later is a new incident with its own first message
    clock.advance(hours=1)
    assert reasons(record_check(config, store, [finding()], clock)) == ["first_notification"]
    assert [i.status for i in store.incidents()] == ["resolved", "open"]


def test_an_unconfirmed_finding_holds_the_incident_without_paging(
        config: Config, store: Store, clock: Clock) -> None:
    record_check(config, store, [finding()], clock)
    clock.advance(hours=5)
    decisions = record_check(config, store, [finding(confirmed=False)], clock)
    assert [(d.action, d.reason) for d in decisions] == [("hold", Reason.HELD)]
    assert store.incidents()[0].status == "open" and len(queued(store)) == 1


def test_info_and_findings_below_min_severity_never_page(tmp_path: Path, store: Store,
                                                         clock: Clock) -> None:
    config = make_config(tmp_path, extra="  min_severity: critical\n")
    record_check(config, store, [finding(severity="warning"),
                                 finding(dimension="metadata", metric="fingerprint",
                                         severity="info")], clock)
    assert store.incidents() == [] and queued(store) == []
    info_config = make_config(tmp_path, extra="  min_severity: info\n")
    record_check(info_config, store, [finding(dimension="metadata", metric="fingerprint",
                                              severity="info")], clock)
    assert store.incidents() == [], "info never pages, whatever min_severity says"


def test_one_check_drifting_in_two_dimensions_sends_one_message(
        config: Config, store: Store, clock: Clock) -> None:
    decisions = record_check(config, store, [finding(), finding(dimension="answers",
                                                                metric="accuracy")], clock)
    assert sorted((d.dimension, d.reason.value) for d in decisions) == [
        ("answers", "first_notification"), ("formatting", "first_notification")]
    (message,) = queued(store)
    assert message.payload["dimensions"] == ["answers", "formatting"]
    assert message.dedup_key == "alert/1:first_notification:1+2:first_notification:1/console"


def test_no_notify_records_incidents_but_queues_nothing(config: Config, store: Store,
                                                        clock: Clock) -> None:
    decisions = record_check(config, store, [finding()], clock, notify=False)
    assert reasons(decisions) == ["notify_disabled"]
    assert store.incidents()[0].status == "open" and queued(store) == []
    clock.advance(minutes=5)
    # the first check that may notify announces the incident nobody was told about
    assert reasons(record_check(config, store, [finding()], clock)) == ["first_notification"]


def test_baseline_accept_closes_open_incidents_as_accepted(config: Config, store: Store,
                                                           clock: Clock) -> None:
    record_check(config, store, [finding()], clock)
    tid = store.target_id("support-bot")
    assert tid is not None
    run = store.create_run(tid, 1)
    clock.advance(hours=1)
    hook = accept_hook(config, store, "support-bot", tid, now=clock)
    with store.transaction() as tx:
        hook(tx, tx.pin_baseline(tid, [run], reason="accept"), [run])
    (incident,) = store.incidents()
    assert incident.status == "accepted" and incident.accepted_baseline_id is not None
    accepted = queued(store)[-1]
    assert accepted.kind == "accepted" and accepted.reason == "accepted"
    assert accepted.payload["baseline_runs"] == [run]


def test_closing_an_incident_nobody_was_told_about_stays_silent(
        config: Config, store: Store, clock: Clock) -> None:
    record_check(config, store, [finding()], clock, notify=False)
    clock.advance(hours=1)
    assert reasons(record_check(config, store, [], clock)) == ["never_announced"]
    assert queued(store) == []


def test_decisions_are_logged_with_their_reason(config: Config, store: Store, clock: Clock,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="drift_monitor.alerting.incidents")
    record_check(config, store, [finding()], clock)
    # the fields are fields, not words inside the message (issue 14, finding 9)
    (rec,) = [r for r in caplog.records if r.getMessage() == "incident decision"]
    assert (rec.target, rec.dimension, rec.action, rec.reason) == (  # type: ignore[attr-defined]
        "support-bot", "formatting", "open", "first_notification")


def test_the_same_decision_queued_twice_is_deduplicated(config: Config, store: Store,
                                                        clock: Clock) -> None:
    record_check(config, store, [finding()], clock)
    (row,) = queued(store)
    again = {k: getattr(row, k) for k in ("dedup_key", "channel", "kind", "reason", "payload",
                                          "status", "attempts", "created_at",
                                          "next_attempt_at")}
    assert store.enqueue_notification(again) is False
    assert len(queued(store)) == 1


def test_a_failed_check_transaction_leaves_no_incident_and_no_notification(
        config: Config, store: Store, clock: Clock) -> None:
    tid = store.upsert_target("support-bot", "replay", "gpt-3.5-turbo")
    result = CheckResult(target="support-bot", findings=[finding()], drift=True)

    with pytest.raises(RuntimeError), store.transaction() as tx:
        check_id = tx.save_check({"target_id": tid, "status": "drift", "drift": True,
                                  "window_run_ids": [], "baseline_run_ids": [],
                                  "baseline_responses": 0, "window_responses": 0,
                                  "model_string_changed": False, "tests_run": 0, "notes": []},
                                 [])
        IncidentBook(tx, channels=["console"], now=clock()).apply_check(
            result, tid, check_id, policy=Policy.from_config(config), notify=True)
        raise RuntimeError("the database went away mid-transaction")
    with store.engine.connect() as conn:
        for table in (Check, Incident, Notification):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
