"""Per-target limits a round obeys besides its concurrency: requests per minute and a daily
budget in US dollars.

Both are plain objects owned by one round; rounds of one target do not overlap (the scheduler
runs them one after another), so nothing is shared between rounds except what is in the database
(the spend already stored today).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """Spaces requests ``60 / requests_per_minute`` seconds apart, smoothly.

    A leaky bucket of depth one: each :meth:`acquire` reserves the next free slot and sleeps
    until it, so 120 rpm means one request every 0.5 s, never a burst of 120 followed by a
    minute of silence (providers count their limits over windows shorter than a minute).
    Every attempt, retries included, takes a slot. A cancelled waiter's slot is not reused.
    """

    def __init__(self, requests_per_minute: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")
        self.interval = 60.0 / requests_per_minute
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")

    async def acquire(self) -> None:
        """Return when this request may be sent."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class DailyBudget:
    """The spend a target may still make today, counted from what is stored plus this round.

    Before a call the runner asks :meth:`try_start`; the answer is no once the money spent today
    plus a reserve for the calls in flight reaches the limit. The reserve is the mean cost of the
    priced calls this round has finished (nothing before the first one finishes), so the limit
    is overshot by at most the calls in flight when it is reached.
    """

    def __init__(self, limit_usd: float, spent_today_usd: float) -> None:
        self.limit_usd = limit_usd
        self.spent_today_usd = spent_today_usd
        self.in_flight = 0
        self._priced = 0
        self._round_spend = 0.0

    @property
    def spent_usd(self) -> float:
        return self.spent_today_usd + self._round_spend

    def _mean_cost(self) -> float:
        return self._round_spend / self._priced if self._priced else 0.0

    def exhausted(self) -> bool:
        return self.spent_usd + self.in_flight * self._mean_cost() >= self.limit_usd

    def try_start(self) -> bool:
        """Reserve room for one call; False (and nothing reserved) when the budget is spent."""
        if self.exhausted():
            return False
        self.in_flight += 1
        return True

    def finish(self, cost_usd: float | None) -> None:
        """Release a call's reservation and add what it cost (None: failed or unpriced)."""
        self.in_flight -= 1
        if cost_usd is not None:
            self._priced += 1
            self._round_spend += cost_usd
