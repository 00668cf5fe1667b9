"""Notification channels. The registry key, the config key under ``notify:`` and the module name
are the same string: ``slack`` -> ``notify.slack`` -> ``channels/slack/`` (likewise
``webhook``, ``pagerduty`` and ``email``). ``console`` needs no configuration and is used when no
other channel is configured. Which channel hears about what is alerting/routes.py's business.
"""

from __future__ import annotations

from drift_monitor.alerting.channels.base import Channel, ChannelError
from drift_monitor.alerting.channels.console import ConsoleChannel
from drift_monitor.alerting.channels.email import EmailChannel
from drift_monitor.alerting.channels.pagerduty import PagerDutyChannel
from drift_monitor.alerting.channels.slack import SlackChannel
from drift_monitor.alerting.channels.webhook import WebhookChannel
from drift_monitor.config import Config

CHANNELS: dict[str, type[Channel]] = {
    "console": ConsoleChannel,
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "pagerduty": PagerDutyChannel,
    "email": EmailChannel,
}

__all__ = ["CHANNELS", "Channel", "ChannelError", "channel_names", "make_channel"]


def channel_names(config: Config) -> list[str]:
    """The channels a new notification is queued for: every configured one, else console."""
    notify = config.settings.notify
    names = [name for name in CHANNELS if name != "console" and getattr(notify, name, None)]
    return names or ["console"]


def make_channel(name: str, config: Config) -> Channel:
    """Build channel ``name`` from the config. Raises ConfigError when its secret env var is unset
    and ChannelError(permanent=True) when the channel is unknown or no longer configured."""
    cls = CHANNELS.get(name)
    if cls is None:
        raise ChannelError(name, f"unknown channel (known: {', '.join(CHANNELS)})",
                           permanent=True)
    if name != "console" and not getattr(config.settings.notify, name, None):
        raise ChannelError(name, f"notify.{name} is no longer configured", permanent=True)
    return cls(config)
