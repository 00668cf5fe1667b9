"""A target's scheduled slots: claim, record what was missed, run the round, check after it.

Each round runs on its own event loop in a scheduler worker thread. :class:`RoundRunner` keeps
every live loop so a stopping daemon can cancel the rounds still running: the runner's writer
flushes what has arrived, and the run is finished with a note (never left ``running``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from drift_monitor.app.rounds import confirm_round, finish_interrupted, run_round
from drift_monitor.clock import utc_now
from drift_monitor.config import Config, TargetConfig
from drift_monitor.daemon.metrics import Metrics
from drift_monitor.errors import DriftMonitorError, StatementRejected, StorageUnavailable
from drift_monitor.probes import ProbeLibrary
from drift_monitor.slots import MAX_SLOTS, SlotClock
from drift_monitor.storage.queries import Store

if TYPE_CHECKING:
    from drift_monitor.detection.result import CheckResult

log = logging.getLogger("drift_monitor.daemon")
T = TypeVar("T")


class RoundCancelled(Exception):
    """The daemon is stopping and cancelled the round (or refused to start it)."""


class RoundRunner:
    """Runs coroutines on private event loops and can cancel all of them from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
        self.cancelled = False

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The coroutine's result; raises RoundCancelled if cancel_all() interrupted it."""

        async def main() -> T:
            task = asyncio.current_task()
            assert task is not None
            with self._lock:
                if self.cancelled:
                    raise RoundCancelled
                self._live[id(task)] = (asyncio.get_running_loop(), task)
            try:
                return await factory()
            finally:
                with self._lock:
                    self._live.pop(id(task), None)

        try:
            with asyncio.Runner() as runner:
                return runner.run(main())
        except asyncio.CancelledError:
            raise RoundCancelled from None

    def cancel_all(self) -> int:
        """Refuse new rounds and cancel the running ones; returns how many were running."""
        with self._lock:
            self.cancelled = True
            live = list(self._live.values())
        for loop, task in live:
            loop.call_soon_threadsafe(task.cancel)
        return len(live)



