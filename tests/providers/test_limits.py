"""Per-target limits: concurrency, smooth requests per minute, the daily budget counted from the
database, and the retry policy's waits."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.probes import Probe
from drift_monitor.providers._limits import DailyBudget, RateLimiter
from drift_monitor.providers._retry import RetryPolicy
from drift_monitor.runner import probe_round, utc_day_start
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Run
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import RecordingSleep, make_config, make_probe

# --- requests per minute and concurrency ------------------------------------------------------


def test_rate_limiter_spaces_requests_evenly_instead_of_bursting() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    async def go() -> None:
        limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)
        for _ in range(4):
            await limiter.acquire()
        now[0] += 10  # idle for a while: no credit is saved up for a burst
        await limiter.acquire()
        await limiter.acquire()

    asyncio.run(go())
    assert waits == pytest.approx([0.5, 1.0, 1.5, 0.5])


class RecordingLimiter(RateLimiter):
    """The real limiter, recording the slot each acquire reserves and, as each returns, how
    many requests the fake server had received by then."""

    def __init__(self, requests_per_minute: float, seen: Callable[[], int]) -> None:
        self.seen = seen
        self.slots: list[float] = []
        self.seen_at_release: list[int] = []
        super().__init__(requests_per_minute)

    @property  # type: ignore[override]
    def _next(self) -> float:
        return self._next_free

    @_next.setter
    def _next(self, value: float) -> None:
        if value != float("-inf"):
            self.slots.append(value - self.interval)
        self._next_free = value

    async def acquire(self) -> None:
        await super().acquire()
        self.seen_at_release.append(self.seen())


@pytest.fixture
def record_limiters(monkeypatch: pytest.MonkeyPatch,
                    ) -> Callable[[FakeLLMServer], list[RecordingLimiter]]:
    """Every rate limiter the rounds make from now on, recording against ``server``."""

    def record(server: FakeLLMServer) -> list[RecordingLimiter]:
        made: list[RecordingLimiter] = []

        def make(requests_per_minute: float) -> RecordingLimiter:
            made.append(RecordingLimiter(requests_per_minute, lambda: len(server.seen)))
            return made[-1]

        monkeypatch.setattr("drift_monitor.runner.RateLimiter", make)
        return made

    return record


def assert_spaced(limiter: RecordingLimiter, calls: int) -> None:
    """``calls`` slots, each at least the interval after the one before, and no request reached
    the server before its slot was handed out (counts, not stopwatch readings: a busy machine
    delays a send, it cannot make one early)."""
    assert len(limiter.slots) == len(limiter.seen_at_release) == calls
    slots = limiter.slots
    assert all(b - a >= limiter.interval - 1e-9 for a, b in zip(slots, slots[1:], strict=False))
    assert all(seen <= k for k, seen in enumerate(limiter.seen_at_release))


def test_round_sends_at_most_requests_per_minute_spaced_out(
        fake_server: Callable[..., FakeLLMServer], store: Store, api_key: str,
        tmp_path: Path, record_limiters: Callable[[FakeLLMServer], list[RecordingLimiter]],
        ) -> None:
    server = fake_server("openai")
    limiters = record_limiters(server)
    config, target = make_config(tmp_path, server, limits={"requests_per_minute": 600,
                                                           "concurrency": 8})
    asyncio.run(probe_round(config, target, store, [make_probe(f"p{i}") for i in range(6)]))
    assert len(server.seen) == 6
    # one limiter for the round, 60/600 s between slots, though 8 calls were allowed at once
    (limiter,) = limiters
    assert limiter.interval == pytest.approx(0.1)
    assert_spaced(limiter, 6)


def test_retries_also_wait_for_a_rate_limit_slot(
        fake_server: Callable[..., FakeLLMServer], store: Store, api_key: str,
        tmp_path: Path, fast_retry: tuple[RetryPolicy, RecordingSleep],
        record_limiters: Callable[[FakeLLMServer], list[RecordingLimiter]]) -> None:
    server = fake_server("anthropic")
    limiters = record_limiters(server)
    server.script("p", "server_error", "server_error", "ok")
    config, target = make_config(tmp_path, server, limits={"requests_per_minute": 600})
    asyncio.run(probe_round(config, target, store, [make_probe("p")], retry=fast_retry[0]))
    assert len(server.seen) == 3
    (limiter,) = limiters
    assert_spaced(limiter, 3)  # every attempt, the two retries included, took a slot


def test_round_never_has_more_calls_in_flight_than_its_concurrency(
        fake_server: Callable[..., FakeLLMServer], store: Store, api_key: str,
        tmp_path: Path) -> None:
    server = fake_server("gemini", latency_s=0.05)
    config, target = make_config(tmp_path, server, limits={"concurrency": 3})
    summary = asyncio.run(probe_round(config, target, store,
                                      [make_probe(f"p{i}") for i in range(12)]))
    assert summary.ok == 12
    assert server.max_in_flight == 3


# --- the daily budget -------------------------------------------------------------------------

PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}  # 20 + 30 tokens: $0.05 a call


def _probes(prefix: str, n: int) -> list[Probe]:
    return [make_probe(f"{prefix}{i}") for i in range(n)]


def _run_note(store: Store, run_id: int) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(Run.note).where(Run.id == run_id)).scalar_one()


def test_budget_counts_spend_stored_today_and_stops_probing_for_the_day(
        fake_server: Callable[..., FakeLLMServer], any_store: Store, api_key: str,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = any_store
    server = fake_server("openai")
    config, target = make_config(tmp_path, server, price=PRICE,
                                 limits={"daily_budget_usd": 0.98, "concurrency": 1})
    # yesterday's spend is far over the limit, and must not count today
    target_id = store.upsert_target(target.name, target.provider, target.model)
    pv = store.ensure_probe_versions([make_probe("old")])
    old_run = store.create_run(target_id, 1)
    store.insert_responses([{"run_id": old_run, "probe_version_id": next(iter(pv.values())),
                             "sample_index": 0, "ok": True, "text": "x", "cost_usd": 50.0,
                             "created_at": utc_day_start() - timedelta(minutes=1)}])

    first = asyncio.run(probe_round(config, target, store, _probes("a", 18)))
    assert (first.ok, first.failed) == (18, 0)  # $0.90 spent today
    assert store.spend_since(target_id, utc_day_start()) == pytest.approx(0.90)

    caplog.set_level(logging.WARNING)
    second = asyncio.run(probe_round(config, target, store, _probes("b", 5)))
    # $0.90 -> $0.95 -> $1.00: the third call would start over $0.98
    assert (second.ok, second.failures_by_kind) == (2, {"budget": 3})
    assert server.count() == 20
    assert {r.attempts for r in store.responses(second.id) if not r.ok} == {0}
    assert "3 calls not sent" in (_run_note(store, second.id) or "")

    third = asyncio.run(probe_round(config, target, store, _probes("c", 4)))
    assert (third.status, third.failures_by_kind) == ("failed", {"budget": 4})
    assert server.count() == 20  # nothing more was sent today
    budget_warnings = [r for r in caplog.records if "daily budget" in r.getMessage()]
    assert len(budget_warnings) == 2  # one per round, not one per call


def test_spend_since_counts_only_that_target_from_that_time(any_store: Store) -> None:
    store = any_store
    a = store.upsert_target("a", "openai", "m")
    b = store.upsert_target("b", "openai", "m")
    pv = next(iter(store.ensure_probe_versions([make_probe("p")]).values()))
    since = datetime(2025, 3, 1, tzinfo=UTC)
    rows = [(a, 0.25, since), (a, 0.5, since + timedelta(hours=5)), (a, None, since),
            (a, 9.0, since - timedelta(seconds=1)), (b, 7.0, since)]
    for i, (target_id, cost, at) in enumerate(rows):
        run = store.create_run(target_id, 1)
        store.insert_responses([{"run_id": run, "probe_version_id": pv, "sample_index": i,
                                 "ok": cost is not None, "cost_usd": cost, "created_at": at}])
    assert store.spend_since(a, since) == pytest.approx(0.75)
    assert store.spend_since(b, since + timedelta(days=1)) == 0.0


def test_budget_reserves_for_calls_in_flight_once_a_cost_is_known() -> None:
    budget = DailyBudget(1.0, spent_today_usd=0.5)
    assert budget.try_start() and budget.try_start()  # no cost known yet: both may go
    budget.finish(0.2)
    # $0.70 spent and one call in flight, reserved at the mean of $0.20: $0.90, still under
    assert budget.try_start()
    # $0.70 + 2 x $0.20 = $1.10: no more
    assert not budget.try_start()
    budget.finish(None)  # a failed call costs nothing and does not lower the mean
    assert budget.spent_usd == pytest.approx(0.7)
    # one call in flight again: $0.70 + $0.20 = $0.90, room for one more
    assert budget.try_start()
    assert budget.in_flight == 2


def test_budget_without_a_price_is_a_config_error(
        fake_server: Callable[..., FakeLLMServer], tmp_path: Path) -> None:
    """Spend cannot be counted without prices: refused up front, not silently unenforced."""
    from pydantic import ValidationError

    server = fake_server("openai")
    with pytest.raises(ValidationError, match="needs a price table"):
        make_config(tmp_path, server, limits={"daily_budget_usd": 0.01})


# --- retry waits -----------------------------------------------------------------------------


def _err(retryable: bool = True, retry_after: float | None = None) -> ProviderCallError:
    return ProviderCallError(ErrorKind.SERVER_ERROR, "x", retryable=retryable,
                             retry_after=retry_after)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff_s=1, max_backoff_s=5,
                         rng=random.Random(1))
    waits = [policy.wait_s(n, _err()) for n in range(1, 6)]
    for n, wait in enumerate(waits, 1):
        base = min(5, 2 ** (n - 1))
        assert wait is not None and base / 2 <= wait <= base
    assert len({round(w or 0, 6) for w in waits}) == 5  # jittered, not identical


def test_retry_after_is_honoured_with_jitter_and_refused_over_the_cap() -> None:
    policy = RetryPolicy(initial_backoff_s=0.5, retry_after_cap_s=60)
    wait = policy.wait_s(1, _err(retry_after=7))
    assert wait is not None and 7 <= wait <= 7.5
    assert policy.wait_s(1, _err(retry_after=61)) is None


def test_permanent_errors_and_the_last_attempt_are_not_retried() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.wait_s(1, _err(retryable=False)) is None
    assert policy.wait_s(3, _err()) is None
    assert policy.wait_s(2, _err()) is not None


def test_a_retry_after_beyond_the_cap_ends_the_call_and_says_why(
        fake_server: Callable[..., FakeLLMServer], store: Store, api_key: str, tmp_path: Path,
        fast_retry: tuple[RetryPolicy, RecordingSleep]) -> None:
    server = fake_server("anthropic")
    server.retry_after_s = 3600
    server.default = "rate_limit"
    config, target = make_config(tmp_path, server)
    summary = asyncio.run(probe_round(config, target, store, [make_probe("p")],
                                      retry=fast_retry[0]))
    (row,) = store.responses(summary.id)
    assert (row.error_kind, row.attempts) == ("rate_limited", 1)
    assert "3600s" in (row.error_detail or "") and "not retried" in (row.error_detail or "")
    assert fast_retry[1].waits == []
