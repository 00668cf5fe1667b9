"""Schedule slots: the instants a target's schedule fires, computed the same way by every daemon.

``every N`` schedules are anchored at the Unix epoch (``every 5m`` fires at :00, :05, ...), so
two daemons started at different times agree on every slot; cron schedules are in UTC. A slot is
identified by its instant, which is what the unique claim key holds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from drift_monitor.config import Schedule

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
            self.cron = CronTrigger.from_crontab(schedule.cron or "", timezone=timezone)

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger that fires at exactly these slots."""
        if self.cron is not None:
            return self.cron
        assert self.interval is not None
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
            first = math.floor((after - EPOCH).total_seconds() / self.interval + 1e-9) + 1
            last = math.ceil((before - EPOCH).total_seconds() / self.interval - 1e-9) - 1
            first = max(first, last - limit + 1)
            return [EPOCH + timedelta(seconds=n * self.interval) for n in range(first, last + 1)]
        assert self.cron is not None
        out: list[datetime] = []
        previous: datetime | None = None
        t = after + timedelta(microseconds=1)
        while True:
            nxt = self.cron.get_next_fire_time(previous, t)
            if nxt is None or nxt >= before:
                break
            out.append(nxt.astimezone(UTC))
            if len(out) > limit:
                out.pop(0)
            previous, t = nxt, nxt + timedelta(microseconds=1)
        return out
