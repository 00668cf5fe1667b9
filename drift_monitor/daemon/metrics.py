"""Prometheus metrics of the daemon, on a registry of its own (no process-global state, so
tests and several daemons in one process never mix their numbers).

Names follow Prometheus conventions (``_total`` counters, base units). Gauges that live in the
database (open incidents, outbox depth) are refreshed from the health snapshot at each scrape.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from drift_monitor.config import TargetConfig
from drift_monitor.errors import ProviderCallError
from drift_monitor.providers.base import CallResult

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROUND_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)


class Metrics:
    """Every metric the daemon exports. ``on_call`` is the runner's call observer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter("drift_monitor_calls", "Provider calls by outcome (ok or the "
                             "error kind).", ["target", "outcome"], registry=r)
        self.call_latency = Histogram("drift_monitor_call_latency_seconds", "Latency of "
                                      "successful provider calls.", ["target"],
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("drift_monitor_tokens", "Tokens used, by direction.",
                              ["target", "direction"], registry=r)
        self.cost = Counter("drift_monitor_cost_usd", "Spend in US dollars (targets with a "
                            "price).", ["target"], registry=r)
        self.rounds = Counter("drift_monitor_rounds", "Probe rounds by final run status.",
                              ["target", "status"], registry=r)
        self.round_duration = Histogram("drift_monitor_round_duration_seconds", "Duration of "
                                        "probe rounds.", ["target"], buckets=ROUND_BUCKETS,
                                        registry=r)
        self.slots = Counter("drift_monitor_slots", "Schedule slots seen by this daemon: run, "
                             "taken (by another daemon), missed, skipped_overlap.",
                             ["target", "outcome"], registry=r)
        self.findings = Counter("drift_monitor_findings", "Findings of checks.",
                                ["target", "dimension", "severity"], registry=r)
        self.checks = Counter("drift_monitor_checks", "Checks by result (ok, drift, error).",
                              ["target", "result"], registry=r)
        self.open_incidents = Gauge("drift_monitor_open_incidents", "Open incidents.",
                                    ["target"], registry=r)
        self.outbox = Gauge("drift_monitor_outbox_notifications", "Notifications in the "
                            "outbox by status (pending is the delivery backlog).", ["status"],
                            registry=r)
        self.channel_outbox = Gauge("drift_monitor_channel_notifications", "Notifications "
                                    "in the outbox by channel and status (failed: permanent "
                                    "failures waiting for a fix).", ["channel", "status"],
                                    registry=r)
        self.deliveries = Counter("drift_monitor_deliveries", "Notification delivery "
                                  "attempts by outcome.", ["outcome"], registry=r)
        self.up = Gauge("drift_monitor_healthy", "1 when /healthz reports healthy.", registry=r)
        self.target_up = Gauge("drift_monitor_target_up", "1 when the target's latest round "
                               "got answers, 0 when every call of it failed (outage).",
                               ["target"], registry=r)

    def on_call(self, target: TargetConfig, outcome: CallResult | ProviderCallError,
                cost: float | None) -> None:
        if isinstance(outcome, ProviderCallError):
            self.calls.labels(target.name, outcome.kind.value).inc()
            return
        self.calls.labels(target.name, "ok").inc()
        if outcome.latency_ms is not None:
            self.call_latency.labels(target.name).observe(outcome.latency_ms / 1000)
        if outcome.input_tokens:
            self.tokens.labels(target.name, "input").inc(outcome.input_tokens)
        if outcome.output_tokens:
            self.tokens.labels(target.name, "output").inc(outcome.output_tokens)
        if cost:
            self.cost.labels(target.name).inc(cost)

    def set_gauges(self, targets: list[str], gauges: dict[str, Any], healthy: bool) -> None:
        for name in targets:
            self.open_incidents.labels(name).set(gauges.get("open_incidents", {}).get(name, 0))
        outbox = gauges.get("outbox", {})
        for status in ("pending", "delivered", "failed"):
            self.outbox.labels(status).set(outbox.get(status, 0))
        for channel, counts in gauges.get("channels", {}).items():
            for status in ("pending", "delivered", "failed"):
                self.channel_outbox.labels(channel, status).set(counts.get(status, 0))
        self.up.set(1 if healthy else 0)

    def set_target_up(self, up: dict[str, bool]) -> None:
        for name, ok in up.items():
            self.target_up.labels(name).set(1 if ok else 0)

    def render(self) -> bytes:
        """The exposition text (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry)
