"""The control arm: a floating alias names its pinned snapshot as ``control``. When only the
alias drifts, the alert says the provider changed it; when both drift together, it says the
harness or network is the likely cause. ``control`` must name another target."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor.alerting.control import control_lines
from drift_monitor.cli import main
from drift_monitor.config import load_config
from drift_monitor.errors import ConfigError

TEMPLATES = Path(__file__).resolve().parents[2] / "drift_monitor" / "templates" / "probes"
CONFIG = """\
database: {db}
targets:
  - name: alias
    provider: replay
    model: gpt-3.5-turbo
    suites: [gpt35-coding, gpt35-sensitive]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{alias}"}}
    control: pinned
  - name: pinned
    provider: replay
    model: gpt-3.5-turbo-0301
    suites: [gpt35-coding, gpt35-sensitive]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{pinned}"}}
"""


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code in (0, 1), result.output
    return result.output


def alert_after(tmp_path: Path, db: str, *, alias: str, pinned: str) -> str:
    """Three March rounds of both targets, then one round with the given snapshots; the text
    of the alert `notify` delivers to the console."""
    shutil.copytree(TEMPLATES, tmp_path / "probes")
    config = tmp_path / "drift-monitor.yaml"
    config.write_text(CONFIG.format(db=db, alias="2023-03", pinned="2023-03"))
    for _ in range(3):
        run(config, "probe")
    config.write_text(CONFIG.format(db=db, alias=alias, pinned=pinned))
    run(config, "probe")
    run(config, "check")
    return run(config, "notify")


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_only_the_alias_drifts_so_the_alert_says_the_provider_changed_it(
        db_url: str, tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    out = alert_after(tmp_path, db_url, alias="2023-06", pinned="2023-03")
    assert "DRIFT on alias" in out
    assert ("The control target pinned (gpt-3.5-turbo-0301, pinned) did not drift" in out
            and "the provider changed gpt-3.5-turbo." in out)
    assert "harness or network" not in out


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_alias_and_control_drift_together_so_the_alert_blames_the_harness(
        tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    out = alert_after(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", alias="2023-06",
                      pinned="2023-06")
    assert "DRIFT on alias" in out
    assert "The control target pinned drifted too" in out
    assert "the harness or network is the likely cause" in out
    assert "the provider changed" not in out


def test_a_control_without_a_recent_check_says_it_cannot_tell() -> None:
    control = {"target": "pinned", "model": "m-0301", "checked_at": None, "recent": False,
               "drifted": []}
    (line,) = control_lines(control, ["formatting"], "m")
    assert "has not been checked ever" in line and "cannot tell" in line
    assert control_lines(None, ["formatting"], "m") == []


def test_mixed_dimensions_get_one_verdict_each() -> None:
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    control = {"target": "pinned", "model": "m-0301", "checked_at": at, "recent": True,
               "drifted": ["operational"]}
    both, only = control_lines(control, ["formatting", "operational"], "m")
    assert "drifted too (operational)" in both
    assert "did not drift (formatting): the provider changed m." in only


@pytest.mark.parametrize(("control", "message"), [
    ("alias", "cannot be its own control"),
    ("nobody", "control 'nobody' of target 'alias' is not a target"),
])
def test_control_must_name_another_target(control: str, message: str, tmp_path: Path,
                                          clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "drift-monitor.yaml"
    path.write_text(CONFIG.format(db="sqlite:///x.db", alias="2023-03", pinned="2023-03")
                    .replace("control: pinned", f"control: {control}"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "targets.0.control" in str(err.value)
    assert "drift-monitor.yaml:9," in str(err.value), "the line of the control key"
