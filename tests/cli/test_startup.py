"""Start-up: `drift-monitor --help` loads no command module and none of the heavy libraries,
and lists every command with the short help its own docstring gives (benchmarks/startup.py
measures the time)."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from drift_monitor.cli._base import COMMANDS, main

HEAVY = ("sqlalchemy", "alembic", "scipy", "sklearn", "numpy", "matplotlib", "httpx",
         "slack_sdk", "apscheduler", "starlette", "uvicorn", "prometheus_client", "jinja2",
         "pydantic")

_HELP_IN_FRESH_PROCESS = """
import json, sys
from click.testing import CliRunner
import drift_monitor.cli
result = CliRunner().invoke(drift_monitor.cli.main, ["--help"])
assert result.exit_code == 0, result.output
print(json.dumps({"output": result.output, "modules": sorted(sys.modules)}))
"""


def _fresh(code: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_help_imports_no_command_module_and_no_heavy_library() -> None:
    got = _fresh(_HELP_IN_FRESH_PROCESS)
    modules = set(got["modules"])  # type: ignore[call-overload]
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == []
    commands = {spec.partition(":")[0] for spec, _ in COMMANDS.values()}
    assert sorted(commands & modules) == []
    assert "drift_monitor.config" not in modules
    for name in COMMANDS:
        assert f"\n  {name} " in str(got["output"])


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_lazy_help_is_the_commands_own_first_paragraph(name: str) -> None:
    """What `--help` prints without importing a command is what the command itself says."""
    spec, help_text = COMMANDS[name]
    module_name, _, attr = spec.partition(":")
    command = getattr(importlib.import_module(module_name), attr)
    assert isinstance(command, click.Command) and command.name == name
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert " ".join(first.split()) == help_text
    for limit in (30, 45, 60, 200):
        assert click.utils.make_default_short_help(help_text, limit) == \
            command.get_short_help_str(limit)


def test_every_command_runs_through_the_lazy_group() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: main {name} "), result.output


def test_a_mistyped_command_is_told_the_nearest_name_even_when_not_loaded() -> None:
    result = CliRunner().invoke(main, ["inciden"])
    assert result.exit_code == 2 and "No such command 'inciden'" in result.output
    if hasattr(click.exceptions, "NoSuchCommand"):  # click 8.2+ suggests names
        assert "Did you mean 'incidents'?" in result.output


def test_every_command_a_cli_module_defines_is_in_the_lazy_map() -> None:
    """A command added to a module but not to COMMANDS would be missing from `--help`."""
    import pkgutil

    import drift_monitor.cli as cli_package

    for info in pkgutil.iter_modules(cli_package.__path__):
        module = importlib.import_module(f"drift_monitor.cli.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, click.Command) and value is not main \
                    and value.callback is not None and value.name in main.commands:
                assert COMMANDS[value.name][0] == f"{module.__name__}:{attr}"
    assert set(main.commands) <= set(COMMANDS)
_VALIDATE_IN_FRESH_PROCESS = """
import json, sys
from click.testing import CliRunner
import drift_monitor.cli
result = CliRunner().invoke(drift_monitor.cli.main,
                            ["--config", sys.argv[1] + "/drift-monitor.yaml", "validate"])
assert result.exit_code == 0, result.output
print(json.dumps({"output": result.output, "modules": sorted(sys.modules)}))
"""

# what `validate` needs: pydantic, yaml, jsonschema and regex for the probes, and APScheduler's
# cron parser for cron schedules (the one the daemon runs them with)
VALIDATE_MAY_LOAD = {"pydantic", "apscheduler"}


def test_validate_loads_no_database_http_or_science_library(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    done = subprocess.run([sys.executable, "-c", _VALIDATE_IN_FRESH_PROCESS, str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert "valid" in got["output"]
    loaded = sorted(m for m in got["modules"]
                    if m.split(".")[0] in set(HEAVY) - VALIDATE_MAY_LOAD)
    assert loaded == []
