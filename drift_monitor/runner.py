"""One probe round for one target: every probe x samples, bounded concurrency, retries, and each
response committed as it arrives (reliability contract 1 and 2).

Calls run on the event loop; database writes run in a worker thread fed by a queue, so a slow
commit never stalls the calls in flight. Responses that arrive together are written in one
transaction; a write that is retried is a no-op thanks to the (run, probe version, sample) key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from drift_monitor.config import Config, TargetConfig
from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.probes import Probe
from drift_monitor.providers import provider_class
from drift_monitor.providers.base import CallResult, ProbeRequest, Provider
from drift_monitor.providers.retry import call_with_retries
from drift_monitor.storage.queries import RunSummary, Store

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 3
ERROR_DETAIL_CHARS = 1000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Job:
    probe: Probe
    probe_version_id: int
    sample_index: int


def samples_for(probe: Probe, target: TargetConfig, override: int | None) -> int:
    """CLI --samples, else the target's samples, else the probe's or its suite's, else 3."""
    for value in (override, target.samples, probe.samples):
        if value is not None:
            return value
    return DEFAULT_SAMPLES


def redact(text: str | None, secrets: list[str]) -> str | None:
    """Remove secret values from text that is about to be stored or logged."""
    if text is None:
        return None
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def cost_usd(target: TargetConfig, result: CallResult) -> float | None:
    if target.price is None or result.input_tokens is None or result.output_tokens is None:
        return None
    return (result.input_tokens * target.price.input_per_mtok
            + result.output_tokens * target.price.output_per_mtok) / 1_000_000


class ResponseWriter:
    """Drains a queue of response rows into the database from a worker thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            rows = [r for r in batch if r is not None]
            if rows:
                await asyncio.to_thread(self.store.insert_responses, rows)
            if len(rows) != len(batch):
                return

    async def put(self, row: dict[str, Any]) -> None:
        if self.task.done():
            self.task.result()  # surfaces the storage error
        await self.queue.put(row)

    async def close(self) -> None:
        await self.queue.put(None)
        await self.task


def _row(job: Job, run_id: int, target: TargetConfig,
         outcome: CallResult | ProviderCallError, attempts: int,
         secrets: list[str]) -> dict[str, Any]:
    base = {"run_id": run_id, "probe_version_id": job.probe_version_id,
            "sample_index": job.sample_index, "attempts": attempts}
    if isinstance(outcome, ProviderCallError):
        return {**base, "ok": False, "error_kind": outcome.kind.value,
                "error_detail": redact(outcome.detail[:ERROR_DETAIL_CHARS], secrets),
                "http_status": outcome.status, "request_id": outcome.request_id}
    return {**base, "ok": True, "text": outcome.text, "finish_reason": outcome.finish_reason,
            "input_tokens": outcome.input_tokens, "output_tokens": outcome.output_tokens,
            "latency_ms": outcome.latency_ms, "model_returned": outcome.model_returned,
            "fingerprint": outcome.fingerprint, "request_id": outcome.request_id,
            "http_status": outcome.http_status, "cost_usd": cost_usd(target, outcome)}


def make_provider(config: Config, target: TargetConfig,
                  transport: httpx.AsyncBaseTransport | None = None) -> Provider:
    cls = provider_class(target.provider)
    return cls(target, api_key=config.api_key(target), base_dir=config.base_dir,
               transport=transport)


async def probe_round(config: Config, target: TargetConfig, store: Store, probes: list[Probe],
                      *, samples: int | None = None, trigger: str = "manual",
                      transport: httpx.AsyncBaseTransport | None = None,
                      progress: Progress | None = None) -> RunSummary:
    """Run every probe ``samples`` times against ``target`` and store each response.

    Returns the finished run's summary (status complete, partial or failed). Raises
    ConfigError for a missing API key and StorageError if the database fails mid-round.
    """
    provider = make_provider(config, target, transport)
    secrets = [s for s in [config.api_key(target)] if s]
    try:
        target_id = await asyncio.to_thread(store.upsert_target, target.name, target.provider,
                                            target.model)
        pv_ids = await asyncio.to_thread(store.ensure_probe_versions, probes)
        jobs = [Job(p, pv_ids[(p.suite, p.id, p.version)], i)
                for p in probes for i in range(samples_for(p, target, samples))]
        run_id = await asyncio.to_thread(store.create_run, target_id, len(jobs), trigger=trigger)
        log.info("run %d started: target=%s calls=%d", run_id, target.name, len(jobs))
        writer = ResponseWriter(store)
        sem = asyncio.Semaphore(target.limits.concurrency)
        done = 0

        async def one(job: Job) -> None:
            nonlocal done
            request = ProbeRequest(messages=job.probe.messages, params=target.params,
                                   probe_id=job.probe.id, sample_index=job.sample_index)
            async with sem:
                try:
                    outcome, attempts = await call_with_retries(
                        provider, request, max_attempts=target.limits.max_attempts)
                except Exception as exc:  # a provider bug must not take the round down
                    log.exception("provider %s raised unexpectedly", target.provider)
                    outcome, attempts = ProviderCallError(
                        ErrorKind.MALFORMED, f"internal error: {type(exc).__name__}: {exc}",
                        retryable=False), 1
            await writer.put(_row(job, run_id, target, outcome, attempts, secrets))
            done += 1
            if progress is not None:
                progress(done, len(jobs))

        try:
            await asyncio.gather(*(one(j) for j in jobs))
        finally:
            await writer.close()
        summary = await asyncio.to_thread(store.finish_run, run_id)
        log.info("run %d %s: ok=%d failed=%d", run_id, summary.status, summary.ok,
                 summary.failed)
        return summary
    finally:
        await provider.aclose()
