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

from drift_monitor.app.estimate import estimate
from drift_monitor.cli import main
from drift_monitor.cli._progress import RoundProgress
from drift_monitor.config import load_config, parse_schedule
from drift_monitor.daemon.logs import JsonFormatter, SchedulerEvents
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


@pytest.mark.slow  # a drift-monitor subprocess
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


def test_a_stalled_round_still_reports_progress_once_a_second(tmp_path: Path) -> None:
    """Finding 7: with every call waiting, `probe` used to say nothing until the round ended."""
    import asyncio

    from drift_monitor.runner import probe_round
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    config = load_config(write_project(tmp_path, f"sqlite:///{tmp_path / 't.db'}",
                                       delay=1.6, concurrency=2))
    engine = make_engine(config.database_url)
    ensure_schema(engine)
    seen: list[tuple[int, int, int]] = []
    target = config.targets()[0]
    asyncio.run(probe_round(config, target, Store(engine),
                            config.load_probes().select(target.suites),
                            progress=lambda *a: seen.append(a)))
    engine.dispose()
    assert (0, 2, 0) in seen  # a tick while both calls were still waiting
    assert seen[-1] == (2, 2, 0) or (2, 2, 0) in seen


def test_decreases_read_as_decreases() -> None:
    """Finding 8: "code now arrives inside fences in 62% (was 98%)" read as an increase."""
    from drift_monitor.detection.findings import describe

    down = describe("code_fence_rate", "binary", 0.98, 0.62, -0.36, False, "", None, "coding")
    assert down == ("fewer answers put code inside markdown fences: 62% (was 98%) in suite "
                    "coding")
    up = describe("code_fence_rate", "binary", 0.62, 0.98, 0.36, False, "", None)
    assert up.startswith("code now arrives inside markdown fences in 98%")
    assert describe("apology_rate", "binary", 0.5, 0.2, -0.3, False, "", None) == \
        "apology rate fell to 20% (was 50%)"


def test_compare_never_says_nothing_above_a_pass_rate_that_clearly_fell() -> None:
    """Finding 8: "Breaks: nothing measurable" above a table where primes fell 68% -> 56%."""
    from drift_monitor.compare.report import PassRates, Usage, verdicts
    from drift_monitor.compare.text import summary_lines

    rates = (PassRates(0.68, 50, {"gpt35-primes": (0.68, 50)}, {"gpt35-primes": 34}),
             PassRates(0.56, 50, {"gpt35-primes": (0.56, 50)}, {"gpt35-primes": 28}))
    fixes, breaks, changes, costs = verdicts([], rates, (Usage(), Usage()))
    assert fixes == [] and len(breaks) == 1
    assert breaks[0].startswith("possibly: the pass rate of suite gpt35-primes fell from 68% "
                                "to 56%, not significant over 50 and 50 answers")

    class R:
        candidate, candidate_model, pinned, pinned_model, probes = "b", "m2", "a", "m1", 10

    r = R()
    r.fixes, r.breaks, r.changes, r.costs = fixes, breaks, changes, costs  # type: ignore
    lines = summary_lines(r)  # type: ignore[arg-type]
    assert "  Fixes: none found" in lines and "nothing measurable" not in "\n".join(lines)


def test_baseline_show_and_compare_print_json(tmp_path: Path) -> None:
    from tests.daemon.conftest import TARGET

    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'j.db'}")
    text = config.read_text().replace("server:", TARGET.format(
        name="beta", samples=1, schedule="every 1h", delay=0.0, concurrency=2) + "server:", 1)
    config.write_text(text)
    for _ in range(3):
        assert cli(config, "probe")[0] == 0
    assert cli(config, "baseline", "set", "--target", "alpha")[0] == 0
    code, out = cli(config, "baseline", "show", "--json")
    body = json.loads(out)
    alpha = next(t for t in body["targets"] if t["target"] == "alpha")
    assert code == 0 and alpha["baselines"][0]["active"] is True
    assert alpha["baselines"][0]["runs"] and "T" in alpha["baselines"][0]["created_at"]
    code, out = cli(config, "compare", "--target", "alpha", "--candidate", "beta", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["pinned"]["target"] == "alpha" and report["candidate"]["target"] == "beta"
    assert report["probes"] == 2 and isinstance(report["breaks"], list)