class TargetJobs:
    """The scheduled work of one target. Methods run in scheduler worker threads."""

    def __init__(self, config: Config, target: TargetConfig, store: Store,
                 library: ProbeLibrary, *, daemon_id: str, metrics: Metrics,
                 runner: RoundRunner, lease_s: float, stopping: threading.Event,
                 submit_check: Callable[[TargetJobs], None] | None = None,
                 check_slots: threading.BoundedSemaphore | None = None) -> None:
        self.config, self.target, self.store, self.library = config, target, store, library
        self.name = target.name
        self.clock = SlotClock(target.parsed_schedule)
        self.probes = library.select(target.suites)
        self.daemon_id, self.metrics, self.runner = daemon_id, metrics, runner
        self.lease_s = lease_s
        self.stopping = stopping
        # the daemon runs checks as jobs of their own, so the next slot never waits for one
        self.submit_check = submit_check or (lambda jobs: jobs.check())
        # shared by all targets: checks are CPU- and memory-heavy (feature extraction, the
        # domain classifier), rounds are not; a few at a time keeps the daemon's peak RSS flat
        self.check_slots = check_slots or threading.BoundedSemaphore(1)
        # one round at a time per target in this daemon; a check may run beside the next round
        self.round_lock = threading.Lock()
        self.check_lock = threading.Lock()
        # the check's confirmation round, cancellable like the slots' rounds
        self._confirm_round = confirm_round(
            config, target, store, self.probes, execute=runner.run,
            errors=(RoundCancelled, DriftMonitorError), on_error=self._confirmation_failed,
            stopped=stopping.is_set, on_call=metrics.on_call)

    def scheduled(self) -> None:
        """The schedule fired: the slot is the latest one at or before now."""
        self.slot(self.clock.current(utc_now()), "schedule")

    def catch_up_slot(self, now: datetime) -> datetime | None:
        """The slot to catch up on at start: the latest one, when it has no row although an
        earlier slot has (the daemon was down); None for a new target or no downtime."""
        current = self.clock.current(now)
        last = self.store.last_slot(self.name)
        return current if last is not None and last < current else None

    def slot(self, slot: datetime, trigger: str) -> None:
        """Claim ``slot``; when this daemon won it, record older unclaimed slots as missed,
        run the round and then a check. Errors are logged, never raised (the scheduler would
        only log them less clearly)."""
        if self.stopping.is_set():
            return
        fields = {"target": self.name, "slot": slot.isoformat(), "trigger": trigger}
        if not self.round_lock.acquire(blocking=False):
            # recorded as missed by the next claim's sweep, unless another daemon runs it
            self.metrics.slots.labels(self.name, "skipped_overlap").inc()
            log.warning("slot skipped: the previous round is still running", extra=fields)
            return
        try:
            now = utc_now()
            if not self.store.claim_slot(self.name, slot, daemon_id=self.daemon_id, now=now,
                                         lease_until=now + timedelta(seconds=self.lease_s),
                                         trigger=trigger):
                self.metrics.slots.labels(self.name, "taken").inc()
                log.debug("slot taken by another daemon", extra=fields)
                return
            self._sweep(slot, now)
            if self.store.running_elsewhere(self.name, slot, now):
                self.store.finish_slot(self.name, slot, status="missed", now=now,
                                       note="the previous round (another daemon) still ran")
                self.metrics.slots.labels(self.name, "missed").inc()
                log.warning("slot missed: another daemon's round of this target still runs",
                            extra=fields)
                return
            self.metrics.slots.labels(self.name, "run").inc()
            ran = self._round(slot, trigger, fields)
        except (StorageUnavailable, StatementRejected) as exc:
            # the database is away: one line, not a traceback per target per slot
            log.error("slot failed: database error", extra={**fields, "error": exc.reason})
            return
        except Exception:
            log.exception("slot failed", extra=fields)
            return
        finally:
            self.round_lock.release()
        if ran and not self.stopping.is_set():
            self.submit_check(self)

    def _sweep(self, slot: datetime, now: datetime) -> None:
        previous = self.store.last_slot(self.name, before=slot)
        if previous is None:
            return
        gap = self.clock.between(previous, slot)
        if not gap:
            return
        note = "no daemon ran this slot (down, or busy with the previous round)"
        if len(gap) >= MAX_SLOTS:
            note += f"; only the latest {MAX_SLOTS} slots since {previous.isoformat()} are listed"
        added = self.store.record_missed(self.name, gap, now=now, note=note)
        if added:
            self.metrics.slots.labels(self.name, "missed").inc(added)
            log.warning("missed slots recorded", extra={
                "target": self.name, "count": added, "first": gap[0].isoformat(),
                "last": gap[-1].isoformat()})

    def _round(self, slot: datetime, trigger: str, fields: dict[str, Any]) -> bool:
        log.info("round started", extra=fields)
        t0 = time.monotonic()
        try:
            summary = run_round(self.config, self.target, self.store, self.probes,
                                execute=self.runner.run, trigger=trigger, scheduled_for=slot,
                                on_call=self.metrics.on_call)
        except RoundCancelled:
            run_id = self._finish_orphan(slot, "interrupted: the daemon stopped mid-round; the "
                                               "responses received before are stored")
            self.store.finish_slot(self.name, slot, status="interrupted", now=utc_now(),
                                   run_id=run_id, note="the daemon stopped mid-round")
            self.metrics.rounds.labels(self.name, "interrupted").inc()
            log.warning("round interrupted by shutdown", extra={**fields, "run": run_id})
            return False
        except Exception as exc:
            run_id = self._finish_orphan(slot, f"round failed: {type(exc).__name__}")
            self.store.finish_slot(self.name, slot, status="failed", now=utc_now(),
                                   run_id=run_id, note=f"{type(exc).__name__}: {exc}"[:500])
            self.metrics.rounds.labels(self.name, "error").inc()
            if isinstance(exc, DriftMonitorError):  # a storage outage, a config problem: a line
                log.error("round failed", extra={**fields, "run": run_id, "error": str(exc)})
            else:
                log.exception("round failed", extra={**fields, "run": run_id})
            return False
        seconds = time.monotonic() - t0
        self.store.finish_slot(self.name, slot, status="done", now=utc_now(), run_id=summary.id)
        self.metrics.rounds.labels(self.name, summary.status).inc()
        self.metrics.round_duration.labels(self.name).observe(seconds)
        # a round whose every call failed is an outage in the making, not routine
        log.log(logging.WARNING if summary.status == "failed" else logging.INFO,
                "round finished", extra={**fields, "run": summary.id, "status": summary.status,
                                         "ok": summary.ok, "failed": summary.failed,
                                         "seconds": round(seconds, 3)})
        return True

    def _finish_orphan(self, slot: datetime | None, note: str) -> int | None:
        """Finish the run a broken round left ``running`` (its stored responses are kept)."""
        try:
            return finish_interrupted(self.store, self.name, note, slot=slot,
                                      trigger="confirmation" if slot is None else None)
        except Exception:
            log.exception("could not finish the interrupted run", extra={"target": self.name})
            return None

    def check(self) -> None:
        """Compare the latest window with the baseline; incidents and the outbox are written
        in the check's transaction. Skipped when this target's previous check still runs;
        waits while other targets' checks hold the shared check slots."""
        # the detection stack (scipy, scikit-learn): loaded by Daemon.start, not at import
        from drift_monitor.app.checks import run_check

        if not self.check_lock.acquire(blocking=False):
            log.info("check skipped: the previous check still runs", extra={"target": self.name})
            return
        try:
            while not self.check_slots.acquire(timeout=0.2):
                if self.stopping.is_set():
                    return
            try:
                if self.stopping.is_set():
                    return
                result = run_check(self.config, self.target, self.store,
                                   confirm=self._confirm_round, notify=True)
            finally:
                self.check_slots.release()
        except Exception:
            self.metrics.checks.labels(self.name, "error").inc()
            log.exception("check failed", extra={"target": self.name})
            return
        finally:
            self.check_lock.release()
        self._report(result)

    def _report(self, result: CheckResult) -> None:
        if result.error:
            self.metrics.checks.labels(self.name, "error").inc()
            log.info("check not possible yet", extra={"target": self.name,
                                                      "reason": result.error})
            return
        for f in result.findings:
            self.metrics.findings.labels(self.name, f.dimension, f.severity).inc()
        self.metrics.checks.labels(self.name, "drift" if result.drift else "ok").inc()
        log.info("check finished", extra={"target": self.name, "check": result.check_id,
                                          "drift": result.drift,
                                          "findings": len(result.findings)})

    def _confirmation_failed(self, exc: BaseException) -> None:
        if isinstance(exc, RoundCancelled):
            self._finish_orphan(None, "interrupted: the daemon stopped mid-round")
        log.warning("confirmation round not done", extra={"target": self.name,
                                                          "reason": str(exc) or "stopped"})
