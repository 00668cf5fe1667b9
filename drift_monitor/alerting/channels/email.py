"""The ``email`` channel: SMTP with STARTTLS on the standard library's ``smtplib``.

Each message is one mail to every ``to`` address, ``multipart/alternative`` with a plain-text
body (the console's rendering) and an HTML one (every value escaped: model output is never
markup). Its ``Message-ID`` is derived from the payload, so a retry that reaches a mailbox twice
is recognisably the same mail; alerts and resolutions of an incident share a ``References``
entry, so mail clients thread them.

STARTTLS is required (``starttls: false`` only for a relay on a trusted network, and never with
a login); the server's certificate is verified against the system's CAs or ``ca_file``.
Failures: SMTP 4xx replies, dropped or refused connections and timeouts are temporary; 5xx
replies (a refused login, sender or recipient), a server without STARTTLS and a certificate
that does not verify are permanent. A mail some recipients refused permanently is a permanent
failure naming them (the others got it).

The login comes from ``username_env``/``password_env`` when the channel is built; it never
appears in a mail, an error or a log line.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from typing import Any

from drift_monitor.alerting.channels import _http
from drift_monitor.alerting.channels.base import Channel, ChannelError
from drift_monitor.alerting.channels.webhook import message_id
from drift_monitor.alerting.render import (
    REASON_WORDS,
    _when,
    model_string_line,
    payload_finding_lines,
    render_payload,
)
from drift_monitor.config import Config
from drift_monitor.digest import target_lines

SUBJECT_CHARS = 200


def subject(p: dict[str, Any]) -> str:
    line = render_payload(p).splitlines()[0]
    text = f"[drift-monitor] {line}"
    return text if len(text) <= SUBJECT_CHARS else text[:SUBJECT_CHARS - 1] + "…"


# --- the HTML body ----------------------------------------------------------------------------

_STYLE = ("font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; "
          "font-size: 14px; color: #1d1d1f; max-width: 760px")
_PRE = ("background: #f4f4f6; padding: 8px; white-space: pre-wrap; "
        "font-family: Menlo, Consolas, monospace; font-size: 12px")


def _p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _alert_html(p: dict[str, Any]) -> list[str]:
    out = [f"<h2>Drift on {escape(p['target'])}: {escape(', '.join(p['dimensions']))} "
           f"changed ({escape(p['severity'])})</h2>",
           _p(f"Since {_when(p.get('opened_at'))} "
              f"[{REASON_WORDS.get(p['reason'], p['reason'])}]."),
           _p(model_string_line(p))]
    out += [_p(line) for line in p.get("control_lines", [])]
    out.append(_p(f"Compared {p['window_responses']} responses (runs {p['window_runs']}) with "
                  f"the baseline's {p['baseline_responses']} (baseline {p['baseline_id']}, "
                  f"runs {p['baseline_runs']})."))
    for inc in p["incidents"]:
        out.append(f"<h3>{escape(inc['dimension'])} ({escape(inc['severity'])}, "
                   f"{escape(REASON_WORDS.get(inc['reason'], inc['reason']))}, incident "
                   f"{inc['incident_id']}, since {escape(_when(inc.get('opened_at')))})</h3>")
        out.append("<ul>" + "".join(
            "<li>" + "<br>".join(escape(line.strip()) for line in payload_finding_lines(f))
            + "</li>" for f in inc["findings"]) + "</ul>")
        if inc.get("more_findings"):
            out.append(_p(f"... and {inc['more_findings']} more findings"))
    for ex in p.get("examples", []):
        out.append(f"<h4>Example: {escape(ex['probe'])} ({escape(ex['metric'])})</h4>")
        out.append(f"<p>before:</p><pre style=\"{_PRE}\">{escape(ex['before'])}</pre>")
        out.append(f"<p>after:</p><pre style=\"{_PRE}\">{escape(ex['after'])}</pre>")
    out.append(f"<p>If the new behaviour is fine: <code>{escape(p['accept_command'])}</code></p>")
    return out


def _closed_html(p: dict[str, Any]) -> list[str]:
    kind = p["kind"]
    how = ("A clean check found no drift of these dimensions." if kind == "resolved" else
           f"The new behaviour was accepted: baseline {p.get('baseline_id')} now pins runs "
           f"{p.get('baseline_runs')}.")
    items = "".join(f"<li>{escape(i['dimension'])} (incident {i['incident_id']}, open since "
                    f"{escape(_when(i.get('opened_at')))}): was {escape(i['summary'])}</li>"
                    for i in p["incidents"])
    return [f"<h2>{escape(kind.capitalize())} on {escape(p['target'])}: "
            f"{escape(', '.join(p['dimensions']))}</h2>", _p(how), f"<ul>{items}</ul>"]


def _digest_html(p: dict[str, Any]) -> list[str]:
    out = [f"<h2>Drift digest, {escape(p['start'][:10])} to {escape(p['end'][:10])} "
           f"({p['days']} days)</h2>"]
    for t in p["targets"]:
        out.append(f"<h3>{escape(t['name'])} ({escape(t['provider'])} {escape(t['model'])}, "
                   f"{escape(t['schedule'])})</h3>")
        out.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in target_lines(t))
                   + "</ul>")
    return out


def html_body(p: dict[str, Any]) -> str:
    """The mail's HTML alternative: a standalone document, every value escaped."""
    kind = p.get("kind")
    parts = (_digest_html(p) if kind == "digest" else
             _closed_html(p) if kind in ("resolved", "accepted") else _alert_html(p))
    return ("<!doctype html><html><head><meta charset=\"utf-8\"></head>"
            f"<body style=\"{_STYLE}\">" + "\n".join(parts) + "</body></html>")


