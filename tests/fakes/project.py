"""A project on disk (config + one probe suite) and a CLI runner, for the tests that drive the
real CLI with hostile input (tests/hostile, tests/storage/test_storage_faults.py, ...)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drift_monitor.cli import main

API_KEY = "sk-hostile-SECRET-0123456789abcdef"
KEY_ENV = "DRIFT_HOSTILE_KEY"


def write_project(root: Path, *, provider: str, db_url: str, prompts: list[str],
                  base_url: str | None = None, params: dict[str, Any] | None = None,
                  expect: dict[str, dict[str, Any]] | None = None) -> Path:
    """``root`` with a drift-monitor.yaml naming one target ``t`` and a suite ``s`` holding
    one probe per prompt (id = prompt, one sample each)."""
    (root / "probes").mkdir(parents=True, exist_ok=True)
    target: dict[str, Any] = {"name": "t", "provider": provider, "model": "m-requested",
                              "suites": ["s"], "samples": 1, "params": params or {},
                              "limits": {"timeout_s": 5, "max_attempts": 1}}
    if base_url:
        target.update(base_url=base_url, api_key_env=KEY_ENV)
    (root / "drift-monitor.yaml").write_text(yaml.safe_dump(
        {"database": db_url, "targets": [target]}, sort_keys=False))
    probes = [{"id": p, "prompt": p, **({"expect": expect[p]} if expect and p in expect
                                         else {})} for p in prompts]
    (root / "probes" / "s.yaml").write_text(json.dumps({"suite": "s", "probes": probes}))
    return root


def run_cli(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(project / "drift-monitor.yaml"), *args],
                                catch_exceptions=True)
    out = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        out += "".join(traceback.format_exception(result.exception))
    return result.exit_code, out


def assert_no_traceback(output: str, caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in output, output[-3000:]
    for record in caplog.records:
        assert record.exc_info is None, f"{record.levelname} {record.getMessage()} logged a " \
                                        "traceback"
        assert "Traceback" not in record.getMessage(), record.getMessage()[-2000:]
