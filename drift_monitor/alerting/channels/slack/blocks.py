"""Block Kit messages for Slack, always within Slack's limits (the slack channel's own format:
nothing outside alerting/channels/slack/ builds or reads them).

Limits (Slack's Block Kit reference): at most 50 blocks a message, 3,000 characters in a
section's text, 150 in a header, 10 fields of 2,000 characters in a section, 10 elements in a
context block. :func:`fit` enforces all of them on any list of blocks, so a huge example or a
hundred findings can never make Slack reject a message; whatever is cut says so visibly.
"""

from __future__ import annotations

from typing import Any

from drift_monitor.alerting.links import slack_buttons, slack_links
from drift_monitor.alerting.render import (
    REASON_WORDS,
    _value,
    confidence,
    model_string_line,
    render_payload,
)
from drift_monitor.digest import silence_lines, target_lines

MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_CONTEXT = 10
FALLBACK_CHARS = 1000
EXAMPLE_CHARS = 1200  # per side; two examples of two sides stay readable in one message

Block = dict[str, Any]


def esc(text: Any) -> str:
    """Escape text for mrkdwn (Slack treats &, < and > as control characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a visible marker saying how much was cut."""
    if len(text) <= limit:
        return text
    # reserve room for the marker with the largest count it could show
    keep = max(0, limit - len(f" … [truncated {len(text)} chars]"))
    return text[:keep] + f" … [truncated {len(text) - keep} chars]"


def code(text: str, limit: int) -> str:
    """A code block of at most ``limit`` characters; long text is cut visibly inside it."""
    # a ``` inside the text would end Slack's code block early: break it with zero-width spaces
    body = esc(text).replace("```", "`\u200b`\u200b`") or " "
    return "```\n" + truncate(body, limit - 8) + "\n```"


def header(text: str) -> Block:
    return {"type": "header",
            "text": {"type": "plain_text", "text": truncate(text, HEADER_CHARS), "emoji": True}}


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def fields(items: list[str]) -> Block:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": t} for t in items]}


def context(texts: list[str]) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts]}


def divider() -> Block:
    return {"type": "divider"}


def fit(blocks: list[Block]) -> list[Block]:
    """The blocks with every Slack limit enforced (see the module docstring)."""
    out: list[Block] = []
    for b in blocks:
        b = dict(b)
        if b["type"] == "header":
            b["text"] = {**b["text"], "text": truncate(b["text"]["text"], HEADER_CHARS)}
        elif b["type"] == "section":
            if "text" in b:
                b["text"] = {**b["text"], "text": truncate(b["text"]["text"], SECTION_CHARS)}
            if "fields" in b:
                fs = [{**f, "text": truncate(f["text"], FIELD_CHARS)} for f in b["fields"]]
                b["fields"] = fs[:MAX_FIELDS]
        elif b["type"] == "context":
            b["elements"] = [{**e, "text": truncate(e["text"], FIELD_CHARS)}
                             for e in b["elements"][:MAX_CONTEXT]]
        out.append(b)
    if len(out) > MAX_BLOCKS:
        left_out = len(out) - (MAX_BLOCKS - 1)
        out = out[:MAX_BLOCKS - 1] + [section(f"_… {left_out} more blocks left out to stay "
                                              "within Slack's message limits._")]
    return out


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:16] + " UTC" if iso else "?"


def _finding(f: dict[str, Any]) -> str:
    # the summary already says where (suite or probe)
    sure = confidence(f.get("q_value"), f.get("confirmed_by"), f.get("observations"))
    lines = [f"*{esc(f['metric'])}* ({f['severity']}): "
             f"*{esc(_value(f['baseline'], f['metric']))} → "
             f"{esc(_value(f['current'], f['metric']))}*, {sure}",
             esc(f["summary"])]
    if f.get("probes"):
        more = (f" and {f['probe_count'] - len(f['probes'])} more"
                if f["probe_count"] > len(f["probes"]) else "")
        lines.append("Probes: " + ", ".join(f"`{esc(p)}`" for p in f["probes"]) + more)
    return "\n".join(lines)


