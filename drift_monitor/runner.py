"""One probe round for one target: every probe x samples, within the target's limits
(concurrency, requests per minute, daily budget), with retries, and each response committed as
it arrives (reliability contract 1 and 2).

Calls run on the event loop; database writes run in a worker thread fed by a queue, so a slow
commit never stalls the calls in flight. Responses that arrive together are written in one
transaction; a write that is retried is a no-op thanks to the (run, probe version, sample) key.
Failed calls are stored with their kind and never count as behaviour samples; calls the budget
stopped are stored as ``budget`` failures with zero attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from drift_monitor.config import Config, TargetConfig, samples_for
from drift_monitor.errors import (
    ErrorKind,
    ProviderCallError,
    StatementRejected,
    StorageError,
    StorageUnavailable,
)
from drift_monitor.features import persist
from drift_monitor.probes import Probe
from drift_monitor.providers import make_provider
from drift_monitor.providers._limits import DailyBudget, RateLimiter
from drift_monitor.providers._retry import RetryPolicy, call_with_retries
from drift_monitor.providers.base import CallResult, ProbeRequest, Provider
from drift_monitor.redaction import redact
from drift_monitor.storage.bounds import bound_response_row
from drift_monitor.storage.queries import Store
from drift_monitor.storage.run_queries import RUN_HEARTBEAT_S, RunSummary
from drift_monitor.storage.sql import database_errors

log = logging.getLogger(__name__)

# how long a round keeps retrying a write the database refuses (an outage, a locked file)
STORAGE_RETRY_S = 60.0
T = TypeVar("T")
ERROR_DETAIL_CHARS = 1000
# Auth, quota and not-found errors say the same thing for every call of a round: after this many
# identical ones (and no success) the rest of the round is not sent (stored as not sent).
STOP_AFTER_IDENTICAL = 3

# Told (calls done, calls in the round, calls failed) after every call and once a second.
Progress = Callable[[int, int, int], None]
PROGRESS_TICK_S = 1.0
# Told of every call's outcome (the daemon's metrics): target, outcome, cost in USD or None.
CallObserver = Callable[[TargetConfig, "CallResult | ProviderCallError", "float | None"], None]


@dataclass(frozen=True)
class Job:
    probe: Probe
    probe_version_id: int
    sample_index: int




def cost_usd(target: TargetConfig, result: CallResult) -> float | None:
    """US dollars for one answer from the target's price table; None without a price or usage."""
    if target.price is None or result.input_tokens is None or result.output_tokens is None:
        return None
    return (result.input_tokens * target.price.input_per_mtok
            + result.output_tokens * target.price.output_per_mtok) / 1_000_000


