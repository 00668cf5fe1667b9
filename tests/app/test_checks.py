"""`check`, `baseline` and `demo` end to end on the replay provider, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from drift_monitor.cli import main
from drift_monitor.storage.engine import normalise_url
from drift_monitor.storage.tables import Check, FindingRow, Run

CONFIG = """\
targets:
  - name: gpt35
    provider: replay
    model: gpt-3.5-turbo
    suites: [{suites}]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{snapshot}"}}
baseline: {{min_runs: 3}}
detection: {{window_runs: 1, confirm: {confirm}}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DRIFT_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("DRIFT_MONITOR_CONFIG", raising=False)
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    return tmp_path


def configure(project: Path, snapshot: str, suites: str = "gpt35-coding, gpt35-sensitive",
              confirm: bool = True) -> None:
    (project / "drift-monitor.yaml").write_text(
        CONFIG.format(snapshot=snapshot, suites=suites, confirm=str(confirm).lower()))


def cli(project: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--config", str(project / "drift-monitor.yaml"), *args])
    return r.exit_code, r.output


def march_baseline(project: Path, **kw: object) -> None:
    configure(project, "2023-03", **kw)  # type: ignore[arg-type]
    for _ in range(3):
        assert cli(project, "probe")[0] == 0


def test_check_without_a_baseline_says_what_to_do(project: Path) -> None:
    configure(project, "2023-03")
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "check")
    assert code == 2
    assert "no baseline yet: it needs 3 finished runs and has 1" in out
    assert "baseline set --target gpt35" in out


def test_silent_update_is_detected_confirmed_and_stored(db_url: str, project: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", db_url)
    march_baseline(project)
    configure(project, "2023-06")  # same model name: a silent update
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "check", "--json")
    assert code == 1, out
    doc = json.loads(out)
    (c,) = doc["checks"]
    assert c["target"] == "gpt35" and c["drift"] is True
    assert c["baseline"]["runs"] == [1, 2, 3] and c["baseline"]["responses"] == 3 * 148
    assert c["window"] == {"runs": [4], "responses": 148}
    assert c["model_string_changed"] is False
    assert c["confirmation_run"] == 5
    by = {(f["suite"], f["metric"]): f for f in c["findings"]}
    fence = by[("gpt35-coding", "code_fence_rate")]
    assert fence["dimension"] == "formatting" and fence["severity"] == "critical"
    assert fence["probe"] is None and fence["confirmed"] is True
    assert 0.55 < fence["baseline"] < 0.7 and fence["current"] > 0.95
    assert fence["q_value"] < 0.01 and fence["examples"][0]["after"].startswith("```")
    for key in ("dimension", "metric", "probe", "baseline", "current", "effect", "p_value",
                "q_value", "severity", "summary", "examples"):
        assert key in fence
    tone = [f for f in c["findings"] if f["suite"] == "gpt35-sensitive"
            and f["dimension"] == "tone" and f["confirmed"]]
    assert tone, "the refusal style change is a tone finding"

    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Check)).scalar_one() == 1
        stored = conn.execute(select(func.count()).select_from(FindingRow)).scalar_one()
        trigger = conn.execute(select(Run.trigger).where(Run.id == 5)).scalar_one()
    engine.dispose()
    assert stored == len(c["findings"]) and trigger == "confirmation"


def test_no_drift_exits_0(project: Path) -> None:
    march_baseline(project, suites="gpt35-coding")
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "check")
    assert code == 0, out
    assert "gpt35: no drift" in out


def test_accepting_the_new_behaviour_repins_the_baseline(project: Path) -> None:
    march_baseline(project, suites="gpt35-coding")
    configure(project, "2023-06", suites="gpt35-coding")
    assert cli(project, "probe")[0] == 0
    assert cli(project, "check")[0] == 1
    code, out = cli(project, "baseline", "accept", "--target", "gpt35")
    assert code == 0 and "now pins runs [4]" in out
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "check")
    assert code == 0, out
    code, out = cli(project, "baseline", "show")
    assert "(accept, active): runs [4]" in out and "(automatic, superseded" in out


def test_probe_edited_after_the_baseline_is_named_not_mixed(project: Path) -> None:
    march_baseline(project, suites="gpt35-coding")
    suite = project / "probes" / "gpt35-coding.yaml"
    first = "- id: leetcode-easy-2500-delete-greatest-value-in-each-row\n"
    suite.write_text(suite.read_text().replace(first, first + "  expect: {format: code}\n", 1))
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "check", "--json")
    assert code == 0, out
    (c,) = json.loads(out)["checks"]
    assert any("leetcode-easy-2500-delete-greatest-value-in-each-row" in n and "changed since"
               in n for n in c["notes"])
    assert c["window"]["responses"] == 50


