"""The plugin registries: providers, channels and feature families, one shape for all three.

Each entry maps a name to where its code lives, ``"module:Class"`` (or ``"module"`` for a
feature family), and is imported only when it is first used: validating a config names no
plugin module, so ``drift-monitor validate`` never pays for slack-sdk or the cloud SDKs.

The registry key, the config key (``provider: openai``, ``notify.slack``) and the module name
are the same string; tests/test_registry.py holds every entry to that. A new plugin is one new
module, one line here and one test file.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from drift_monitor.alerting.channels.base import Channel
    from drift_monitor.providers.base import Provider

T = TypeVar("T")


class UnknownPluginError(KeyError):
    """A name no registry entry has; the message names the ones that exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    """``name -> "module:Class"`` (or ``"module"``), imported on first use.

    As a mapping, ``name in registry`` and iteration read only the names; ``registry[name]``
    (and ``load``, ``values``, ``items``) import the plugin."""

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._loaded: dict[str, T] = {}

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def location(self, name: str) -> str:
        """Where ``name`` lives (``"module:Class"`` or ``"module"``). Raises
        UnknownPluginError naming the available ones."""
        if name not in self._entries:
            raise UnknownPluginError(f"unknown {self.kind} '{name}' (available: "
                                     f"{', '.join(sorted(self._entries))})")
        return self._entries[name]

    def load(self, name: str) -> T:
        """The plugin registered as ``name`` (its class, or its module). Raises
        UnknownPluginError for an unknown name and ImportError when its module (or an optional
        dependency it needs at import) is missing."""
        if name not in self._loaded:
            module_name, _, attr = self.location(name).partition(":")
            module = importlib.import_module(module_name)
            found: Any = getattr(module, attr) if attr else module
            self._loaded[name] = found
        return self._loaded[name]

    def __getitem__(self, name: str) -> T:
        return self.load(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


PROVIDERS: Registry[type[Provider]] = Registry("provider", {
    "anthropic": "drift_monitor.providers.anthropic:AnthropicProvider",
    "azure_openai": "drift_monitor.providers.azure_openai:AzureOpenAIProvider",
    "bedrock": "drift_monitor.providers.bedrock:BedrockProvider",
    "gemini": "drift_monitor.providers.gemini:GeminiProvider",
    "openai": "drift_monitor.providers.openai:OpenAIProvider",
    "openai_responses": "drift_monitor.providers.openai_responses:OpenAIResponsesProvider",
    "replay": "drift_monitor.providers.replay:ReplayProvider",
    "vertex": "drift_monitor.providers.vertex:VertexProvider",
})

# console needs no settings; every other key is also a ``notify:`` section of the config
CHANNELS: Registry[type[Channel]] = Registry("channel", {
    "console": "drift_monitor.alerting.channels.console:ConsoleChannel",
    "slack": "drift_monitor.alerting.channels.slack:SlackChannel",
    "webhook": "drift_monitor.alerting.channels.webhook:WebhookChannel",
    "pagerduty": "drift_monitor.alerting.channels.pagerduty:PagerDutyChannel",
    "email": "drift_monitor.alerting.channels.email:EmailChannel",
})

FAMILIES: Registry[ModuleType] = Registry("feature family", {
    "formatting": "drift_monitor.features.formatting",
    "tone": "drift_monitor.features.tone",
    "answers": "drift_monitor.features.answers",
})