class ResponseWriter:
    """Drains a queue of response rows into the database from a worker thread.

    Rows are bounded (``storage.bounds``) before their features are measured, so features and
    stored text agree. A write the database refuses for a connection reason (an outage, a
    locked SQLite file) is retried with backoff for up to ``retry_for_s`` seconds; then the
    writer stops with a StorageError, which ends the round.
    """

    def __init__(self, store: Store, *, retry_for_s: float | None = None) -> None:
        self.store = store
        self.retry_for_s = STORAGE_RETRY_S if retry_for_s is None else retry_for_s
        self.unstored = 0
        # set when the round is cancelled: stop waiting out a database outage
        self.aborted = threading.Event()
        self.queue: asyncio.Queue[tuple[dict[str, Any], dict[str, Any] | None] | None] = \
            asyncio.Queue()
        self.task = asyncio.create_task(self._loop())

    def _write(self, items: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
        """In the worker thread: compute each answer's features, then store answers and
        features in one transaction (features are measured when a response is stored)."""
        rows = [bound_response_row(row) for row, _ in items]
        feats = [_features(row, expect) for row, (_, expect) in zip(rows, items, strict=True)]
        version = persist.current_version()
        with_storage_retries(lambda: self.store.insert_responses(rows, feats, version),
                             self.retry_for_s, what="storing responses", abort=self.aborted)

    async def _loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            items = [r for r in batch if r is not None]
            if items:
                try:
                    await asyncio.to_thread(self._write, items)
                except BaseException:
                    self.unstored += len(items) + self._drain()
                    raise
            if len(items) != len(batch):
                return

    def _drain(self) -> int:
        n = 0
        while not self.queue.empty():
            if self.queue.get_nowait() is not None:
                n += 1
        return n

    async def put(self, row: dict[str, Any], expect: dict[str, Any] | None = None) -> None:
        if self.task.done():
            self.unstored += 1
            self.task.result()  # surfaces the storage error
        await self.queue.put((row, expect))

    def abort(self) -> None:
        """Give up on writes still waiting for the database (the round was cancelled)."""
        self.aborted.set()

    async def close(self) -> None:
        if not self.task.done():
            await self.queue.put(None)
        try:
            await self.task
        except StorageError:
            if not self.aborted.is_set():
                raise


def _features(row: dict[str, Any], expect: dict[str, Any] | None) -> dict[str, Any] | None:
    """The features of a stored answer; None (logged, recomputable later) if measuring fails:
    a feature bug must not cost the answer."""
    if not row.get("ok"):
        return None
    try:
        return persist.compute(row["text"], expect)
    except Exception as exc:
        log.error("features of one answer could not be measured (%s: %s); the answer is stored "
                  "without them", type(exc).__name__, str(exc)[:200])
        return None


def with_storage_retries(fn: Callable[[], T], retry_for_s: float, *, what: str,
                         abort: threading.Event | None = None) -> T:
    """``fn()``, retried with backoff (0.25 s doubling to 8 s) while the database refuses it
    for a connection reason, for up to ``retry_for_s`` seconds. Raises StorageError (one line,
    no password) when it still fails, or as soon as ``abort`` is set."""
    deadline = time.monotonic() + retry_for_s
    delay = 0.25
    warned = False
    while True:
        try:
            with database_errors():  # what fn() did not go through Store for
                return fn()
        except (StorageUnavailable, StatementRejected) as exc:
            reason = exc.reason
            if not exc.retryable:  # a dropped table, a broken schema: retrying cannot help
                raise StorageError(f"the database failed while {what}: {reason}") from None
            if time.monotonic() + delay > deadline:
                raise StorageError(f"the database failed while {what}: {reason}") from None
            if not warned:
                log.warning("the database failed while %s (%s); retrying for up to %.0f s",
                            what, reason, retry_for_s)
                warned = True
            if abort is not None:
                if abort.wait(delay):
                    raise StorageError(f"stopped while the database failed ({what}): "
                                       f"{reason}") from None
            else:
                time.sleep(delay)
            delay = min(8.0, delay * 2)


# Every row carries every column: one executemany needs the same keys in each row, and a batch
# often mixes answers and failures.
_EMPTY_ROW: dict[str, Any] = dict.fromkeys(
    ("error_kind", "error_detail", "text", "finish_reason", "input_tokens", "output_tokens",
     "latency_ms", "model_returned", "fingerprint", "request_id", "http_status", "cost_usd",
     "reasoning_tokens"))


def _row(job: Job, run_id: int, outcome: CallResult | ProviderCallError, attempts: int,
         cost: float | None, secrets: list[str]) -> dict[str, Any]:
    row = {**_EMPTY_ROW, "run_id": run_id, "probe_version_id": job.probe_version_id,
           "sample_index": job.sample_index, "attempts": attempts}
    if isinstance(outcome, ProviderCallError):
        # redact before cutting: a cut through the key would leave a prefix redact cannot see
        detail = redact(outcome.detail, secrets) or ""
        row.update(ok=False, error_kind=outcome.kind.value,
                   error_detail=detail[:ERROR_DETAIL_CHARS], http_status=outcome.status,
                   request_id=outcome.request_id)
        return row
    row.update(ok=True, text=outcome.text, finish_reason=outcome.finish_reason,
               input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens,
               latency_ms=outcome.latency_ms, model_returned=outcome.model_returned,
               fingerprint=outcome.fingerprint, request_id=outcome.request_id,
               http_status=outcome.http_status, cost_usd=cost,
               reasoning_tokens=outcome.reasoning_tokens)
    return row


def utc_day_start(now: datetime | None = None) -> datetime:
    """00:00 UTC of ``now``'s day: daily budgets reset then."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class _CallGates:
    """A round's per-call gates: the daily budget before a call, the rate limit before every
    attempt. Says once, not per call, when the budget stops the round."""

    def __init__(self, target: TargetConfig, provider: Provider, budget: DailyBudget | None,
                 secrets: list[str]) -> None:
        self.target = target
        self.provider = provider
        self.budget = budget
        self.secrets = secrets
        rpm = target.limits.requests_per_minute
        self.limiter = RateLimiter(rpm) if rpm else None
        self.unsent = 0
        self.successes = 0
        self.streak: tuple[tuple[str, int | None], int] | None = None
        self.halted: ProviderCallError | None = None
        self.not_sent = 0

    async def send(self, request: ProbeRequest) -> CallResult:
        if self.limiter is not None:
            await self.limiter.acquire()
        return await self.provider.send(request)

    def budget_refusal(self) -> ProviderCallError | None:
        """The failure to store instead of calling, once the budget is spent; else None."""
        if self.budget is None or self.budget.try_start():
            return None
        if self.unsent == 0:
            log.warning("daily budget spent: the rest of this round is not sent and probing "
                        "stops until 00:00 UTC", extra={
                            "target": self.target.name, "budget_usd": self.budget.limit_usd,
                            "spent_usd": round(self.budget.spent_usd, 4)})
        self.unsent += 1
        return ProviderCallError(
            ErrorKind.BUDGET, f"not sent: daily budget of ${self.budget.limit_usd:.2f} spent "
            f"(${self.budget.spent_usd:.4f} today)", retryable=False)

    def _observe(self, outcome: CallResult | ProviderCallError) -> None:
        """Count identical round-stopping failures; halt the round after a few of them."""
        if isinstance(outcome, CallResult):
            self.successes += 1
            self.streak = None
            return
        if not stops_round(outcome):
            self.streak = None
            return
        key = (outcome.kind.value, outcome.status)
        count = self.streak[1] + 1 if self.streak and self.streak[0] == key else 1
        self.streak = (key, count)
        if count >= STOP_AFTER_IDENTICAL and self.successes == 0 and self.halted is None:
            self.halted = outcome
            log.warning("round stopped: identical failures", extra={
                "target": self.target.name, "error_kind": outcome.kind.value,
                "http_status": outcome.status, "failures": count,
                "provider_message": (redact(outcome.detail, self.secrets) or "")[:300]})

    def halt_refusal(self) -> ProviderCallError | None:
        """The failure to store instead of calling, once the round was stopped; else None."""
        if self.halted is None:
            return None
        self.not_sent += 1
        h = self.halted
        status = f" (HTTP {h.status})" if h.status is not None else ""
        return ProviderCallError(
            h.kind, f"not sent: the round stopped after {STOP_AFTER_IDENTICAL} identical "
            f"failures, {h.kind.value}{status}: {h.detail}", retryable=False, status=h.status)

    async def call(self, request: ProbeRequest, policy: RetryPolicy,
                   ) -> tuple[CallResult | ProviderCallError, int, float | None]:
        """(outcome, attempts, cost) of one call, attempts 0 when the budget refused it or the
        round was stopped by identical auth, quota or not-found failures."""
        refusal = self.halt_refusal() or self.budget_refusal()
        if refusal is not None:
            return refusal, 0, None
        cost: float | None = None
        try:
            outcome, attempts = await call_with_retries(self.send, request, policy)
            if isinstance(outcome, CallResult):
                cost = cost_usd(self.target, outcome)
        except Exception as exc:  # a provider bug must not take the round down
            trace = "".join(traceback.format_exception(exc))
            log.error("provider raised unexpectedly", extra={
                "target": self.target.name, "provider": self.target.provider,
                "trace": redact(trace, self.secrets)})
            outcome, attempts = ProviderCallError(
                ErrorKind.MALFORMED, f"internal error: {type(exc).__name__}: {exc}",
                retryable=False), 1
        finally:
            if self.budget is not None:
                self.budget.finish(cost)
        self._observe(outcome)
        return outcome, attempts, cost

    def note(self) -> str | None:
        notes = []
        if self.halted is not None and self.not_sent:
            h = self.halted
            status = f" (HTTP {h.status})" if h.status is not None else ""
            notes.append(f"stopped after {STOP_AFTER_IDENTICAL} identical failures "
                         f"({h.kind.value}{status}): {self.not_sent} calls not sent")
        if self.unsent and self.budget is not None:
            notes.append(f"daily budget of ${self.budget.limit_usd:.2f} spent "
                         f"(${self.budget.spent_usd:.4f} today): {self.unsent} calls not sent")
        return "; ".join(notes) or None


def stops_round(error: ProviderCallError) -> bool:
    """Auth, quota and not-found (HTTP 404: a deleted deployment, an unknown model) errors are
    the same for every call of a round: sending the rest only costs time and rate limit."""
    return (error.kind in (ErrorKind.AUTH, ErrorKind.QUOTA)
            or (error.kind is ErrorKind.BAD_REQUEST and error.status == 404))


async def _heartbeat(store: Store, run_id: int) -> None:
    """Renew the run's sign of life until cancelled, so the stale-run sweep of another
    process never abandons a round that is alive (a failed renewal is tried again)."""
    while True:
        await asyncio.sleep(RUN_HEARTBEAT_S)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(store.touch_run, run_id)


def _unfinished(tasks: list[asyncio.Task[None]]) -> int:
    """Calls of a round that never finished (cancelled when the round stopped)."""
    return sum(1 for t in tasks if t.cancelled())


async def _budget(store: Store, target: TargetConfig, target_id: int) -> DailyBudget | None:
    limit = target.limits.daily_budget_usd
    if limit is None:
        return None
    if target.price is None:
        log.warning("daily_budget_usd is set but there is no price; the budget cannot be "
                    "counted and is not enforced", extra={"target": target.name})
        return None
    spent = await asyncio.to_thread(store.spend_since, target_id, utc_day_start())
    return DailyBudget(limit, spent)


async def probe_round(config: Config, target: TargetConfig, store: Store, probes: list[Probe],
                      *, samples: int | None = None, trigger: str = "manual",
                      transport: httpx.AsyncBaseTransport | None = None,
                      progress: Progress | None = None,
                      retry: RetryPolicy | None = None,
                      scheduled_for: datetime | None = None,
                      on_call: CallObserver | None = None) -> RunSummary:
    """Run every probe ``samples`` times against ``target`` and store each response.

    Obeys the target's limits: at most ``concurrency`` calls at once, attempts spaced
    ``60/requests_per_minute`` apart, and no call once today's spend (stored responses plus this
    round) reaches ``daily_budget_usd``; such calls are stored as ``budget`` failures, not sent,
    and the run's note says so. ``retry`` overrides the retry policy (tests use a fast sleep).
    ``scheduled_for`` is the schedule slot the daemon runs this round for (stored on the run);
    ``on_call`` is told of every call's outcome (it must not raise).

    Returns the finished run's summary (status complete, partial or failed). Raises
    ConfigError for a missing API key and StorageError if the database fails mid-round.
    """
    provider = make_provider(config, target, transport)
    secrets = [s for s in [config.api_key(target)] if s]
    policy = retry or RetryPolicy(max_attempts=target.limits.max_attempts)
    try:
        target_id = await asyncio.to_thread(store.upsert_target, target.name, target.provider,
                                            target.model)
        pv_ids = await asyncio.to_thread(store.ensure_probe_versions, probes)
        jobs = [Job(p, pv_ids[p.key], i)
                for p in probes for i in range(samples_for(p, target, samples))]
        limits = _CallGates(target, provider, await _budget(store, target, target_id), secrets)
        run_id = await asyncio.to_thread(store.create_run, target_id, len(jobs), trigger=trigger,
                                         scheduled_for=scheduled_for)
        log.info("run started", extra={"run": run_id, "target": target.name,
                                       "calls": len(jobs), "trigger": trigger})
        await provider.open()
        writer = ResponseWriter(store)
        sem = asyncio.Semaphore(target.limits.concurrency)
        done = failed = 0

        async def one(job: Job) -> None:
            nonlocal done, failed
            request = ProbeRequest(messages=job.probe.messages, params=target.params,
                                   probe_id=job.probe.id, sample_index=job.sample_index)
            async with sem:
                outcome, attempts, cost = await limits.call(request, policy)
            if on_call is not None:
                on_call(target, outcome, cost)
            await writer.put(_row(job, run_id, outcome, attempts, cost, secrets),
                             job.probe.expect)
            done += 1
            failed += isinstance(outcome, ProviderCallError)
            if progress is not None:
                progress(done, len(jobs), failed)

        async def tick() -> None:
            # so a round whose calls are all waiting (retries, a server that is down) still
            # says where it is
            assert progress is not None
            while True:
                await asyncio.sleep(PROGRESS_TICK_S)
                progress(done, len(jobs), failed)

        ticker = asyncio.create_task(tick()) if progress is not None and jobs else None
        tasks = [asyncio.create_task(one(j)) for j in jobs]
        beat = asyncio.create_task(_heartbeat(store, run_id))
        try:
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                # a storage failure (or a cancel) ends the round: stop the other calls before
                # the provider's connections close under them
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                writer.abort()
                raise
            finally:
                beat.cancel()
                if ticker is not None:
                    ticker.cancel()
                await writer.close()
        except StorageError as exc:
            # what was committed stays; the run is finished (partial or failed) with a note
            # when the database answers again, else the stale-run sweep abandons it later
            note = (f"storage failed mid-round: {exc}; {writer.unstored + _unfinished(tasks)} "
                    "calls not stored")
            with contextlib.suppress(Exception):
                await asyncio.to_thread(with_storage_retries,
                                        lambda: store.finish_run(run_id, note=note), 5.0,
                                        what="finishing the run")
            log.error("run %d: %s", run_id, note)
            raise StorageError(f"target {target.name}, run {run_id}: {exc}") from None
        summary = await asyncio.to_thread(store.finish_run, run_id, note=limits.note())
        log.log(logging.WARNING if summary.status == "failed" else logging.INFO,
                "run finished", extra={"run": run_id, "target": target.name,
                                       "status": summary.status, "ok": summary.ok,
                                       "failed": summary.failed})
        return summary
    finally:
        await provider.aclose()
