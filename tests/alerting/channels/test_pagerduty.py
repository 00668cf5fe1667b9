"""The PagerDuty channel against a loopback Events API v2: an incident triggers one PagerDuty
incident (dedup key = incident) that its repeats land on and its resolution resolves; 429 and
5xx are retried, an invalid event is a visible permanent failure, and the routing key travels
only in its own field."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from drift_monitor.alerting.channels.pagerduty import PagerDutyChannel, dedup_key
from drift_monitor.alerting.outbox import deliver
from drift_monitor.config import Config
from drift_monitor.errors import ChannelError
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, db_dump, finding, make_config, record_check
from tests.fakes.receivers import PD_ROUTING_KEY, FakePagerDuty, Fault

PD = "  pagerduty: {{routing_key_env: TEST_PD_KEY, api_base_url: '{url}', timeout_s: 2}}\n"


@pytest.fixture
def pagerduty() -> FakePagerDuty:
    server = FakePagerDuty().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def config(tmp_path: Path, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_PD_KEY", PD_ROUTING_KEY)
    return make_config(tmp_path, PD.format(url=pagerduty.api_base_url))


def two_dimensions() -> list:  # type: ignore[type-arg]
    return [finding(), finding(dimension="tone", metric="sentiment_mean", severity="warning")]


def test_an_incident_triggers_once_and_its_resolution_resolves_it(
        config: Config, store: Store, pagerduty: FakePagerDuty, clock: Clock) -> None:
    record_check(config, store, two_dimensions(), clock)
    assert deliver(config, store, now=clock).delivered == 1  # one message, two events
    formatting, tone = sorted(store.incidents(), key=lambda i: i.dimension)
    keys = {dedup_key("support-bot", {"dimension": i.dimension, "incident_id": i.id})
            for i in (formatting, tone)}
    assert set(pagerduty.incidents) == keys
    assert {i["status"] for i in pagerduty.incidents.values()} == {"triggered"}
    critical = pagerduty.incidents[f"drift-monitor/support-bot/formatting/{formatting.id}"]
    assert critical["severity"] == "critical"
    assert critical["summary"].startswith("Drift on support-bot: formatting (critical): "
                                          "code_fence_rate moved")
    event = pagerduty.events[0]
    assert event["payload"]["source"] == "support-bot"
    details = event["payload"]["custom_details"]
    assert details["if_the_new_behaviour_is_fine"] == ("drift-monitor baseline accept "
                                                       "--target support-bot")
    assert any("2% -> 81%" in line for line in details["findings"])

    clock.advance(hours=1)
    record_check(config, store, [], clock)  # clean: both resolve
    assert deliver(config, store, now=clock).delivered == 1
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "trigger",
                                                             "resolve", "resolve"]
    assert {i["status"] for i in pagerduty.incidents.values()} == {"resolved"}


def test_a_repeat_lands_on_the_same_pagerduty_incident(
        config: Config, sqlite_store: Store, pagerduty: FakePagerDuty, clock: Clock) -> None:
    record_check(config, sqlite_store, [finding()], clock)
    deliver(config, sqlite_store, now=clock)
    clock.advance(hours=5)  # past repeat_interval
    record_check(config, sqlite_store, [finding()], clock)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    (incident,) = pagerduty.incidents.values()
    assert incident["alerts"] == 2 and incident["status"] == "triggered"


@pytest.mark.parametrize(("fault", "wait"), [
    (Fault(429, {"status": "throttle event", "message": "Requests for this service are "
                                                        "arriving too quickly."}), 30),
    (Fault(500, "internal"), 30), (Fault(503, "unavailable", {"Retry-After": "300"}), 300)])
def test_throttling_and_server_errors_are_retried_with_backoff(
        fault: Fault, wait: float, config: Config, sqlite_store: Store,
        pagerduty: FakePagerDuty, clock: Clock) -> None:
    record_check(config, sqlite_store, [finding()], clock)
    pagerduty.fail_next(fault)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry" and f"HTTP {fault.status}" in (a.error or "")
    assert a.next_attempt_at is not None
    assert (a.next_attempt_at - clock.t).total_seconds() == wait
    assert deliver(config, sqlite_store, now=clock, due_only=True).attempts == []
    clock.advance(seconds=wait)
    assert deliver(config, sqlite_store, now=clock, due_only=True).delivered == 1
    assert len(pagerduty.incidents) == 1


def test_an_unknown_routing_key_is_a_permanent_failure_shown_with_pagerdutys_errors(
        tmp_path: Path, sqlite_store: Store, pagerduty: FakePagerDuty, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PD_KEY", "0" * 32)
    config = make_config(tmp_path, PD.format(url=pagerduty.api_base_url))
    record_check(config, sqlite_store, [finding()], clock)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "failed" and "HTTP 400" in (a.error or "")
    assert "'routing_key' is invalid" in (a.error or "")
    assert deliver(config, sqlite_store, now=clock).attempts == []
    (failed,) = sqlite_store.notifications(status="failed")
    assert failed.channel == "pagerduty" and pagerduty.incidents == {}


def test_when_one_of_two_events_fails_the_retry_sends_both_and_pagerduty_dedups(
        config: Config, sqlite_store: Store, pagerduty: FakePagerDuty, clock: Clock) -> None:
    record_check(config, sqlite_store, two_dimensions(), clock)
    first = Fault(202, {"status": "success", "message": "Event processed",
                        "dedup_key": "whatever"})
    pagerduty.fail_next(first, Fault(502, "bad gateway"))
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry"
    clock.advance(seconds=30)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    assert len(pagerduty.incidents) == 2
    assert sorted(i["alerts"] for i in pagerduty.incidents.values()) == [1, 1]


def test_a_huge_summary_is_cut_to_pagerdutys_limit(config: Config, sqlite_store: Store,
                                                   pagerduty: FakePagerDuty,
                                                   clock: Clock) -> None:
    long = finding()
    object.__setattr__(long, "summary", "x" * 5000)
    record_check(config, sqlite_store, [long], clock)
    assert deliver(config, sqlite_store, now=clock).delivered == 1  # the fake refuses > 1024
    (incident,) = pagerduty.incidents.values()
    assert len(incident["summary"]) == 1024 and incident["summary"].endswith("…")


def test_pagerduty_refuses_to_carry_a_digest(config: Config) -> None:
    with pytest.raises(ChannelError, match="PagerDuty takes incidents, not a digest") as e:
        PagerDutyChannel(config).send({"kind": "digest", "reason": "digest"})
    assert e.value.permanent


def test_the_default_endpoint_is_pagerdutys(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PD_KEY", PD_ROUTING_KEY)
    config = make_config(tmp_path, "  pagerduty: {routing_key_env: TEST_PD_KEY}\n")
    channel = PagerDutyChannel(config)
    assert channel.url == "https://events.pagerduty.com/v2/enqueue"
    assert PD_ROUTING_KEY not in repr(channel)


def test_the_routing_key_travels_only_in_its_field(
        config: Config, sqlite_store: Store, pagerduty: FakePagerDuty, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    record_check(config, sqlite_store, [finding()], clock)
    # a server that echoes the key back in its refusal: the error must not repeat it
    pagerduty.fail_next(Fault(500, f"upstream refused key {PD_ROUTING_KEY}"))
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry" and PD_ROUTING_KEY not in (a.error or "")
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    record_check(config, sqlite_store, [], clock)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    assert "HTTP Request: POST" in caplog.text
    assert PD_ROUTING_KEY not in db_dump(sqlite_store), "routing key in the database"
    assert PD_ROUTING_KEY not in caplog.text, "routing key in the logs"
    for request in pagerduty.received:
        event = request.json()
        assert event.pop("routing_key") == PD_ROUTING_KEY
        assert PD_ROUTING_KEY not in repr(event), "routing key in the message"
