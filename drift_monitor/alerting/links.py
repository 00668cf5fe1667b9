"""Links from messages to console pages, when ``server.public_url`` is set.

A payload gets ``links``: ``target`` (the target's page), ``incidents`` (incident id -> page)
and, for a digest, ``digest`` and ``targets`` (name -> page). Renderers show them when present,
so one click goes from a Slack alert to the evidence.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


def target_url(public_url: str, target: str) -> str:
    return f"{_base(public_url)}/targets/{quote(target, safe='')}"


def incident_url(public_url: str, incident_id: int) -> str:
    return f"{_base(public_url)}/incidents/{int(incident_id)}"


def add_links(payload: dict[str, Any], public_url: str, *,
              interactive: bool = False) -> dict[str, Any]:
    """Add ``links`` to an alert, resolved or accepted payload (in place; also returned).
    ``interactive`` (a Slack signing secret is configured) adds the alert's buttons."""
    payload["links"] = {
        "target": target_url(public_url, payload["target"]),
        "incidents": {str(i["incident_id"]): incident_url(public_url, i["incident_id"])
                      for i in payload.get("incidents", [])},
        "interactive": interactive and payload.get("kind") == "alert"}
    return payload


def add_digest_links(payload: dict[str, Any], public_url: str) -> dict[str, Any]:
    """Add ``links`` to a digest payload: the console's digest page and every target's page."""
    payload["links"] = {
        "digest": f"{_base(public_url)}/digest?days={int(payload.get('days', 7))}",
        "targets": {t["name"]: target_url(public_url, t["name"]) for t in payload["targets"]},
        "incidents": {str(i["id"]): incident_url(public_url, i["id"])
                      for t in payload["targets"] for i in t.get("incidents", [])}}
    return payload


def slack_links(payload: dict[str, Any]) -> str | None:
    """The payload's links as one Slack mrkdwn line, or None without links."""
    links = payload.get("links")
    if not links:
        return None
    parts = [f"<{url}|Incident #{iid} in the console>"
             for iid, url in links.get("incidents", {}).items()]
    if links.get("target"):
        parts.append(f"<{links['target']}|{_label(payload.get('target', 'target'))} "
                     "history>")
    return " · ".join(parts) or None


ACK = "drift_ack"
SILENCE_4H = "drift_silence_4h"


def slack_buttons(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The alert's "Silence 4h" and "Acknowledge" buttons (a Block Kit actions block, two
    per incident for at most five), or None when the payload is not interactive. Slack posts
    the clicks to ``/slack/actions`` (web/slack_actions.py)."""
    links = payload.get("links") or {}
    if not links.get("interactive"):
        return None
    ids = [int(i) for i in links.get("incidents", {})][:5]
    elements = []
    for iid in ids:
        suffix = f" #{iid}" if len(ids) > 1 else ""
        elements += [
            {"type": "button", "action_id": f"{SILENCE_4H}:{iid}", "value": str(iid),
             "text": {"type": "plain_text", "text": f"Silence 4h{suffix}"}},
            {"type": "button", "action_id": f"{ACK}:{iid}", "value": str(iid),
             "text": {"type": "plain_text", "text": f"Acknowledge{suffix}"}}]
    return {"type": "actions", "block_id": "drift_actions", "elements": elements}


def _label(text: str) -> str:
    # Slack's link syntax ends the label at '>' and treats '&', '<' as control characters
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_links(payload: dict[str, Any]) -> list[str]:
    """The payload's links as plain-text lines (console channel)."""
    links = payload.get("links") or {}
    lines = [f"Incident #{iid}: {url}" for iid, url in links.get("incidents", {}).items()]
    if links.get("target"):
        lines.append(f"Target history: {links['target']}")
    return lines
