"""What the HTTP channels (webhook, pagerduty) share: one POST, its failures classified, and the
secrets kept out of every error and log line.

Classification (the channel contract in base.py): 2xx delivered; 429, 408 and 5xx, timeouts,
refused or reset connections are temporary (retried by the outbox, at least Retry-After later);
every other status, a redirect included (never followed: it would carry the body elsewhere),
is permanent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from drift_monitor import __version__
from drift_monitor.errors import ChannelError

USER_AGENT = f"drift-monitor/{__version__}"
MAX_ERROR_BODY = 200  # characters of a refusal quoted in the error


class Redactor(logging.Filter):
    """Replaces known secret values in records of the HTTP libraries' loggers (httpx logs every
    request's URL at INFO, and a webhook URL is a secret)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


redactor = Redactor()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(redactor)


def remember_secrets(*values: str | None) -> None:
    """Values that must never appear in a log line or an error (at least 4 characters)."""
    redactor.secrets.update(v for v in values if v and len(v) >= 4)


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), None without one."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def excerpt(response: httpx.Response) -> str:
    """The start of an answer's body, redacted, on one line."""
    return " ".join(redactor.redact(response.text[:MAX_ERROR_BODY]).split())


def post(channel: str, url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         transport: httpx.BaseTransport | None = None,
         describe: Callable[[httpx.Response], str] = excerpt) -> httpx.Response:
    """POST ``body``; returns the 2xx response. Raises ChannelError(permanent=...) otherwise,
    with a detail built from the status and ``describe(response)`` (a redacted excerpt of the
    answer by default), never the URL."""
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                          headers={"User-Agent": USER_AGENT}) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise ChannelError(channel, f"timed out after {timeout:g} s ({type(exc).__name__})",
                           permanent=False) from None
    except httpx.UnsupportedProtocol:
        raise ChannelError(channel, "the URL is not http(s)", permanent=True) from None
    except (httpx.TransportError, OSError) as exc:
        # refused, reset, DNS: the exception text names the host at most, redacted anyway
        raise ChannelError(channel, redactor.redact(f"{type(exc).__name__}: {exc}")[:300],
                           permanent=False) from None
    except httpx.InvalidURL:
        raise ChannelError(channel, "the URL is not valid", permanent=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    said = redactor.redact(describe(response))
    detail = f"answered {status}" + (f": {said}" if said else "")
    if 300 <= status < 400:
        raise ChannelError(channel, f"{detail} (redirects are not followed)", permanent=True,
                           status=status)
    temporary = status in (408, 429) or status >= 500
    raise ChannelError(channel, detail, permanent=not temporary, status=status,
                       retry_after=retry_after(response.headers) if temporary else None)
