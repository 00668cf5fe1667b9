"""Schedule slots every daemon agrees on, claims that are exactly-once on both databases, and
log lines that are structured and never carry a secret."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from drift_monitor.config import parse_schedule
from drift_monitor.daemon.logs import JsonFormatter, TextFormatter
from drift_monitor.redaction import Redactor
from drift_monitor.slots import SlotClock
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store

T = datetime(2026, 3, 2, 9, 7, 31, 500000, tzinfo=UTC)


def test_interval_slots_are_anchored_at_the_epoch_so_daemons_agree() -> None:
    clock = SlotClock(parse_schedule("every 5m"))
    assert clock.current(T) == datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    assert clock.between(T - timedelta(minutes=16), clock.current(T)) == [
        datetime(2026, 3, 2, 8, 55, tzinfo=UTC), datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    trigger = clock.trigger()
    assert trigger.get_next_fire_time(None, T) == datetime(2026, 3, 2, 9, 10, tzinfo=UTC)


def test_cron_slots_and_a_long_gap_is_capped() -> None:
    clock = SlotClock(parse_schedule("*/10 * * * *"))
    assert clock.current(T) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert len(clock.between(T - timedelta(hours=1), T)) == 6
    weekly = SlotClock(parse_schedule("0 9 * * mon"))
    assert weekly.current(T) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
    every_second = SlotClock(parse_schedule("every 1s"))
    gap = every_second.between(T - timedelta(days=30), T, limit=100)
    assert len(gap) == 100 and gap[-1] == datetime(2026, 3, 2, 9, 7, 31, tzinfo=UTC)


def test_a_slot_is_claimed_once_and_missed_slots_never_overwrite_claims(db_url) -> None:
    engine = make_engine(db_url)
    try:
        ensure_schema(engine)
        store = Store(engine)
        slot = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        kw = {"now": T, "lease_until": T + timedelta(seconds=3), "trigger": "schedule"}
        assert store.claim_slot("a", slot, daemon_id="d1", **kw)
        assert not store.claim_slot("a", slot, daemon_id="d2", **kw)
        assert store.claim_slot("b", slot, daemon_id="d2", **kw)
        earlier = [slot - timedelta(minutes=m) for m in (2, 1)]
        assert store.record_missed("a", [*earlier, slot], now=T, note="down") == 2
        rows = store.slot_claims("a")
        assert [r.status for r in rows] == ["missed", "missed", "running"]
        assert store.last_slot("a") == slot and store.last_slot("a", before=slot) == earlier[1]
        # the lease ran out: the claim is abandoned by exactly one daemon
        later = T + timedelta(seconds=10)
        assert [c.target for c in store.expired_claims(later)] == ["a", "b"]
        assert store.abandon_claim(rows[-1].id, later, "dead")
        assert not store.abandon_claim(rows[-1].id, later, "dead")
    finally:
        engine.dispose()


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("drift_monitor.daemon", logging.ERROR, __file__, 1, msg, args,
                               None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_log_lines_are_one_line_and_never_hold_a_secret(formatter: logging.Formatter) -> None:
    secret = "sk-test-0123456789abcdef"
    redact = Redactor([secret, "pw"])  # too short to redact safely: ignored
    try:
        raise RuntimeError(f"401 from https://api.example/?key={secret}")
    except RuntimeError:
        import sys

        record = _record("call failed with %s\nsecond line", secret, target="alpha",
                         error=f"Bearer {secret}")
        record.exc_info = sys.exc_info()
    assert redact.filter(record)
    line = formatter.format(record)
    assert secret not in line and "***" in line
    assert "\n" not in line
    if isinstance(formatter, JsonFormatter):
        parsed = json.loads(line)
        assert parsed["target"] == "alpha" and parsed["level"] == "error"


def test_configure_replaces_handlers_with_one_structured_stream(monkeypatch) -> None:
    from drift_monitor.daemon import logs

    buf = io.StringIO()
    monkeypatch.setattr("sys.stderr", buf)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure(json_lines=True, secrets=["hunter2-secret"])
        logging.getLogger("drift_monitor.test").info("token is %s", "hunter2-secret",
                                                     extra={"target": "x"})
        (line,) = buf.getvalue().splitlines()
        assert json.loads(line) | {"ts": None} == {
            "ts": None, "level": "info", "logger": "drift_monitor.test",
            "event": "token is ***", "target": "x"}
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
