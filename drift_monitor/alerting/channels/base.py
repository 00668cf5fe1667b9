"""The channel seam: one required method, one error contract.

``Channel.send(payload)`` returns None when the message was delivered and raises
:class:`~drift_monitor.errors.ChannelError` otherwise, with ``permanent=True`` when another
attempt cannot help (the outbox then marks the notification failed and shows it) and
``permanent=False`` when it can (the outbox retries later, honouring ``retry_after``). Anything
else a channel raises is a bug; the outbox treats it as temporary and logs it.

A channel reads its secrets from the environment when it is built (at send time, never from the
database) and never puts them in a message, a log line or an error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from drift_monitor.errors import ChannelError

if TYPE_CHECKING:
    from drift_monitor.config import Config

__all__ = ["Channel", "ChannelError"]


class Channel(ABC):
    """Delivers outbox payloads (see alerting/message.py and digest/build.py for their shapes)."""

    name: ClassVar[str]
    # False for a channel that only carries incidents (PagerDuty): routes never send it a digest
    carries_digest: ClassVar[bool] = True

    def __init__(self, config: Config) -> None:
        """Build the channel from ``notify.<name>``; secrets are read from the environment here
        (raise ConfigError naming the env var when one is unset)."""
        self.config: Config | None = config

    @abstractmethod
    def send(self, payload: dict[str, Any]) -> None:
        """Deliver one message. Raises ChannelError(permanent=...) when it was not delivered."""
