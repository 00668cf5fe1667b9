"""Schedule slots: the instants a target's schedule fires, computed the same way by every daemon
(and counted the same way by the digest's "missed runs" and the cost estimate).

``every N`` schedules are anchored at the Unix epoch (``every 5m`` fires at :00, :05, ...), so
two daemons started at different times agree on every slot; cron schedules are in UTC. A slot is
identified by its instant, which is what the unique claim key holds.

APScheduler's triggers are imported when a cron schedule or a trigger needs them: the digest and
the cost estimate count ``every N`` slots by arithmetic, and ``validate`` starts faster without.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from drift_monitor.config import Schedule

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SLOTS = 10_000  # missed slots itemised after downtime; older ones are counted in a note
_CRON_LOOKBACK = (timedelta(minutes=2), timedelta(hours=3), timedelta(days=2),
                  timedelta(days=9), timedelta(days=400))


class SlotClock:
    """The slots of one schedule: the current one, the ones between two instants, a trigger."""

    def __init__(self, schedule: Schedule, timezone: str = "UTC") -> None:
        self.schedule = schedule
        self.interval = schedule.interval_seconds
        self.cron: CronTrigger | None = None
        if self.interval is None:
            from apscheduler.triggers.cron import CronTrigger

            self.cron = CronTrigger.from_crontab(schedule.cron or "", timezone=timezone)

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger that fires at exactly these slots."""
        if self.cron is not None:
            return self.cron
        assert self.interval is not None
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(seconds=self.interval, start_date=EPOCH, timezone=UTC)

    def current(self, now: datetime) -> datetime:
        """The latest slot at or before ``now``."""
        if self.interval is not None:
            n = math.floor((now - EPOCH).total_seconds() / self.interval + 1e-9)
            return EPOCH + timedelta(seconds=n * self.interval)
        for back in _CRON_LOOKBACK:
            found = self.between(now - back, now + timedelta(microseconds=1), limit=MAX_SLOTS)
            if found:
                return found[-1]
        raise ValueError(f"schedule '{self.schedule.text}' has not fired in the last 400 days")

    def between(self, after: datetime, before: datetime, *, limit: int = MAX_SLOTS,
                ) -> list[datetime]:
        """Slots strictly after ``after`` and strictly before ``before``: the latest ``limit``."""
        if self.interval is not None:
            first, last = self._interval_range(after, before)
            first = max(first, last - limit + 1)
            return [EPOCH + timedelta(seconds=n * self.interval) for n in range(first, last + 1)]
        out: list[datetime] = []
        for slot in self._cron_slots(after, before):
            out.append(slot)
            if len(out) > limit:
                out.pop(0)
        return out

    def count(self, start: datetime, end: datetime, *, limit: int) -> int:
        """How many slots fall in [start, end) (at ``start`` included, unlike :meth:`between`).
        An interval schedule is counted exactly, by arithmetic; a cron one stops at ``limit``."""
        if self.interval is not None:
            first = math.ceil((start - EPOCH).total_seconds() / self.interval - 1e-9)
            _, last = self._interval_range(start, end)
            return max(0, last - first + 1)
        n = 0
        for _ in self._cron_slots(start - timedelta(microseconds=1), end):
            n += 1
            if n >= limit:
                break
        return n

    def _interval_range(self, after: datetime, before: datetime) -> tuple[int, int]:
        # the first and last slot numbers (slot n is EPOCH + n * interval) inside the bounds
        assert self.interval is not None
        first = math.floor((after - EPOCH).total_seconds() / self.interval + 1e-9) + 1
        last = math.ceil((before - EPOCH).total_seconds() / self.interval - 1e-9) - 1
        return first, last

    def _cron_slots(self, after: datetime, before: datetime) -> Iterator[datetime]:
        assert self.cron is not None
        previous: datetime | None = None
        t = after + timedelta(microseconds=1)
        while True:
            nxt = self.cron.get_next_fire_time(previous, t)
            if nxt is None or nxt >= before:
                return
            yield nxt.astimezone(UTC)
            previous, t = nxt, nxt + timedelta(microseconds=1)
