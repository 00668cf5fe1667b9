"""The weekly digest: numbers that can be checked by hand, Block Kit to Slack with the chart
uploaded by files_upload_v2, and a self-contained HTML report whose charts render in Chromium."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from drift_monitor.cli import main
from drift_monitor.config import Config, TargetConfig
from drift_monitor.digest import (
    COLORS,
    build_digest,
    charts_for,
    expected_slots,
    percentile,
    render_digest_text,
    render_html,
)
from drift_monitor.storage.queries import Store
from tests.digest.test_charts import count_color
from tests.fakes.slack import CHANNEL_ID, FakeSlack


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
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    width, height = image.size
    assert width > 1000 and height > 150
    assert count_color(image, (0x25, 0x63, 0xEB)) > 50, "the formatting series is drawn"
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "already sent" in again.output
    assert len(slack.messages) == 1


def test_html_report_is_self_contained(api_config: Config, digest_store: Store) -> None:
    html = render_html(build_digest(api_config, digest_store))
    assert html.count("<svg ") == 5 and "<script" not in html.lower()
    assert " src=" not in html and " href=" not in html and "@import" not in html
    assert "support-bot" in html and "gpt-4o-2024-08-06" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get "
                    "install chromium); the report's rendering is not checked")
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
    image = Image.open(shot)
    assert count_color(image, (0x25, 0x63, 0xEB), tolerance=30) > 150, "formatting line drawn"
    assert count_color(image, (220, 38, 38), tolerance=30) > 15, "the drifting check is marked"
    assert len(charts_for(build_digest(api_config, digest_store))) == len(COLORS)
