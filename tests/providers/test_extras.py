"""The cloud kinds' optional extras: never imported until a target of that kind runs; when one
is missing, the advice names the extra; `validate` reports every problem, one line each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drift_monitor.cli import main
from tests.fakes.llm_servers import FakeLLMServer

HEAVY = ("botocore", "azure.identity", "azure.core", "google.auth", "google.oauth2")
Setup = Callable[[FakeLLMServer], tuple[dict[str, Any], list[str]]]


def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, **(env or {})})
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow  # fresh interpreters in subprocesses
def test_importing_the_package_and_help_import_no_cloud_sdk() -> None:
    loaded = _modules_after(
        "import drift_monitor, drift_monitor.cli, drift_monitor.runner, drift_monitor.config\n"
        "import drift_monitor.providers.azure_openai, drift_monitor.providers.bedrock\n"
        "import drift_monitor.providers.vertex, drift_monitor.providers.openai_responses\n"
        "from click.testing import CliRunner\n"
        "r = CliRunner().invoke(drift_monitor.cli.main, ['--help'])\n"
        "assert r.exit_code == 0, r.output")
    assert not {m for m in loaded if m.startswith(HEAVY)}


def _project(tmp_path: Path, targets: list[dict[str, Any]]) -> Path:
    (tmp_path / "probes").mkdir(exist_ok=True)
    (tmp_path / "probes" / "s.yaml").write_text("suite: s\nprobes:\n  - id: a\n    prompt: hi\n")
    config = tmp_path / "drift-monitor.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{tmp_path / 'dm.db'}",
                                      "targets": [{"suites": ["s"], **t} for t in targets]},
                                     sort_keys=False))
    return config


def _cli(config: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--config", str(config), *args])
    return r.exit_code, r.output


def test_validate_reports_each_offline_problem_on_its_own_line_with_file_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    config = _project(tmp_path, [
        {"name": "a", "provider": "azure_openai", "model": "gpt-4o",
         "base_url": "https://r.openai.azure.com/openai/deployments/x/chat/completions",
         "api_version": "2024-10", "api_key_env": "AZ_KEY"},
        {"name": "b", "provider": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0"},
        {"name": "c", "provider": "vertex", "model": "gemini-1.5-pro-002",
         "location": "us central"}])
    code, out = _cli(config, "validate")
    assert code == 2, out
    lines = [line for line in out.splitlines() if "target '" in line]
    assert len(lines) == 5, out
    text = "\n".join(lines)
    assert f"{config.resolve()}:3: target 'a' (azure_openai): base_url" in text
    assert "api_version '2024-10' is neither" in text
    assert "target 'b' (bedrock): bedrock needs region" in text
    assert "target 'c' (vertex): vertex needs project" in text
    assert "location 'us central' is not a Vertex AI location" in text
    assert "invalid: 5 problem(s)" in out and "Traceback" not in out


def test_validate_passes_cloud_targets_and_names_a_missing_key_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZ_KEY_UNSET", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    targets = [{"name": "b", "provider": "bedrock", "region": "eu-west-1",
                "model": "anthropic.claude-3-haiku-20240307-v1:0"},
               {"name": "d", "provider": "openai_responses", "model": "gpt-4.1"}]
    code, out = _cli(_project(tmp_path, targets), "validate")
    assert code == 0, out
    assert "target b: bedrock anthropic.claude-3-haiku-20240307-v1:0" in out and "valid" in out
    targets.append({"name": "a", "provider": "azure_openai", "model": "gpt-4o",
                    "base_url": "https://r.openai.azure.com", "api_version": "2024-10-21",
                    "api_key_env": "AZ_KEY_UNSET"})
    code, out = _cli(_project(tmp_path, targets), "validate")
    assert code == 2 and "AZ_KEY_UNSET is not set" in out and "targets.2.api_key_env" in out


@pytest.mark.slow  # fresh interpreters in subprocesses
@pytest.mark.parametrize("module,extra,target", [
    ("botocore", "bedrock", {"provider": "bedrock", "region": "us-east-1",
                             "model": "anthropic.claude-3-haiku-20240307-v1:0"}),
    ("google.auth", "vertex", {"provider": "vertex", "project": "my-project",
                               "model": "gemini-1.5-pro-002"}),
    ("azure.identity", "azure", {"provider": "azure_openai", "model": "gpt-4o",
                                 "base_url": "https://r.openai.azure.com",
                                 "api_version": "2024-10-21"})])
@pytest.mark.parametrize("command", ["validate", "probe"])
def test_a_missing_extra_is_advice_not_a_traceback(
        tmp_path: Path, module: str, extra: str, target: dict[str, Any], command: str) -> None:
    config = _project(tmp_path, [{"name": "x", **target}])
    # a fresh interpreter where the extra cannot be imported
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from drift_monitor.cli import main\n"
            f"main(['--config', {str(config)!r}, {command!r}])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"pip install 'drift-monitor[{extra}]'" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "dm.db").exists() or command == "probe"


@pytest.mark.slow  # fresh interpreters in subprocesses
def test_a_target_of_a_cloud_kind_imports_its_sdk_only_when_it_runs(
        tmp_path: Path, fake_server: Callable[..., FakeLLMServer],
        cloud_credentials: Setup) -> None:
    server = fake_server("bedrock")
    spec, _ = cloud_credentials(server)
    config = _project(tmp_path, [{"name": "b", "base_url": server.base_url, **spec}])
    env = {k: os.environ[k] for k in os.environ if k.startswith("AWS_")}
    loaded = _modules_after(
        "from drift_monitor.config import load_config\n"
        f"load_config({str(config)!r})", env)
    assert "botocore" not in loaded
    loaded = _modules_after(
        "from drift_monitor.cli import main\n"
        "from click.testing import CliRunner\n"
        f"r = CliRunner().invoke(main, ['--config', {str(config)!r}, 'probe'])\n"
        "assert r.exit_code == 0, r.output", env)
    assert "botocore" in loaded and not {m for m in loaded if m.startswith(("azure", "google"))}


def test_inits_commented_cloud_targets_are_valid_config_once_uncommented() -> None:
    from importlib import resources

    from drift_monitor.config import Settings

    text = (resources.files("drift_monitor") / "templates" / "drift-monitor.yaml").read_text()
    block = text.split("# Models pinned on a cloud platform")[1].split("\nbaseline:")[0]
    targets = "\n".join(line.replace("  # ", "  ", 1) for line in block.splitlines()
                        if line.startswith(("  # - ", "  #   ")))
    settings = Settings.model_validate(yaml.safe_load("targets:\n" + targets))
    assert [t.provider for t in settings.targets] == ["azure_openai", "bedrock", "vertex",
                                                      "openai_responses"]
    assert settings.targets[0].deployment == "prod-gpt4o"
