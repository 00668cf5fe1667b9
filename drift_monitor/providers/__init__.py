"""SEAM: one module per provider kind. The config key, registry key and module name are the same.

A provider turns one probe request into one :class:`~drift_monitor.providers.base.CallResult`,
or raises :class:`~drift_monitor.errors.ProviderCallError` saying whether a retry can help.
Adding a provider is one module, one line in drift_monitor/registry.py and one test file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drift_monitor.registry import PROVIDERS

if TYPE_CHECKING:
    import httpx

    from drift_monitor.config import Config, TargetConfig
    from drift_monitor.providers.base import Provider

__all__ = ["PROVIDERS", "provider_class"]


def provider_class(name: str) -> type[Provider]:
    """The provider class registered as ``name`` (see drift_monitor.registry), imported now.
    Raises UnknownPluginError (a KeyError) naming the known providers."""
    return PROVIDERS.load(name)


def make_provider(config: Config, target: TargetConfig,
                  transport: httpx.AsyncBaseTransport | None = None) -> Provider:
    """The target's provider, with its API key from the environment (ConfigError if unset)."""
    cls = provider_class(target.provider)
    return cls(target, api_key=config.api_key(target), base_dir=config.base_dir,
               transport=transport)
