"""Smaller operational fixes of issue 14: probe progress (findings 7), cost estimates in
`validate`, `--json` output, structured logs without Alembic noise or raw APScheduler sentences
(finding 9), and bare "5m"/"1h" schedules (finding 10)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor.cli import main
from drift_monitor.cli._progress import RoundProgress
from drift_monitor.config import load_config, parse_schedule
from drift_monitor.daemon.logs import JsonFormatter, SchedulerEvents
from drift_monitor.estimate import estimate
from tests.daemon.conftest import write_project


def cli(config: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["--config", str(config), *args])
    return res.exit_code, res.output


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_off_a_terminal_is_a_plain_line_every_ten_seconds_even_while_stalled() -> None:
    out, clock = io.StringIO(), FakeClock()
    p = RoundProgress("gpt", stream=out, tty=False, clock=clock)
    clock.t = 5
    p(10, 100, 0)
    assert out.getvalue() == ""  # not yet ten seconds
    clock.t = 10
    p(20, 100, 2)
    clock.t = 20
    p(20, 100, 2)  # the runner's once-a-second tick while every call waits
    clock.t = 40
    p(100, 100, 2)
    lines = out.getvalue().splitlines()
    assert lines[0] == ("probe gpt: 20/100 calls, 2 failed, 2.0/s, 0m10s elapsed, "
                        "ETA 0m40s")
    assert lines[1].startswith("probe gpt: 20/100 calls, 2 failed, 1.0/s, 0m20s elapsed")
    assert lines[-1].endswith("ETA done") and len(lines) == 3
    p(100, 100, 2)  # closed: nothing more
    assert len(out.getvalue().splitlines()) == 3


def test_progress_on_a_terminal_is_a_tqdm_bar_with_the_failed_count() -> None:
    out = io.StringIO()
    p = RoundProgress("gpt", stream=out, tty=True)
    p(3, 10, 1)
    p(10, 10, 1)
    text = out.getvalue()
    assert "gpt" in text and "10/10" in text and "failed=1" in text


def test_probe_prints_the_cost_estimate_and_progress_and_json(tmp_path: Path) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", samples=3)
    res = CliRunner().invoke(main, ["--config", str(config), "probe", "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    (r,) = body["rounds"]
    assert r["target"] == "alpha" and r["status"] == "complete" and r["ok"] == 6
    assert "probe alpha: 6 calls a round" in res.stderr
    assert "probe alpha: 6/6 calls, 0 failed" in res.stderr


def test_validate_prints_calls_and_cost_per_round_and_month(tmp_path: Path) -> None:
    config = write_project(tmp_path, "sqlite:///v.db", samples=2, schedule="1h")
    code, out = cli(config, "validate")
    assert code == 0, out
    assert "cost: 4 calls a round, 2,880 a month (720 rounds)" in out
    code, out = cli(config, "validate", "--json")
    body = json.loads(out)
    (t,) = body["targets"]
    assert body["valid"] is True and t["calls_per_round"] == 4 and t["rounds_per_month"] == 720
    # price 1.0 in / 2.0 out per million tokens; no max_tokens: 300 output tokens a call
    expected = (t["input_tokens_per_round"] * 1.0 + 4 * 300 * 2.0) / 1e6
    assert t["cost_usd_per_round"] == pytest.approx(expected, rel=1e-3)
    assert t["cost_usd_per_month"] == pytest.approx(expected * 720, rel=1e-2)


def test_the_estimate_uses_max_tokens_as_an_upper_bound_and_counts_cron_rounds(
        tmp_path: Path) -> None:
    config = load_config(write_project(tmp_path, "sqlite:///e.db", schedule="0 9 * * *"))
    target = config.targets()[0].model_copy(update={"params": {"max_tokens": 50}})
    probes = config.load_probes().select(target.suites)
    est = estimate(target, probes)
    assert est.calls == 2 and est.output_tokens == 100 and est.output_is_bound
    assert est.rounds_per_month == 30
    assert "up to $" in est.describe()


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h", 3600), ("30s", 30),
                                               ("every 5m", 300), ("2d", 172800)])
def test_bare_durations_are_schedules_as_the_readme_and_template_say(text: str,
                                                                     seconds: int) -> None:
    assert parse_schedule(text).interval_seconds == seconds


def test_validate_accepts_5m_and_1h(tmp_path: Path) -> None:
    for schedule in ("5m", "1h"):
        config = write_project(tmp_path / schedule, "sqlite:///s.db", schedule=schedule)
        code, out = cli(config, "validate")
        assert code == 0 and f", {schedule}" in out, out


def test_cli_logs_carry_fields_and_no_alembic_narration(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.daemon.conftest import REPO

    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'l.db'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
    proc = subprocess.run([sys.executable, "-m", "drift_monitor", "--config", str(config), "-v",
                           "probe"], capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "Context impl" not in err and "Will assume" not in err and "Running upgrade" not in err
    assert "database migrated from_revision=empty to_revision=" in err
    assert "run finished run=1 target=alpha status=complete ok=2 failed=0" in err


def test_apscheduler_warnings_become_events_with_fields() -> None:
    record = logging.LogRecord(
        "apscheduler.scheduler", logging.WARNING, __file__, 1,
        'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
        ("round alpha (trigger: interval[0:00:01], next run at: 2026)", 1), None)
    assert SchedulerEvents().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "job skipped: its previous run still runs"
    assert line["job"].startswith("round alpha") and line["max_instances"] == "1"
    assert line["logger"] == "drift_monitor.daemon"
    assert line["scheduler_logger"] == "apscheduler.scheduler"
