"""`compare` between two targets served by the replay provider: GPT-3.5 as recorded in March
2023 (pinned) and in June 2023 (candidate). The report names the formatting and refusal
differences and the latency and token deltas, writes a self-contained HTML file, reuses recent
runs, and exits 2 on bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor.cli import main
from drift_monitor.compare.report import PassRates, Usage, verdicts
from drift_monitor.detection.findings import Finding

TEMPLATES = Path(__file__).resolve().parents[2] / "drift_monitor" / "templates" / "probes"
TARGET = """\
  - name: {name}
    provider: replay
    model: {model}
    suites: [{suites}]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{snapshot}"}}
    price: {{input_per_mtok: 0.5, output_per_mtok: 1.5}}
"""


def project(tmp_path: Path, db_url: str, *, june_suites: str = "gpt35-coding, gpt35-sensitive",
            ) -> Path:
    shutil.copytree(TEMPLATES, tmp_path / "probes")
    config = tmp_path / "drift-monitor.yaml"
    config.write_text(f"database: {db_url}\ntargets:\n"
                      + TARGET.format(name="march", model="gpt-3.5-turbo-0301",
                                      suites="gpt35-coding, gpt35-sensitive", snapshot="2023-03")
                      + TARGET.format(name="june", model="gpt-3.5-turbo-0613",
                                      suites=june_suites, snapshot="2023-06"))
    return config


def compare(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "compare", *args])
    return result.exit_code, result.output


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_compare_march_vs_june_names_formatting_refusal_latency_and_token_differences(
        db_url: str, tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, db_url)
    html = tmp_path / "report.html"
    code, out = compare(config, "--target", "march", "--candidate", "june", "--html", str(html))
    assert code == 0, out
    summary = out.split("\n\nRuns:")[0]
    # formatting: code now arrives in markdown fences
    assert "code now arrives inside markdown fences" in summary
    # refusals: June refuses a little less and lost its "As an AI language model" disclaimer
    assert re.search(r"refuses \d+% of answers in suite gpt35-sensitive \(pinned: \d+%\)",
                     summary)
    # a decrease reads as one (issue 14, finding 8)
    assert "ai disclaimer rate fell to" in summary
    # what it costs: cost per 1,000 probes, output tokens and latency on both sides
    assert re.search(r"\$[\d.]+ per 1,000 probes vs \$[\d.]+ \([+-]\d+%\)", summary)
    assert re.search(r"\d+ output tokens per answer vs \d+ \([+-]\d+%\)", summary)
    assert re.search(r"latency p50 [\d.]+ s vs [\d.]+ s, p95 [\d.]+ s vs [\d.]+ s", summary)
    for dim in ("formatting", "tone", "answers", "metadata", "operational"):
        assert re.search(rf"^{dim}: ", out, re.M), dim
    assert "run now" in out
    page = html.read_text()
    assert "code now arrives inside markdown fences" in page
    assert "<script" not in page and not re.search(r"(src|href)=['\"]?https?:", page), \
        "the report is self-contained"
    assert "Refusals" in page and "per 1,000 probes" in page


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_compare_reuses_recent_runs_instead_of_probing_again(
        tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert compare(config, "--target", "march", "--candidate", "june")[0] == 0
    code, out = compare(config, "--target", "march", "--candidate", "june")
    assert code == 0
    assert "march [1] (reused), june [2] (reused)" in out
    code, out = compare(config, "--target", "march", "--candidate", "june", "--reuse-hours", "0")
    assert "march [3] (run now), june [4] (run now)" in out
    code, out = compare(config, "--target", "march", "--candidate", "june", "--samples", "2")
    assert "march [5] (run now), june [6] (run now)" in out, "one sample per probe is too few"


@pytest.mark.parametrize(("args", "message"), [
    (("--target", "march", "--candidate", "nope"), "unknown target 'nope'"),
    (("--target", "march", "--candidate", "march"), "both 'march'"),
])
def test_compare_bad_targets_exit_2(args: tuple[str, ...], message: str, tmp_path: Path,
                                    clean_env: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    code, out = compare(config, *args)
    assert code == 2 and message in out


def test_compare_without_common_probes_exits_2(tmp_path: Path,
                                               clean_env: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", june_suites="gpt35-primes")
    code, out = compare(config, "--target", "march", "--candidate", "june")
    assert code == 2 and "no probe in common" in out


def _finding(metric: str, direction: int, dimension: str = "answers") -> Finding:
    return Finding(dimension=dimension, metric=metric, probe=None, baseline=0.5, current=0.8,
                   effect=0.3 * direction, p_value=0.001, q_value=0.01, severity="critical",
                   summary=f"{metric} moved", direction=direction, suite="s")


def test_verdict_calls_higher_accuracy_a_fix_more_errors_a_break_and_fences_a_change() -> None:
    rates = (PassRates(None, 0), PassRates(None, 0))
    fixes, breaks, changes, costs = verdicts(
        [_finding("accuracy", 1), _finding("error_rate", 1, "operational"),
         _finding("code_fence_rate", 1, "formatting"), _finding("refusal_rate", -1, "tone")],
        rates, (Usage(), Usage()))
    assert fixes == ["answers: accuracy moved"]
    assert breaks == ["operational: error_rate moved"]
    assert changes == ["formatting: code_fence_rate moved", "tone: refusal_rate moved"]
    assert costs == []
