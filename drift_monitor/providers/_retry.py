"""Retries for provider calls: capped exponential backoff with jitter that honours the server's
Retry-After. Only errors marked ``retryable`` are retried (reliability contract 3).

A plain loop rather than tenacity: the policy is a dozen lines, and tenacity's per-call
machinery cost about 60 microseconds per call, measurable at 500 calls a second.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from drift_monitor.errors import ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Send = Callable[[ProbeRequest], Awaitable[CallResult]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call.

    ``max_attempts`` counts the first call. Without a Retry-After the n-th wait is
    ``initial_backoff_s * 2**(n-1)``, capped at ``max_backoff_s``, scaled by a random factor in
    [0.5, 1] so calls that failed together do not return together. With one, the wait is the
    server's plus up to ``initial_backoff_s`` of jitter; a Retry-After above
    ``retry_after_cap_s`` ends the call instead (waiting that long would hold the round, and
    asking sooner only earns another 429). ``sleep`` is injectable for tests.
    """

    max_attempts: int = 4
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    retry_after_cap_s: float = 60.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def wait_s(self, attempt: int, error: ProviderCallError) -> float | None:
        """Seconds to wait after failed attempt number ``attempt``; None to stop retrying."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.retry_after_cap_s:
                return None
            return error.retry_after + self.rng.uniform(0, self.initial_backoff_s)
        base = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        return base * self.rng.uniform(0.5, 1.0)


async def call_with_retries(send: Send, request: ProbeRequest,
                            policy: RetryPolicy | None = None,
                            ) -> tuple[CallResult | ProviderCallError, int]:
    """Call ``send`` until it succeeds, fails permanently, or the policy gives up.

    Returns (the result or the last ProviderCallError, the number of attempts made). Never
    raises for a failed call; anything other than ProviderCallError propagates.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send(request), attempt
        except ProviderCallError as exc:
            wait = policy.wait_s(attempt, exc)
            if wait is None:
                if exc.retryable and exc.retry_after is not None \
                        and exc.retry_after > policy.retry_after_cap_s:
                    exc = ProviderCallError(
                        exc.kind, f"{exc.detail} (server asked to wait {exc.retry_after:g}s, "
                        f"over the {policy.retry_after_cap_s:g}s cap: not retried)",
                        retryable=True, status=exc.status, retry_after=exc.retry_after,
                        request_id=exc.request_id)
                return exc, attempt
            log.debug("probe %s sample %d attempt %d: %s; retrying in %.2fs", request.probe_id,
                      request.sample_index, attempt, exc.kind.value, wait)
            await policy.sleep(wait)
