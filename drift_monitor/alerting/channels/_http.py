"""What the HTTP channels (webhook, pagerduty) share: one POST, its failures classified, and the
secrets kept out of every error and log line. Private plumbing, so no channel plugin imports
another: email uses the same redaction and the same stable payload id (``message_id``).

Classification (the channel contract in base.py): 2xx delivered; 429, 408 and 5xx, timeouts,
refused or reset connections are temporary (retried by the outbox, at least Retry-After later);
every other status, a redirect included (never followed: it would carry the body elsewhere),
is permanent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

from drift_monitor.errors import ChannelError
from drift_monitor.httputil import USER_AGENT, retry_after
from drift_monitor.redaction import Redactor

MAX_ERROR_BODY = 200  # characters of a refusal quoted in the error


# httpx logs every request's URL at INFO, and a webhook URL is a secret
redactor = Redactor()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(redactor)


def remember_secrets(*values: str | None) -> None:
    """Values that must never appear in a log line or an error (at least 4 characters)."""
    redactor.add(*values)


def message_id(payload: dict[str, Any]) -> str:
    """A stable id for a payload: its retries carry the same id, another message never does
    (the webhook's ``webhook-id``, the mail's ``Message-ID``)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "msg_" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


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
