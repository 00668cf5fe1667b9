"""Notification channels. The registry key, the config key under ``notify:`` and the module name
are the same string: ``slack`` -> ``notify.slack`` -> ``channels/slack/`` (likewise
``webhook``, ``pagerduty`` and ``email``). ``console`` needs no configuration and is used when no
other channel is configured. Which channel hears about what is alerting/routes.py's business.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from drift_monitor.alerting.channels.base import Channel, ChannelError

if TYPE_CHECKING:
    from drift_monitor.config import Config

# registry key -> "module:Class", imported when a channel is used: validate and the CLI need
# the names, not httpx and slack-sdk
CHANNELS: dict[str, str] = {
    "console": "drift_monitor.alerting.channels.console:ConsoleChannel",
    "slack": "drift_monitor.alerting.channels.slack:SlackChannel",
    "webhook": "drift_monitor.alerting.channels.webhook:WebhookChannel",
    "pagerduty": "drift_monitor.alerting.channels.pagerduty:PagerDutyChannel",
    "email": "drift_monitor.alerting.channels.email:EmailChannel",
}


def channel_class(name: str) -> type[Channel]:
    """The class of channel ``name`` (a key of CHANNELS)."""
    module_name, _, cls_name = CHANNELS[name].partition(":")
    cls: type[Channel] = getattr(importlib.import_module(module_name), cls_name)
    return cls


__all__ = ["CHANNELS", "Channel", "ChannelError", "channel_class", "channel_names",
           "make_channel"]


def channel_names(config: Config) -> list[str]:
    """The channels a new notification is queued for: every configured one, else console."""
    notify = config.settings.notify
    names = [name for name in CHANNELS if name != "console" and getattr(notify, name, None)]
    return names or ["console"]


def make_channel(name: str, config: Config) -> Channel:
    """Build channel ``name`` from the config. Raises ConfigError when its secret env var is unset
    and ChannelError(permanent=True) when the channel is unknown or no longer configured."""
    if name not in CHANNELS:
        raise ChannelError(name, f"unknown channel (known: {', '.join(CHANNELS)})",
                           permanent=True)
    if name != "console" and not getattr(config.settings.notify, name, None):
        raise ChannelError(name, f"notify.{name} is no longer configured", permanent=True)
    return channel_class(name)(config)
