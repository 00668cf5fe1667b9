"""The ``webhook`` channel: every message as one signed JSON POST, for whatever receives webhooks.

The body is ``{"type": "drift_monitor.alert", "timestamp": ..., "text": ..., "data": payload}``
(``type`` ends in ``alert``, ``resolved``, ``accepted`` or ``digest``; ``data`` is the outbox
payload, see alerting/message.py; ``text`` the plain-text rendering).

Signing follows Standard Webhooks (https://www.standardwebhooks.com), so existing receivers and
libraries verify it:

- ``webhook-id``: the message's id, the same on every retry (deliveries are at least once: a
  receiver deduplicates on it);
- ``webhook-timestamp``: Unix seconds when this attempt was sent (reject old ones: replays);
- ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over ``{id}.{timestamp}.{body}``.

The key is the secret from ``secret_env``: a ``whsec_`` secret is base64 after the prefix (as
Standard Webhooks libraries generate it); any other value is used as its UTF-8 bytes.

The URL and the secret are read from the environment when the channel is built and never
appear in a message, an error or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from drift_monitor.alerting.channels import _http
from drift_monitor.alerting.channels.base import Channel, ChannelError
from drift_monitor.alerting.render import render_payload
from drift_monitor.config import Config
from drift_monitor.errors import ConfigError
from drift_monitor.yamlio import line_for


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: base64 after ``whsec_``, else the UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": f"drift_monitor.{payload.get('kind', 'alert')}",
            "timestamp": payload.get("sent_at") or payload.get("end"),
            "text": render_payload(payload), "data": payload}


class WebhookChannel(Channel):
    """POSTs signed JSON to ``notify.webhook``'s URL."""

    name = "webhook"

    def __init__(self, config: Config, *, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """Reads the URL and the secret from the environment now. Raises ConfigError naming
        the env var when one is unset or the secret is malformed."""
        settings = config.settings.notify.webhook
        if settings is None:
            raise ChannelError(self.name, "notify.webhook is not configured", permanent=True)
        key = ("notify", "webhook")
        self._url = config.secret(settings.url_env, (*key, "url_env")) or ""
        secret = config.secret(settings.secret_env, (*key, "secret_env")) or ""
        _http.remember_secrets(self._url, secret)
        try:
            self._key = signing_key(secret)
        except ValueError as exc:
            raise ConfigError(f"environment variable {settings.secret_env}: {exc}",
                              file=str(config.path), key="notify.webhook.secret_env",
                              line=line_for((*key, "secret_env"), config.lines)) from None
        self.timeout = settings.timeout_s
        self.transport, self.clock = transport, clock

    def __repr__(self) -> str:  # never show the URL or the key, even in a traceback
        return "WebhookChannel()"

    def send(self, payload: dict[str, Any]) -> None:
        """POST one message. Raises ChannelError(permanent=...) when the receiver did not take
        it (see _http.post for which answers are temporary)."""
        body = json.dumps(webhook_body(payload), ensure_ascii=False, default=str).encode()
        msg_id, ts = _http.message_id(payload), int(self.clock())
        headers = {"Content-Type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(ts),
                   "webhook-signature": sign(self._key, msg_id, ts, body)}
        _http.post(self.name, self._url, body, headers, timeout=self.timeout,
                   transport=self.transport)
