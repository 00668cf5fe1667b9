"""The weekly digest: numbers that can be checked by hand, Block Kit to Slack with the chart
uploaded by files_upload_v2, and a self-contained HTML report whose charts render in Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from drift_monitor.charts import COLORS, Chart, charts_for
from drift_monitor.cli import main
from drift_monitor.config import Config, TargetConfig
from drift_monitor.digest import build_digest, expected_slots, percentile, render_digest_text
from drift_monitor.digest_report import render_html
from drift_monitor.png import render_charts
from drift_monitor.probes import Probe
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Run
from tests.alerting.conftest import Clock, finding, record_check
from tests.alerting.pngread import count_color, read_png
from tests.fakes.slack import CHANNEL_ID, FakeSlack

PROBE = Probe(suite="coding", id="two-sum", messages=({"role": "user", "content": "hi"},),
              expect=None, samples=None, version="v1", file="coding.yaml")


def add_run(store: Store, tid: int, pv: int, hours_ago: float, responses: list[dict],
            trigger: str = "manual") -> None:
    run = store.create_run(tid, len(responses), trigger=trigger)
    store.insert_responses([{"run_id": run, "probe_version_id": pv, "sample_index": i, **r}
                            for i, r in enumerate(responses)])
    store.finish_run(run)
    with store.engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == run).values(
            started_at=datetime.now(UTC) - timedelta(hours=hours_ago)))


def ok(latency: float, model: str = "gpt-4o-2024-05-13") -> dict:
    return {"ok": True, "text": "answer", "latency_ms": latency, "input_tokens": 10,
            "output_tokens": 20, "cost_usd": 0.01, "model_returned": model}


FAILED = {"ok": False, "error_kind": "server_error"}


def seed(config: Config, store: Store) -> None:
    """Ten hours of an hourly target: three scheduled runs (one failed) and a confirmation
    round; two checks, the first drifting in formatting, the second clean."""
    tid = store.upsert_target("support-bot", "replay", "gpt-3.5-turbo")
    pv = store.ensure_probe_versions([PROBE])[("coding", "two-sum", "v1")]
    add_run(store, tid, pv, 10, [ok(100), ok(200), ok(300), ok(400)])
    add_run(store, tid, pv, 5, [ok(500, "gpt-4o-2024-08-06"), ok(600, "gpt-4o-2024-08-06"),
                                ok(700, "gpt-4o-2024-08-06"), FAILED])
    add_run(store, tid, pv, 5, [ok(800, "gpt-4o-2024-08-06")], trigger="confirmation")
    add_run(store, tid, pv, 1, [FAILED, FAILED])
    clock = Clock()
    clock.t = datetime.now(UTC) - timedelta(hours=2)
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    record_check(config, store, [], clock)


@pytest.fixture
def digest_store(api_config: Config) -> Store:
    engine = make_engine(api_config.database_url)  # the config's own database, for the CLI
    ensure_schema(engine)
    store = Store(engine)
    seed(api_config, store)
    return store


def test_digest_numbers_can_be_checked_by_hand(api_config: Config, digest_store: Store) -> None:
    (t,) = build_digest(api_config, digest_store, days=7)["targets"]
    assert (t["runs_done"], t["runs_failed"], t["confirmation_runs"]) == (2, 1, 1)
    assert t["runs_missed"] == 10 - 3, "ten hourly slots since the first run, three runs"
    assert (t["responses"], t["ok_responses"]) == (11, 8)
    assert t["error_rate"] == pytest.approx(3 / 11)
    assert t["latency_p50_ms"] == pytest.approx(450) and t["latency_p95_ms"] == \
        pytest.approx(765)
    assert (t["input_tokens"], t["output_tokens"]) == (80, 160)
    assert t["cost_usd"] == pytest.approx(0.08)
    assert t["model_strings"] == {"gpt-4o-2024-08-06": 4, "gpt-4o-2024-05-13": 4}
    assert t["checks"] == 2 and t["findings"] == {"critical": 1}
    assert t["stability"] == {"formatting": 50, "tone": 100, "answers": 100, "metadata": 100,
                              "operational": 100}
    assert [(y, paged) for _, y, paged in t["series"]["formatting"]] == [(0.79, True),
                                                                         (0.0, False)]
    assert [(i["dimension"], i["status"]) for i in t["incidents"]] == [("formatting",
                                                                        "resolved")]
    text = render_digest_text(build_digest(api_config, digest_store))
    assert "runs: 2 done, 7 missed, 1 failed" in text
    assert "latency: p50 450 ms, p95 765 ms" in text and "cost $0.08" in text


def test_schedule_slots_for_intervals_and_cron() -> None:
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
    hourly = TargetConfig(name="a", provider="replay", model="m", suites=["s"])
    weekly = TargetConfig(name="b", provider="replay", model="m", suites=["s"],
                          schedule="0 9 * * mon")
    assert expected_slots(hourly, start, start + timedelta(days=7)) == 168
    assert expected_slots(weekly, start, start + timedelta(days=14)) == 2
    assert expected_slots(weekly, start + timedelta(hours=10), start + timedelta(days=7)) == 0
    assert percentile([], 50) is None and percentile([5.0], 95) == 5.0


def test_digest_send_posts_block_kit_and_uploads_the_chart_once(
        api_config: Config, digest_store: Store, slack: FakeSlack) -> None:
    args = ["--config", str(api_config.path), "digest", "--send"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "delivered: digest (digest) for all targets via slack" in r.output
    (message,) = slack.messages
    assert message["blocks"][0]["text"]["text"].startswith(":bar_chart: Drift digest: ")
    fields = [f["text"] for b in message["blocks"] if "fields" in b for f in b["fields"]]
    assert "*Runs*\n2 done, 7 missed, 1 failed" in fields
    (completed,) = slack.completed
    assert completed["channel_id"] == CHANNEL_ID and completed["thread_ts"]
    (png,) = slack.uploads
    width, height, rows = read_png(png)
    assert width > 1000 and height > 150
    assert count_color(rows, (0x25, 0x63, 0xEB)) > 50, "the formatting series is drawn"
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "already sent" in again.output
    assert len(slack.messages) == 1


def test_png_chart_puts_points_where_the_data_says() -> None:
    chart = Chart("bot", "formatting", [(0.0, 0.0, False), (1.0, 1.0, True)], y_max=1.0)
    _, _, rows = read_png(render_charts([chart], title="t"))
    red = count_color(rows, (220, 38, 38), tolerance=10)
    blue = count_color(rows, (0x25, 0x63, 0xEB), tolerance=10)
    assert red > 20 and blue > 100  # the paged dot, and a diagonal line two pixels wide


def test_html_report_is_self_contained(api_config: Config, digest_store: Store) -> None:
    html = render_html(build_digest(api_config, digest_store))
    assert html.count("<svg ") == 5 and "<script" not in html.lower()
    assert " src=" not in html and " href=" not in html and "@import" not in html
    assert "support-bot" in html and "gpt-4o-2024-08-06" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get "
                    "install chromium); the report's rendering is not checked")
@pytest.mark.slow  # headless Chromium
def test_html_report_charts_render_in_headless_chromium(api_config: Config,
                                                        digest_store: Store,
                                                        tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["--config", str(api_config.path), "digest", "--html",
                                  str(report)])
    assert r.exit_code == 0 and f"report written to {report}" in r.output
    shot = tmp_path / "report.png"
    subprocess.run([_chromium() or "", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
                    "--window-size=1100,1000", f"--screenshot={shot}", report.as_uri()],
                   check=True, capture_output=True, timeout=90,
                   env={**os.environ, "HOME": str(tmp_path)})
    _, _, rows = read_png(shot.read_bytes())
    assert count_color(rows, (0x25, 0x63, 0xEB), tolerance=30) > 150, "formatting line drawn"
    assert count_color(rows, (220, 38, 38), tolerance=30) > 15, "the drifting check is marked"
    assert len(charts_for(build_digest(api_config, digest_store))) == len(COLORS)
