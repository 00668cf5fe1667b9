"""One name, three places: a plugin's registry key, its config key and its module name agree."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from drift_monitor.config import NotifyConfig, TargetConfig
from drift_monitor.registry import CHANNELS, FAMILIES, PROVIDERS, Registry, UnknownPluginError


@pytest.mark.parametrize("name", PROVIDERS.names())
def test_provider_key_is_its_module_name_and_its_config_key(name: str) -> None:
    cls = PROVIDERS.load(name)
    assert cls.__module__ == f"drift_monitor.providers.{name}"
    assert cls.name == name
    try:  # the config accepts the key as a provider (other keys a kind needs may be missing)
        TargetConfig.model_validate({"name": "t", "provider": name, "model": "m",
                                     "suites": ["s"]})
    except ValidationError as exc:
        assert "unknown provider" not in str(exc)
    with pytest.raises(ValidationError, match="unknown provider 'nope' \\(available: anthropic"):
        TargetConfig.model_validate({"name": "t", "provider": "nope", "model": "m",
                                     "suites": ["s"]})


@pytest.mark.parametrize("name", CHANNELS.names())
def test_channel_key_is_its_module_name_and_its_notify_section(name: str) -> None:
    cls = CHANNELS.load(name)
    assert cls.__module__.startswith(f"drift_monitor.alerting.channels.{name}")
    assert cls.name == name
    assert name == "console" or name in NotifyConfig.model_fields


@pytest.mark.parametrize("name", FAMILIES.names())
def test_feature_family_key_is_its_module_name(name: str) -> None:
    assert FAMILIES.load(name).__name__ == f"drift_monitor.features.{name}"


def test_unknown_name_names_the_available_ones() -> None:
    registry: Registry[object] = Registry("widget", {"b": "json:loads", "a": "json"})
    assert "a" in registry and "c" not in registry and list(registry) == ["b", "a"]
    with pytest.raises(UnknownPluginError, match=r"unknown widget 'c' \(available: a, b\)"):
        registry.load("c")
    assert registry.get("c") is None
    assert registry.load("a").__name__ == "json"


def test_validating_a_config_imports_no_provider_or_channel() -> None:
    code = ("import sys, drift_monitor.config; "
            "print(sorted(m for m in sys.modules if m.startswith(('drift_monitor.providers', "
            "'drift_monitor.alerting'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
