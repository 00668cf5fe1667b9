"""Helpers for the wire-format tests: one call through a real provider to a fake server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drift_monitor.errors import ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest
from drift_monitor.runner import make_provider
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import KEY_ENV, make_config


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


def cli_project(tmp_path: Path, server: FakeLLMServer, spec: dict[str, Any], db_url: str, *,
                probes: int = 10, samples: int = 2) -> Callable[..., tuple[int, str]]:
    """A project whose one target ``t`` (``spec``: provider, model and its keys) probes
    ``server``; returns a function that runs the CLI on it: (exit code, output)."""
    import yaml
    from click.testing import CliRunner

    from drift_monitor.cli import main

    (tmp_path / "probes").mkdir(exist_ok=True)
    (tmp_path / "probes" / "cloud.yaml").write_text(yaml.safe_dump({
        "suite": "cloud", "probes": [{"id": f"q{i}", "prompt": f"question {i}"}
                                     for i in range(probes)]}))
    target = {"name": "t", "base_url": server.base_url, "api_key_env": KEY_ENV, **spec,
              "suites": ["cloud"], "samples": samples,
              "limits": {"timeout_s": 5, "max_attempts": 2}}
    if target["api_key_env"] is None:
        del target["api_key_env"]
    config = tmp_path / "drift-monitor.yaml"
    config.write_text(yaml.safe_dump({"database": db_url, "targets": [target],
                                      "baseline": {"min_runs": 3},
                                      "detection": {"window_runs": 1, "confirm": False}}))

    def cli(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(main, ["--config", str(config), *args])
        return r.exit_code, r.output

    return cli


def baseline_then_check(cli: Callable[..., tuple[int, str]], change: Callable[[], None],
                        ) -> dict[str, Any]:
    """Three rounds (the automatic baseline), ``change()``, one more round, then ``check
    --json``: the one check's object (asserting the rounds and the check ran)."""
    for _ in range(3):
        code, out = cli("probe")
        assert code == 0, out
    change()
    code, out = cli("probe")
    assert code == 0, out
    code, out = cli("check", "--json", "--no-notify")
    assert code in (0, 1), out
    checks = json.loads(out)["checks"]
    assert len(checks) == 1
    check: dict[str, Any] = checks[0]
    return check