def alert_blocks(p: dict[str, Any]) -> list[Block]:
    """A drift alert: what changed, since when, where, examples, and how to accept it."""
    icon = ":rotating_light:" if p["severity"] == "critical" else ":warning:"
    dims = ", ".join(p["dimensions"])
    blocks = [
        header(f"{icon} Drift on {p['target']}: {dims} "
               f"({REASON_WORDS.get(p['reason'], p['reason'])})"),
        section(f"*{p['severity'].capitalize()}* drift since *{_when(p.get('opened_at'))}*."
                f"\n{esc(model_string_line(p))}"
                + "".join(f"\n{esc(line)}" for line in p.get("control_lines", []))),
    ]
    console = slack_links(p)
    if console:
        blocks.append(section(f":mag: {console}"))
    actions = slack_buttons(p)
    if actions:
        blocks.append(actions)
    for inc in p["incidents"]:
        blocks.append(section(f"*{esc(inc['dimension'])}* · {inc['severity']} · "
                              f"{REASON_WORDS.get(inc['reason'], inc['reason'])} · since "
                              f"{_when(inc.get('opened_at'))} · incident #{inc['incident_id']}"))
        blocks += [section(_finding(f)) for f in inc["findings"]]
        if inc.get("more_findings"):
            blocks.append(context([f"… and {inc['more_findings']} more findings"]))
    for ex in p.get("examples", []):
        blocks.append(divider())
        blocks.append(section(f"*Example* `{esc(ex['probe'])}` ({esc(ex['metric'])}), "
                              f"*before:*\n{code(ex['before'], EXAMPLE_CHARS)}"))
        blocks.append(section(f"*after:*\n{code(ex['after'], EXAMPLE_CHARS)}"))
    # an outage alone is fixed at the provider, not accepted as a baseline
    outage_only = p.get("outage") and p.get("dimensions") == ["operational"]
    blocks += [
        divider(),
        section("Fix the key, quota or deployment: the alert resolves once calls succeed."
                if outage_only else "If the new behaviour is fine, accept it as the new "
                "baseline:\n" + code(p["accept_command"], 400)),
        context([f"check #{p.get('check_id')} · window runs {p['window_runs']} "
                 f"({p['window_responses']} responses) vs baseline {p['baseline_id']} runs "
                 f"{p['baseline_runs']} ({p['baseline_responses']} responses) · reason "
                 f"`{p['reason']}`"]),
    ]
    return fit(blocks)


def closed_blocks(p: dict[str, Any]) -> list[Block]:
    """Resolved or accepted incidents."""
    dims = ", ".join(p["dimensions"])
    if p["kind"] == "resolved":
        title = f":white_check_mark: Resolved on {p['target']}: {dims}"
        how = "A clean check found no drift of these dimensions against the baseline."
    else:
        title = f":ballot_box_with_check: Accepted on {p['target']}: {dims}"
        how = (f"The new behaviour was accepted: baseline {p.get('baseline_id')} now pins runs "
               f"{p.get('baseline_runs')}.")
    blocks = [header(title), section(how)]
    console = slack_links(p)
    if console:
        blocks.append(section(f":mag: {console}"))
    blocks += [section(f"*{esc(i['dimension'])}* (incident #{i['incident_id']}), open from "
                       f"{_when(i.get('opened_at'))} to {_when(p.get('closed_at'))}. "
                       f"Was: {esc(i['summary'])}") for i in p["incidents"]]
    blocks.append(context([f"reason `{p['reason']}`"]))
    return fit(blocks)


def fallback_text(p: dict[str, Any]) -> str:
    """The message's ``text``: what Slack shows in notifications and where blocks cannot be."""
    head = render_payload(p).splitlines()[:2]
    return truncate("\n".join(head), FALLBACK_CHARS)


def digest_blocks(p: dict[str, Any]) -> list[Block]:
    """The weekly digest: one header, then per target its numbers as fields."""
    blocks = [header(f":bar_chart: Drift digest: {p['start'][:10]} to {p['end'][:10]}")]
    for t in p["targets"]:
        blocks.append(divider())
        blocks.append(section(f"*{esc(t['name'])}* · {esc(t['provider'])} `{esc(t['model'])}` "
                              f"· {esc(t['schedule'])}"))
        items = []
        for line in target_lines(t):
            name, _, rest = line.partition(": ")
            items.append(f"*{esc(name.capitalize())}*\n{esc(rest)}")
        blocks.append(fields(items))
    silenced = silence_lines(p)
    if silenced:
        blocks.append(divider())
        blocks.append(section("*Silences*\n" + "\n".join(esc(line) for line in silenced)))
    links = p.get("links") or {}
    if links:
        blocks.append(section(" · ".join([f"<{links['digest']}|Digest with charts>"] + [
            f"<{url}|{esc(name)}>" for name, url in links.get("targets", {}).items()])))
    blocks.append(context(["drift-monitor digest · `drift-monitor digest --html report.html` "
                           "writes the report with charts"]))
    return fit(blocks)