def test_every_probe_edited_is_a_clear_error(project: Path) -> None:
    march_baseline(project, suites="gpt35-coding")
    suite = project / "probes" / "gpt35-coding.yaml"
    suite.write_text(suite.read_text().replace("  prompt: ", "  system: Be brief.\n  prompt: "))
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "check")
    assert code == 2 and "no probe answered in the window matches" in out


def test_a_window_of_failed_calls_is_operational(project: Path) -> None:
    march_baseline(project, suites="gpt35-coding", confirm=False)
    (project / "empty.jsonl").write_text('{"prompt": "unrelated", "response": "x"}\n')
    text = (project / "drift-monitor.yaml").read_text().replace('"builtin:llmdrift-gpt35"',
                                                                "empty.jsonl")
    (project / "drift-monitor.yaml").write_text(text.replace('snapshot: "2023-03"',
                                                             'snapshot: null'))
    assert cli(project, "probe")[0] == 1  # every call failed
    code, out = cli(project, "check", "--json")
    # a failed run is not a window: nothing to compare, said plainly
    assert code == 2 and "no finished run since its baseline" in out


def test_baseline_set_needs_enough_runs(project: Path) -> None:
    configure(project, "2023-03", suites="gpt35-coding")
    assert cli(project, "probe")[0] == 0
    code, out = cli(project, "baseline", "set", "--target", "gpt35", "--runs", "2")
    assert code == 2 and "has 1 finished run(s); cannot pin 2" in out
    code, out = cli(project, "baseline", "set", "--target", "gpt35", "--runs", "1")
    assert code == 0 and "pinned on runs [1]" in out


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    assert "silent update" in r.output
    assert "code_fence_rate" in r.output and "DRIFT on gpt35" in r.output
    assert "drift-monitor baseline accept --target gpt35" in r.output


def _evidence(db_url: str) -> dict:
    from drift_monitor.storage.engine import make_engine
    from drift_monitor.storage.queries import Store

    engine = make_engine(db_url)
    try:
        state = Store(engine).load_evidence(1)
    finally:
        engine.dispose()
    assert state is not None
    return state


def test_the_evidence_carried_between_checks_survives_a_restart(
        db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CLI call is a new process with a new engine: the evidence comes from the
    database, counts every check since the baseline, and starts afresh with a new baseline."""
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", db_url)
    march_baseline(project, suites="gpt35-coding")
    for n in (1, 2, 3):
        assert cli(project, "probe")[0] == 0
        assert cli(project, "check")[0] == 0
        state = _evidence(db_url)
        assert state["checks"] == n and state["baseline_id"] == 1
    assert cli(project, "baseline", "set", "--target", "gpt35", "--runs", "3")[0] == 0
    assert cli(project, "probe")[0] == 0
    assert cli(project, "check")[0] == 0
    state = _evidence(db_url)
    assert state["checks"] == 1 and state["baseline_id"] == 2


def test_rechecking_the_same_window_sends_no_new_round_and_stores_nothing(
        db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", db_url)
    march_baseline(project, suites="gpt35-coding")
    configure(project, "2023-06", suites="gpt35-coding")
    assert cli(project, "probe")[0] == 0
    first_code, first = cli(project, "check", "--json")
    assert first_code == 1
    again_code, again = cli(project, "check", "--json")
    assert again_code == 1
    a, b = json.loads(first)["checks"][0], json.loads(again)["checks"][0]
    assert a["findings"] == b["findings"] and a["confirmation_run"] == b["confirmation_run"]
    assert any("already checked" in n for n in b["notes"])
    assert _evidence(db_url)["checks"] == 1
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Check)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(Run)).scalar_one() == 5
        assert conn.execute(select(func.count()).select_from(FindingRow)).scalar_one() == \
            len(a["findings"])
    engine.dispose()


def test_a_check_right_after_accept_compares_nothing_older_than_the_new_baseline(
        project: Path) -> None:
    march_baseline(project, suites="gpt35-coding")
    configure(project, "2023-06", suites="gpt35-coding")
    assert cli(project, "probe")[0] == 0
    assert cli(project, "check")[0] == 1
    assert "alert (first_notification)" in cli(project, "notify")[1]
    assert cli(project, "baseline", "accept", "--target", "gpt35")[0] == 0
    code, out = cli(project, "check")
    assert code == 2 and "no finished run since its baseline (runs [4])" in out
    code, out = cli(project, "notify")
    assert code == 0 and "delivered: accepted" in out and "alert (" not in out