def build_message(p: dict[str, Any], sender: str, to: list[str],
                  now: datetime | None = None) -> EmailMessage:
    """The mail for one payload, with its plain-text and HTML bodies."""
    msg = EmailMessage()
    msg["Subject"] = subject(p)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    domain = sender.rsplit("@", 1)[-1]
    msg["Message-ID"] = f"<{message_id(p)}@{domain}>"
    if p.get("kind") != "digest":
        msg["References"] = " ".join(f"<incident-{i['incident_id']}.{p['target']}@{domain}>"
                                     for i in p.get("incidents", []))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a monitor
    msg.set_content(render_payload(p))
    msg.add_alternative(html_body(p), subtype="html")
    return msg


# --- the channel ------------------------------------------------------------------------------

def _reply(code: int, text: bytes | str) -> str:
    raw = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return _http.redactor.redact(f"{code} {raw}".strip())[:300]


class EmailChannel(Channel):
    """Mails every message to ``notify.email.to`` through one SMTP server."""

    name = "email"

    def __init__(self, config: Config) -> None:
        """Reads the SMTP login from the environment now. Raises ConfigError naming the env
        var when one is unset."""
        settings = config.settings.notify.email
        if settings is None:
            raise ChannelError(self.name, "notify.email is not configured", permanent=True)
        key = ("notify", "email")
        self.settings = settings
        self._username = config.secret(settings.username_env, (*key, "username_env"))
        self._password = config.secret(settings.password_env, (*key, "password_env"))
        _http.remember_secrets(self._password, self._username)
        self.ca_file = (str(config.base_dir / settings.ca_file) if settings.ca_file else None)

    def __repr__(self) -> str:  # never show the login, even in a traceback
        return f"EmailChannel({self.settings.host}:{self.settings.port})"

    def _context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(self.name, f"cannot load ca_file {self.ca_file}: {exc}",
                               permanent=True) from None

    def send(self, payload: dict[str, Any]) -> None:
        """Mail one message. Raises ChannelError(permanent=...) when the server did not take
        it for every recipient."""
        s = self.settings
        msg = build_message(payload, s.from_, s.to)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
                smtp.ehlo()
                if s.starttls:
                    if not smtp.has_extn("starttls"):
                        raise ChannelError(self.name, f"{s.host}:{s.port} does not offer "
                                                      "STARTTLS", permanent=True)
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self._username and self._password:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(msg, from_addr=s.from_, to_addrs=s.to)
        except ChannelError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            self._refused(exc.recipients, delivered=0)
        except smtplib.SMTPResponseException as exc:  # a reply code: 4xx temporary, 5xx not
            reply = _reply(exc.smtp_code, exc.smtp_error)
            raise ChannelError(self.name, f"the server answered {reply}",
                               permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(self.name, _http.redactor.redact(str(exc))[:300],
                               permanent=True) from None
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(self.name, f"the server's certificate does not verify: "
                                          f"{exc.verify_message}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:  # dropped, refused, timed out
            raise ChannelError(self.name, _http.redactor.redact(
                f"{type(exc).__name__}: {exc}")[:300], permanent=False) from None
        if refused:
            self._refused(refused, delivered=len(s.to) - len(refused))

    def _refused(self, recipients: dict[str, tuple[int, bytes]], *, delivered: int) -> None:
        who = "; ".join(f"{r} ({_reply(code, text)})" for r, (code, text) in recipients.items())
        # a temporary refusal of anyone is worth a retry (the others then get it twice)
        permanent = all(code >= 500 for code, _ in recipients.values())
        raise ChannelError(self.name, f"delivered to {delivered} of {len(self.settings.to)} "
                                      f"recipients; refused: {who}", permanent=permanent)
