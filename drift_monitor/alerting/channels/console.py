"""The ``console`` channel: prints the message as plain text (used when Slack is not configured).

Writes to stdout (or the stream it is given) and logs one line per message, so a cron job's
output or a daemon's log shows every alert even without Slack.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from drift_monitor.alerting.channels.base import Channel, ChannelError
from drift_monitor.alerting.render import render_payload
from drift_monitor.config import Config

log = logging.getLogger(__name__)


class ConsoleChannel(Channel):
    name = "console"

    def __init__(self, config: Config | None = None, *, stream: IO[str] | None = None) -> None:
        self.config = config
        self.stream = stream

    def send(self, payload: dict[str, Any]) -> None:
        """Print the message; a closed or broken stream is a temporary ChannelError."""
        text = render_payload(payload)
        stream = self.stream or sys.stdout
        try:
            stream.write(text + "\n\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise ChannelError(self.name, f"cannot write to the console: {exc}",
                               permanent=False) from None
        log.info("console: %s %s for %s (%s)", payload.get("kind"), payload.get("reason"),
                 payload.get("target", "all targets"), payload.get("dimension", "digest"))
