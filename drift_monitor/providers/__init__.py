"""SEAM: one module per provider kind. The config key, registry key and module name are the same.

A provider turns one probe request into one :class:`~drift_monitor.providers.base.CallResult`,
or raises :class:`~drift_monitor.errors.ProviderCallError` saying whether a retry can help.
Adding a provider is one module, one line here and one test file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from drift_monitor.config import Config, TargetConfig
    from drift_monitor.providers.base import Provider

# registry key -> "module:Class"; imported lazily so config validation stays cheap
PROVIDERS: dict[str, str] = {
    "anthropic": "drift_monitor.providers.anthropic:AnthropicProvider",
    "azure_openai": "drift_monitor.providers.azure_openai:AzureOpenAIProvider",
    "bedrock": "drift_monitor.providers.bedrock:BedrockProvider",
    "gemini": "drift_monitor.providers.gemini:GeminiProvider",
    "openai": "drift_monitor.providers.openai:OpenAIProvider",
    "openai_responses": "drift_monitor.providers.openai_responses:OpenAIResponsesProvider",
    "replay": "drift_monitor.providers.replay:ReplayProvider",
    "vertex": "drift_monitor.providers.vertex:VertexProvider",
}


def provider_class(name: str) -> type[Provider]:
    module_name, _, cls_name = PROVIDERS[name].partition(":")
    module = importlib.import_module(module_name)
    cls: type[Provider] = getattr(module, cls_name)
    return cls


def make_provider(config: Config, target: TargetConfig,
                  transport: httpx.AsyncBaseTransport | None = None) -> Provider:
    """The target's provider, with its API key from the environment (ConfigError if unset)."""
    cls = provider_class(target.provider)
    return cls(target, api_key=config.api_key(target), base_dir=config.base_dir,
               transport=transport)
