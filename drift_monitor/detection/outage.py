"""Outage as drift: rounds that keep failing are an ``operational`` finding of their own.

A round that fails is never a behaviour sample (its run never joins a window), so without this
rule a target whose key expired would be compared, check after check, with its last good run
and look healthy. Pure: round outcomes in, a finding (or None) out.

A round *fails* when at least ``error_rate`` of the calls it sent failed. Calls the daily budget
kept back (kind ``budget``) were never sent and do not count either way; a round that sent no
call at all is no evidence and is skipped. ``rounds`` consecutive failing rounds, newest first,
make the finding: critical when the newest round failed every call, warning otherwise. It is
confirmed by construction (``consecutive_rounds``): the rounds themselves are the repetition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from drift_monitor.detection.findings import Finding

METRIC = "outage"
CONFIRMED_BY = "consecutive_rounds"
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class RoundOutcome:
    """What one finished round of a target did, as stored."""

    run_id: int
    sent: int  # calls sent (budget refusals excluded)
    failed: int  # of those, the failed ones
    kinds: dict[str, int] = field(default_factory=dict)  # failed calls by error kind
    error_kind: str | None = None  # the most common kind
    http_status: int | None = None  # its most common HTTP status
    message: str | None = None  # the provider's message for it (already redacted when stored)

    @property
    def error_rate(self) -> float:
        return self.failed / self.sent if self.sent else 0.0


def provider_message(detail: str | None) -> str | None:
    """The human part of a stored error detail: providers answer JSON such as
    ``{"error": {"message": "Incorrect API key provided: ***", ...}}``; the message is what the
    reader needs. Anything else is returned as it is, on one line."""
    if not detail:
        return None
    text = detail.strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    for _ in range(3):  # {"error": {"message": ...}}, {"message": ...}, {"error": "..."}
        if isinstance(body, list) and body:
            body = body[0]
        if isinstance(body, dict):
            inner = body.get("error", body.get("message"))
            if isinstance(inner, str):
                text = inner
                break
            if isinstance(body.get("message"), str):
                text = body["message"]
                break
            body = inner
    return " ".join(text.split()) or None


def failing(r: RoundOutcome, error_rate: float) -> bool:
    return r.sent > 0 and r.error_rate >= error_rate


def outage_finding(rounds: Sequence[RoundOutcome], *, rounds_needed: int,
                   error_rate: float) -> Finding | None:
    """The outage finding when the newest ``rounds_needed`` rounds that sent calls all failed
    (``rounds`` newest first); None when the target is healthy or the evidence is short."""
    evidence = [r for r in rounds if r.sent > 0][:rounds_needed]
    if len(evidence) < rounds_needed or not all(failing(r, error_rate) for r in evidence):
        return None
    newest = evidence[0]
    total = sum(r.sent for r in evidence)
    failed = sum(r.failed for r in evidence)
    kinds: dict[str, int] = {}
    for r in evidence:
        for k, n in r.kinds.items():
            kinds[k] = kinds.get(k, 0) + n
    every_call = newest.failed == newest.sent
    what = newest.error_kind or "unknown"
    status = f" (HTTP {newest.http_status})" if newest.http_status is not None else ""
    message = provider_message(newest.message) or ""
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS - 1] + "…"
    summary = (f"the target is failing: {len(evidence)} consecutive rounds with "
               f"{failed} of {total} calls failed; newest error {what}{status}"
               + (f': "{message}"' if message else ""))
    return Finding(
        dimension="operational", metric=METRIC, probe=None, baseline=None,
        current=round(newest.error_rate, 4), effect=round(newest.error_rate, 4), p_value=None,
        q_value=None, severity="critical" if every_call else "warning", summary=summary,
        direction=1, confirmed=True, confirmed_by=CONFIRMED_BY,
        details={"error_kind": newest.error_kind, "http_status": newest.http_status,
                 "provider_message": message or None, "failures_by_kind": kinds,
                 "runs": [r.run_id for r in evidence], "consecutive_rounds": len(evidence)})


def recovered(rounds: Sequence[RoundOutcome], *, error_rate: float) -> bool:
    """True when the newest round that sent calls did not fail."""
    for r in rounds:
        if r.sent > 0:
            return not failing(r, error_rate)
    return False
