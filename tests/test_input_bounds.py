"""Bounds on every input the process reads (reliability contract 12): config and probe files
(size, YAML alias expansion, depth), recordings, user regexes; and ``validate`` refusing the
configs that used to pass and then crash ``run``. Each refusal is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select

from drift_monitor.storage.tables import Response, ResponseFeatures
from tests.fakes.llm_servers import Canned, FakeLLMServer
from tests.fakes.project import (
    API_KEY,
    KEY_ENV,
    assert_no_traceback,
    run_cli,
    write_project,
)
from tests.hostile.bodies import Fields, body

BOMB = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9 if i else
                                                  ['"lol"'] * 9) + "]\n"
    for i in range(9))


def _replay_project(tmp_path: Path, **target: object) -> Path:
    rec = tmp_path / "rec.jsonl"
    rec.write_text('{"prompt": "p", "response": "yes"}\n')
    project = write_project(tmp_path, provider="replay", db_url=f"sqlite:///{tmp_path}/x.db",
                            prompts=["p"], params={"recording": str(rec)})
    if target:
        cfg = yaml.safe_load((project / "drift-monitor.yaml").read_text())
        cfg["targets"][0].update(target)
        (project / "drift-monitor.yaml").write_text(yaml.safe_dump(cfg))
    return project


def _refused(project: Path, caplog: pytest.LogCaptureFixture, *needles: str) -> str:
    code, out = run_cli(project, "validate")
    assert code == 2, out
    assert_no_traceback(out, caplog)
    errors = [line for line in out.strip().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and out.strip().splitlines()[-1] == errors[0], out
    for n in needles:
        assert n in out, out
    return out


# --- YAML files --------------------------------------------------------------------------

def test_an_alias_bomb_at_the_top_of_the_config_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    project = _replay_project(tmp_path)
    cfg = (project / "drift-monitor.yaml").read_text()
    (project / "drift-monitor.yaml").write_text(BOMB + cfg)
    _refused(project, caplog, "drift-monitor.yaml", "expands to more than 200,000 values")


def test_an_alias_bomb_under_params_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    project = _replay_project(tmp_path)
    cfg = (project / "drift-monitor.yaml").read_text()
    bomb = "".join("  " + line + "\n" for line in BOMB.splitlines())
    (project / "drift-monitor.yaml").write_text(cfg + "x-anchors:\n" + bomb)
    _refused(project, caplog, "expands to more than")


def test_an_alias_bomb_in_a_probe_file_and_in_a_json_schema_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    project = _replay_project(tmp_path)
    seven = "".join(BOMB.splitlines(keepends=True)[:7])
    (project / "probes" / "s.yaml").write_text(
        "anchors:\n" + "".join("  " + line for line in seven.splitlines(keepends=True))
        + "suite: s\nprobes:\n  - id: p\n    prompt: p\n"
        + "    expect: {json_schema: {type: object, enum: [*g]}}\n")
    _refused(project, caplog, "s.yaml", "expands to more than")


def test_a_recursive_alias_and_an_oversized_file_are_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    project = _replay_project(tmp_path)
    good = (project / "drift-monitor.yaml").read_text()
    (project / "drift-monitor.yaml").write_text(good + "x: &r [*r]\n")
    _refused(project, caplog, "recursive")
    (project / "drift-monitor.yaml").write_text(good + "#" + "x" * (1024 * 1024) + "\n")
    _refused(project, caplog, "over the 1 MB limit")
    (project / "drift-monitor.yaml").write_text(good)
    (project / "probes" / "big.yaml").write_text("#" + "x" * (8 * 1024 * 1024) + "\n")
    _refused(project, caplog, "big.yaml", "over the 8 MB limit")


# --- recordings --------------------------------------------------------------------------

def test_a_recording_that_is_not_a_regular_file_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    project = _replay_project(tmp_path, params={"recording": "/dev/zero"})
    _refused(project, caplog, "/dev/zero is not a regular file")


@pytest.mark.parametrize("delay", [1e9, -1, "slow", True])
def test_a_replay_delay_that_would_hang_the_round_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None,
        delay: object) -> None:
    rec = tmp_path / "rec.jsonl"
    rec.write_text('{"prompt": "p", "response": "yes"}\n')
    project = _replay_project(tmp_path, params={"recording": str(rec), "delay_s": delay})
    _refused(project, caplog, "params.delay_s must be a number of seconds from 0 to 600")


def test_a_recording_line_over_its_bound_is_refused_with_its_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    rec = tmp_path / "big.jsonl"
    with rec.open("w") as fh:
        fh.write('{"prompt": "p", "response": "yes"}\n')
        fh.write('{"prompt": "q", "response": "' + "y" * (9 * 1024 * 1024) + '"}\n')
    project = _replay_project(tmp_path, params={"recording": str(rec)})
    _refused(project, caplog, "big.jsonl:2", "limit for one record")


# --- configs that used to pass validate and crash run -----------------------------------

@pytest.mark.parametrize("change,needles", [
    ({"schedule": "0 0 30 2 *"}, ("schedule", "never fires")),
    ({"schedule": "every 99999999999999999999d"}, ("schedule", "366d")),
    ({"name": "n" * 201}, ("name", "at most 200")),
    ({"model": "m" * 201}, ("model", "at most 200")),
    ({"samples": True}, ("samples", "expected a number, got true")),
    ({"limits": {"concurrency": True}}, ("concurrency", "got true")),
    ({"limits": {"timeout_s": False}}, ("timeout_s", "got false")),
    ({"limits": {"timeout_s": 1e12}}, ("timeout_s", "less than or equal to 3600")),
    ({"limits": {"requests_per_minute": 1e-300}}, ("requests_per_minute",)),
    ({"base_url": "http://[::1"}, ("base_url", "not a valid URL")),
    ({"base_url": "ftp://example.com/v1"}, ("base_url", "use http:// or https://")),
])
def test_validate_refuses_configs_that_would_crash_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None,
        change: dict[str, object], needles: tuple[str, ...]) -> None:
    project = _replay_project(tmp_path, **change)
    _refused(project, caplog, *needles)


@pytest.mark.parametrize("snippet,needles", [
    ("stop: 2024-01-01", ("params.stop is a YAML date", "quote it")),
    ("when: 2024-01-01 10:00:00", ("params.when is a YAML date",)),
    ("blob: !!binary aGVsbG8=", ("params.blob is binary data",)),
    ("7: seven", ("params.7", "valid string")),
])
def test_validate_refuses_params_json_cannot_carry(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None, snippet: str,
        needles: tuple[str, ...]) -> None:
    project = _replay_project(tmp_path)
    (project / "drift-monitor.yaml").write_text(
        f"database: sqlite:///{tmp_path}/x.db\n"
        "targets:\n"
        "  - name: t\n"
        "    provider: replay\n"
        "    model: m\n"
        "    suites: [s]\n"
        "    params:\n"
        f"      recording: {tmp_path}/rec.jsonl\n"
        f"      {snippet}\n")
    _refused(project, caplog, *needles)


@pytest.mark.parametrize("probe,needles", [
    ({"id": "p" * 201, "prompt": "p"}, ("probes.0.id", "at most 200")),
    ({"id": "p", "prompt": "p", "samples": True}, ("samples", "got true")),
    ({"id": "p", "prompt": "p", "expect": {"json_field": {"path": "a",
                                                          "reference": "DATE"}}},
     ("json_field.reference is a YAML date",)),
    ({"id": "p", "prompt": "p", "expect": {"number": {"reference": "INF"}}},
     ("number.reference is inf",)),
])
def test_validate_refuses_probes_that_would_crash_a_round(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None,
        probe: dict[str, object], needles: tuple[str, ...]) -> None:
    project = _replay_project(tmp_path)
    text = yaml.safe_dump({"suite": "s", "probes": [probe]}).replace("DATE", "2024-01-01")
    text = text.replace("'2024-01-01'", "2024-01-01").replace("INF", ".inf")
    (project / "probes" / "s.yaml").write_text(text)
    _refused(project, caplog, *needles)


def test_a_suite_name_over_its_column_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    project = _replay_project(tmp_path, suites=["s" * 201])
    (project / "probes" / "s.yaml").write_text(json.dumps(
        {"suite": "s" * 201, "probes": [{"id": "p", "prompt": "p"}]}))
    _refused(project, caplog, "suite", "at most 200")


# --- user regexes ------------------------------------------------------------------------

@pytest.mark.slow  # a subprocess waits out the regex deadline
def test_a_pathological_probe_regex_cannot_freeze_probe(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    """The campaign's pattern, and one the regex engine cannot optimise away (it needs the
    deadline): both rounds finish, the answers are stored, the slow match counts as no match."""
    expect = {"campaign": {"regex": {"pattern": "^(a+)+$"}},
              "alternation": {"regex": {"pattern": "^(a|aa)+$"}},
              "schema": {"format": "json", "json_schema": {
                  "type": "object", "properties": {"v": {"type": "string",
                                                         "pattern": "^(a|aa)+$"}}}}}
    texts = {"campaign": "a" * 32 + "!", "alternation": "a" * 40 + "!",
             "schema": json.dumps({"v": "a" * 40 + "!"})}
    db = tmp_path / "x.db"
    with FakeLLMServer("openai") as server:
        for name, text in texts.items():
            server.script(name, Canned(200, body("openai", Fields(text=text))))
        project = write_project(tmp_path, provider="openai", db_url=f"sqlite:///{db}",
                                base_url=server.base_url, prompts=list(texts), expect=expect)
        code, out = run_cli(project, "validate")
        assert code == 0, out
        assert "'^(a+)+$' repeats a group that contains a repeat" in out
        # a child process: if matching froze, the timeout below fails the test instead of
        # hanging the suite
        proc = subprocess.run(
            [sys.executable, "-m", "drift_monitor", "--config",
             str(project / "drift-monitor.yaml"), "probe"],
            env={**os.environ, KEY_ENV: API_KEY}, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "took over 1 s on one answer and was stopped" in proc.stderr
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(select(Response.ok, ResponseFeatures.values).join(
            ResponseFeatures, ResponseFeatures.response_id == Response.id)).all()
    engine.dispose()
    assert len(rows) == 3 and all(ok for ok, _ in rows)
    found = sorted(v.get("answer_found") for _, v in rows if v.get("answer_found") is not None)
    assert found == [False, False]
    schema_valid = [v["json_schema_valid"] for _, v in rows
                    if v.get("json_schema_valid") is not None]
    assert schema_valid == [False]


def test_cli_debug_logs_never_show_a_key_embedded_in_base_url(tmp_path: Path) -> None:
    with FakeLLMServer("openai") as server:
        project = write_project(tmp_path, provider="openai", db_url=f"sqlite:///{tmp_path}/x.db",
                                base_url=f"http://127.0.0.1:{server.port}/${{{KEY_ENV}}}/v1",
                                prompts=["a"])
        proc = subprocess.run(
            [sys.executable, "-m", "drift_monitor", "--config",
             str(project / "drift-monitor.yaml"), "-vv", "probe"],
            env={**os.environ, KEY_ENV: API_KEY}, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "POST /***/v1/chat/completions" in proc.stderr  # the line that used to leak it
    assert API_KEY not in proc.stderr + proc.stdout


def test_durations_past_ten_years_are_refused_before_they_overflow() -> None:
    from drift_monitor.config import NotifyConfig

    with pytest.raises(ValueError, match="longest duration"):
        NotifyConfig.model_validate({"repeat_interval": "99999999999999d"})


def test_credentials_embedded_in_a_base_url_are_treated_as_secrets() -> None:
    from drift_monitor.daemon.logs import url_secrets

    assert url_secrets("https://user:pw-SECRET@h.example/v1?key=k-SECRET&x=1&api_token=t-SEC"
                       ) == ["pw-SECRET", "k-SECRET", "t-SEC"]
    assert url_secrets("https://h.example/v1") == [] and url_secrets(None) == []
