"""Helpers for the wire-format tests: one call through a real provider to a fake server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from drift_monitor.errors import ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest
from drift_monitor.runner import make_provider
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import make_config


def call(server: FakeLLMServer, tmp_path: Path, messages: list[dict[str, str]],
         params: dict[str, Any] | None = None, **target: Any) -> CallResult | ProviderCallError:
    """Send one request with the provider for ``server``'s dialect; the result or the error."""
    config, tgt = make_config(tmp_path, server, params=params or {}, **target)

    async def go() -> CallResult | ProviderCallError:
        provider = make_provider(config, tgt)
        try:
            return await provider.send(ProbeRequest(messages=tuple(messages),
                                                    params=tgt.params))
        except ProviderCallError as exc:
            return exc
        finally:
            await provider.aclose()

    return asyncio.run(go())


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
