"""What a target's rounds cost before they run: calls and estimated US dollars per round and per
month (``validate``, and ``probe`` before it starts).

Input tokens are estimated from the probes' text (4 characters a token, plus a few tokens of
framing per message); output tokens are the target's ``params.max_tokens`` when set (an upper
bound), else ``DEFAULT_OUTPUT_TOKENS``. Confirmation rounds (only the drifted probes, only after
a candidate finding) come on top and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from drift_monitor.config import TargetConfig
from drift_monitor.probes import Probe
from drift_monitor.slots import SlotClock

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
DEFAULT_OUTPUT_TOKENS = 300
MONTH = timedelta(days=30)
MAX_MONTH_SLOTS = 100_000  # a cron schedule firing every minute stays countable


@dataclass(frozen=True)
class Estimate:
    calls: int
    input_tokens: int
    output_tokens: int
    output_is_bound: bool  # output tokens are max_tokens (at most) rather than a guess
    cost_usd: float | None  # per round; None without a price table
    rounds_per_month: float

    @property
    def monthly_cost_usd(self) -> float | None:
        return None if self.cost_usd is None else self.cost_usd * self.rounds_per_month

    @property
    def calls_per_month(self) -> float:
        return self.calls * self.rounds_per_month

    def to_json(self) -> dict[str, Any]:
        monthly = self.monthly_cost_usd
        return {"calls_per_round": self.calls, "input_tokens_per_round": self.input_tokens,
                "output_tokens_per_round": self.output_tokens,
                "output_tokens_are_max_tokens": self.output_is_bound,
                "cost_usd_per_round": None if self.cost_usd is None else round(self.cost_usd, 6),
                "rounds_per_month": round(self.rounds_per_month, 1),
                "calls_per_month": round(self.calls_per_month),
                "cost_usd_per_month": None if monthly is None else round(monthly, 2)}

    def describe(self) -> str:
        if self.cost_usd is None:
            cost = "no price set, cost unknown"
        else:
            upto = "up to " if self.output_is_bound else "about "
            cost = (f"{upto}${self.cost_usd:.4f} a round, {upto}"
                    f"${self.monthly_cost_usd or 0:.2f} a month")
        return (f"{self.calls} calls a round, {self.calls_per_month:,.0f} a month "
                f"({self.rounds_per_month:,.0f} rounds); {cost}")


def rounds_per_month(target: TargetConfig, now: datetime | None = None) -> float:
    schedule = target.parsed_schedule
    if schedule.interval_seconds:
        return MONTH.total_seconds() / schedule.interval_seconds
    start = now or datetime.now(UTC)
    return float(SlotClock(schedule).count(start, start + MONTH, limit=MAX_MONTH_SLOTS))


def probe_input_tokens(probe: Probe) -> int:
    return sum(len(m.get("content", "")) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE
               for m in probe.messages)


def estimate(target: TargetConfig, probes: list[Probe], samples: int | None = None,
             now: datetime | None = None) -> Estimate:
    """Calls, tokens and cost of one round of ``probes`` for ``target``, and rounds a month."""
    from drift_monitor.runner import samples_for

    calls = input_tokens = 0
    for p in probes:
        n = samples_for(p, target, samples)
        calls += n
        input_tokens += n * probe_input_tokens(p)
    max_tokens = target.params.get("max_tokens") or target.params.get("max_output_tokens")
    bound = isinstance(max_tokens, int) and max_tokens > 0
    output_tokens = calls * (max_tokens if isinstance(max_tokens, int) and bound
                             else DEFAULT_OUTPUT_TOKENS)
    cost = None
    if target.price is not None:
        cost = (input_tokens * target.price.input_per_mtok
                + output_tokens * target.price.output_per_mtok) / 1_000_000
    return Estimate(calls, input_tokens, output_tokens, bound, cost,
                    rounds_per_month(target, now))
