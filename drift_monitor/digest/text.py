"""The digest as plain text: what the console channel prints, ``digest`` shows without --send,
and the lines Slack's fields, the email and the HTML report share (one wording everywhere)."""

from __future__ import annotations

from typing import Any


def fmt_ms(v: float | None) -> str:
    """Milliseconds for people: "n/a", "450 ms" or "1.25 s"."""
    return "n/a" if v is None else (f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms")


def fmt_pct(v: float | None) -> str:
    """A share as a percentage with one decimal, "n/a" for none."""
    return "n/a" if v is None else f"{100 * v:.1f}%"


def target_lines(t: dict[str, Any]) -> list[str]:
    """The digest numbers of one target as short lines (text, Slack fields and HTML share)."""
    cost = "n/a (no price set)" if t["cost_usd"] is None else f"${t['cost_usd']:.2f}"
    stab = ", ".join(f"{d} {'n/a' if s is None else s}" for d, s in t["stability"].items())
    models = ", ".join(f"{m} ({n})" for m, n in t["model_strings"].items()) or "none"
    findings = ", ".join(f"{n} {s}" for s, n in sorted(t["findings"].items())) or "none"
    opened = [i for i in t["incidents"]]
    return [
        f"runs: {t['runs_done']} done, {t['runs_missed']} missed, {t['runs_failed']} failed"
        + (f", {t['runs_abandoned']} abandoned" if t.get("runs_abandoned") else ""),
        f"responses: {t['responses']} ({fmt_pct(t['error_rate'])} errors)",
        f"latency: p50 {fmt_ms(t['latency_p50_ms'])}, p95 {fmt_ms(t['latency_p95_ms'])}",
        f"tokens: {t['input_tokens']:,} in, {t['output_tokens']:,} out; cost {cost}",
        f"checks: {t['checks']}; findings: {findings} ({t['confirmed_findings']} confirmed)",
        f"incidents: {len(opened)} (" + (", ".join(f"#{i['id']} {i['dimension']} {i['status']}"
                                                  for i in opened) or "none") + ")",
        f"stability: {stab}",
        f"model strings: {models}",
    ]


def silence_lines(p: dict[str, Any]) -> list[str]:
    """One line per silence of the digest's period (text, Slack and HTML share them)."""
    lines = []
    for s in p.get("silences", []):
        state = "active until" if s["active"] else (
            "expired early at" if s["expired_early"] else "ended")
        incidents = ", ".join(f"#{i}" for i in s["incidents"]) or "none"
        lines.append(f"silence {s['id']} on {s['target']}/{s['dimension'] or 'all dimensions'} "
                     f"by {s['created_by']} ({s['reason']}), {state} "
                     f"{s['ends_at'][:16].replace('T', ' ')} UTC: held back {s['held_back']} "
                     f"notification(s), incidents {incidents}")
    return lines


def render_digest_text(p: dict[str, Any]) -> str:
    """The digest as plain text (console channel, `digest` without --send)."""
    lines = [f"Drift digest, {p['start'][:10]} to {p['end'][:10]} ({p['days']} days)"]
    for t in p["targets"]:
        lines.append(f"{t['name']} ({t['provider']} {t['model']}, {t['schedule']}):")
        lines += [f"  {line}" for line in target_lines(t)]
    failed = p.get("failed_notifications") or []
    if failed:
        lines.append(f"notifications that failed permanently in this period: {len(failed)} "
                     "(never delivered; 'drift-monitor notify retry ID' after fixing the cause)")
        lines += [f"  #{n['id']} {n['kind']} ({n['reason']}) for {n['target'] or 'all targets'}"
                  f" via {n['channel']} at {n['at'][:16].replace('T', ' ')} UTC: {n['error']}"
                  for n in failed[:20]]
    silenced = silence_lines(p)
    if silenced:
        lines.append("Silences:")
        lines += [f"  {line}" for line in silenced]
    links = p.get("links") or {}
    if links:
        lines.append(f"Console: {links['digest']}")
    return "\n".join(lines)
