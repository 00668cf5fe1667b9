"""Retries for provider calls, on tenacity: capped exponential backoff with jitter that honours
the server's Retry-After. Only errors marked ``retryable`` are retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from drift_monitor.errors import ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest, Provider

RETRY_AFTER_CAP_S = 60.0


class _WaitRetryAfter(wait_base):
    """The server's Retry-After when it sent one (capped), else exponential with jitter."""

    def __init__(self, initial: float, cap: float) -> None:
        self.cap = cap
        self.backoff = wait_exponential_jitter(multiplier=initial, max=cap, jitter=initial)

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(retry_after, RETRY_AFTER_CAP_S))
        return float(self.backoff(retry_state))


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderCallError) and exc.retryable


async def call_with_retries(
    provider: Provider, request: ProbeRequest, *, max_attempts: int = 4,
    initial_backoff_s: float = 0.5, max_backoff_s: float = 20.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[CallResult | ProviderCallError, int]:
    """Call ``provider.send`` until it succeeds, fails permanently, or attempts run out.

    Returns (the result or the last ProviderCallError, the number of attempts made).
    """
    attempts = 0
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(max_attempts),
            wait=_WaitRetryAfter(initial_backoff_s, max_backoff_s),
            retry=retry_if_exception(_retryable),
            sleep=sleep,
            reraise=True,
        ):
            with attempt:
                attempts = attempt.retry_state.attempt_number
                return await provider.send(request), attempts
    except ProviderCallError as exc:
        return exc, attempts
    raise AssertionError("unreachable")  # pragma: no cover
