"""The digest as sent: built from the store (:mod:`drift_monitor.digest`), given the console's
links, and queued in the outbox for the digest's route. The daemon's weekly job and
``drift-monitor digest`` call these; the digest package itself knows no channel."""

from __future__ import annotations

from typing import Any

from drift_monitor import digest
from drift_monitor.alerting.links import add_digest_links
from drift_monitor.alerting.routes import make_router
from drift_monitor.clock import Clock, utc_now
from drift_monitor.config import Config
from drift_monitor.storage.queries import Store


def build_digest(config: Config, store: Store, *, days: int = 7,
                 now: Clock = utc_now) -> dict[str, Any]:
    """The digest payload of the ``days`` before now (:func:`drift_monitor.digest.build_digest`)
    with ``links`` to the console's pages when ``server.public_url`` is set."""
    payload = digest.build_digest(config, store, days=days, now=now)
    if config.settings.server.public_url:
        add_digest_links(payload, config.settings.server.public_url)
    return payload


def digest_key(payload: dict[str, Any], channel: str) -> str:
    """One digest per period and channel: sending the same day's digest twice sends it once."""
    return f"digest/{payload['start'][:10]}..{payload['end'][:10]}/{channel}"


def queue_digest(config: Config, store: Store, payload: dict[str, Any], *,
                 now: Clock = utc_now) -> list[str]:
    """Queue the digest for its channel (``digest.channel``, else the default route); returns
    the dedup keys (already queued ones included, so the caller can deliver exactly these).
    Raises ConfigError when that channel is unknown or not configured."""
    keys = []
    for channel in make_router(config).digest:
        key = digest_key(payload, channel)
        store.enqueue_notification({
            "dedup_key": key, "channel": channel, "kind": "digest", "reason": "digest",
            "payload": payload, "status": "pending", "attempts": 0, "created_at": now(),
            "next_attempt_at": now()})
        keys.append(key)
    return keys
