"""The ``pagerduty`` channel: PagerDuty Events API v2 (``POST /v2/enqueue``).

Every incident of a message is one event whose ``dedup_key`` is the incident
(``drift-monitor/<target>/<dimension>/<incident id>``): the alert triggers it (a repeat or a
change of the same incident lands on the same PagerDuty incident), the resolution or the
acceptance resolves it. PagerDuty answers 202 with the dedup key; 400 (an invalid event, or a
routing key it does not know) is permanent; 429 and 5xx are temporary. When one of several
events fails, the outbox sends the message again later: the events already taken are then sent
twice, which PagerDuty deduplicates by key (at least once, never lost).

PagerDuty carries incidents, not digests: ``validate`` refuses a digest routed here.

The routing key is read from the environment when the channel is built; it travels only in the
event's ``routing_key`` field and never appears in a summary, an error or a log line.
``api_base_url`` overrides https://events.pagerduty.com (the EU service, or a test server).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from drift_monitor.alerting.channels import _http
from drift_monitor.alerting.channels.base import Channel, ChannelError
from drift_monitor.alerting.render import model_string_line, payload_finding_lines
from drift_monitor.config import Config

DEFAULT_API_BASE_URL = "https://events.pagerduty.com"
SUMMARY_CHARS = 1024  # the Events API's limit
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(target: str, incident: dict[str, Any]) -> str:
    """One PagerDuty incident per drift-monitor incident."""
    return f"drift-monitor/{target}/{incident['dimension']}/{incident['incident_id']}"


def _summary(target: str, incident: dict[str, Any]) -> str:
    findings = incident.get("findings") or []
    top = f": {findings[0]['summary']}" if findings and findings[0].get("summary") else ""
    text = f"Drift on {target}: {incident['dimension']} ({incident['severity']}){top}"
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS - 1] + "…"


def trigger_event(p: dict[str, Any], incident: dict[str, Any]) -> dict[str, Any]:
    """The trigger event (without the routing key) for one incident of an alert payload."""
    details: dict[str, Any] = {
        "incident_id": incident["incident_id"], "dimension": incident["dimension"],
        "reason": incident["reason"], "open_since": incident.get("opened_at"),
        "findings": [line.strip() for f in incident.get("findings", [])
                     for line in payload_finding_lines(f)],
        "more_findings": incident.get("more_findings", 0),
        "model_string": model_string_line(p),
        "compared": (f"{p.get('window_responses')} responses (runs {p.get('window_runs')}) with "
                     f"the baseline's {p.get('baseline_responses')} (baseline "
                     f"{p.get('baseline_id')}, runs {p.get('baseline_runs')})"),
        "if_the_new_behaviour_is_fine": p.get("accept_command")}
    if p.get("control_lines"):
        details["control"] = p["control_lines"]
    return {"event_action": "trigger", "dedup_key": dedup_key(p["target"], incident),
            "payload": {"summary": _summary(p["target"], incident), "source": p["target"],
                        "severity": SEVERITIES.get(incident["severity"], "warning"),
                        "timestamp": p.get("sent_at"), "component": p["target"],
                        "group": incident["dimension"], "class": "behaviour drift",
                        "custom_details": details},
            "client": "drift-monitor"}


def events(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The events (without the routing key) of one outbox payload, one per incident."""
    kind = p.get("kind")
    if kind == "alert":
        return [trigger_event(p, i) for i in p["incidents"]]
    if kind in ("resolved", "accepted"):
        return [{"event_action": "resolve", "dedup_key": dedup_key(p["target"], i)}
                for i in p["incidents"]]
    raise ChannelError("pagerduty", f"PagerDuty takes incidents, not a {kind}: route it to "
                                    "another channel (digest.channel)", permanent=True)


def describe_refusal(response: httpx.Response) -> str:
    """PagerDuty's own words for a refused event: its message and the errors it lists."""
    try:
        answer = response.json()
    except ValueError:
        return _http.excerpt(response)
    if not isinstance(answer, dict):
        return _http.excerpt(response)
    errors = answer.get("errors") if isinstance(answer.get("errors"), list) else []
    text = str(answer.get("message") or answer.get("status") or "")
    return (f"{text} ({'; '.join(str(e) for e in errors)})" if errors else text)[:300]


class PagerDutyChannel(Channel):
    """Sends incidents to one PagerDuty service through its Events API v2 integration."""

    name = "pagerduty"
    carries_digest = False

    def __init__(self, config: Config, *, transport: httpx.BaseTransport | None = None) -> None:
        """Reads the routing key from the environment now. Raises ConfigError naming the env
        var when it is unset."""
        settings = config.settings.notify.pagerduty
        if settings is None:
            raise ChannelError(self.name, "notify.pagerduty is not configured", permanent=True)
        self._routing_key = config.secret(settings.routing_key_env,
                                          ("notify", "pagerduty", "routing_key_env")) or ""
        _http.remember_secrets(self._routing_key)
        base = (settings.api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self.url = f"{base}/v2/enqueue"
        self.timeout = settings.timeout_s
        self.transport = transport

    def __repr__(self) -> str:  # never show the routing key, even in a traceback
        return f"PagerDutyChannel({self.url})"

    def send(self, payload: dict[str, Any]) -> None:
        """Enqueue one event per incident. Raises ChannelError(permanent=...) at the first
        event PagerDuty did not take."""
        for event in events(payload):
            body = json.dumps({"routing_key": self._routing_key, **event}, ensure_ascii=False,
                              default=str).encode()
            response = _http.post(self.name, self.url, body,
                                  {"Content-Type": "application/json"}, timeout=self.timeout,
                                  transport=self.transport, describe=describe_refusal)
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or answer.get("status") != "success":
                raise ChannelError(self.name, f"answered {response.status_code} without "
                                              "'status: success'", permanent=False,
                                   status=response.status_code)
