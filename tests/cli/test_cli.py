"""The CLI as a user meets it: init, validate, db upgrade, probe, and every bad input exits 2
with a message naming the file and key, without touching stored data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from drift_monitor.cli import main
from drift_monitor.storage.engine import normalise_url
from drift_monitor.storage.tables import Response, Run


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "drift_monitor", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


def counts(url: str) -> tuple[list[str], int]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        statuses = list(conn.execute(select(Run.status).order_by(Run.id)).scalars())
        n = conn.execute(select(func.count()).select_from(Response)).scalar_one()
    engine.dispose()
    return statuses, n


@pytest.mark.slow  # drift-monitor subprocesses
def test_init_validate_probe_twice_stores_two_complete_runs(db_url: str, tmp_path: Path) -> None:
    """The quickstart path, in a subprocess, on SQLite (the default) and on PostgreSQL."""
    env = {} if db_url.startswith("sqlite") else {"DRIFT_MONITOR_DATABASE_URL": db_url}
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    proj = tmp_path / "proj"
    assert (proj / "drift-monitor.yaml").exists() and (proj / "probes").is_dir()
    v = run_cli("validate", cwd=proj, env=env)
    assert v.returncode == 0, v.stderr
    assert "target gpt35-replay: replay gpt-3.5-turbo, 652 probes" in v.stdout
    first = run_cli("probe", cwd=proj, env=env)
    assert first.returncode == 0, first.stderr
    assert "run 1 complete: 652 ok, 0 failed" in first.stdout
    second = run_cli("probe", cwd=proj, env=env)
    assert second.returncode == 0, second.stderr
    url = db_url if env else f"sqlite:///{proj / 'drift-monitor.db'}"
    assert counts(url) == (["complete", "complete"], 2 * 652)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path)]).exit_code == 0
    again = runner.invoke(main, ["init", str(tmp_path)])
    assert again.exit_code == 2 and "already exist" in again.output
    assert runner.invoke(main, ["init", str(tmp_path), "--force"]).exit_code == 0


def test_probe_samples_and_target_selection(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    runner.invoke(main, ["init", str(tmp_path)])
    cfg = tmp_path / "drift-monitor.yaml"
    r = runner.invoke(main, ["--config", str(cfg), "probe", "--target", "gpt35-replay",
                             "--samples", "2"])
    assert r.exit_code == 0, r.output
    assert "1304 ok" in r.output
    bad = runner.invoke(main, ["--config", str(cfg), "probe", "--target", "nobody"])
    assert bad.exit_code == 2 and "unknown target 'nobody'" in bad.output


def test_db_upgrade(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    runner.invoke(main, ["init", str(tmp_path)])
    r = runner.invoke(main, ["--config", str(tmp_path / "drift-monitor.yaml"), "db", "upgrade"])
    from drift_monitor.storage.engine import head_revision, make_engine

    head = head_revision(make_engine("sqlite://"))
    assert r.exit_code == 0 and f"at revision {head}" in r.output


# --- bad input: exit 2, a message naming file and key, stored data untouched ------------------

@pytest.fixture
def project(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Path:
    """An initialised project, trimmed to its coding suite, that holds one complete run."""
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path)]).exit_code == 0
    edit(tmp_path / "drift-monitor.yaml",
         "[gpt35-coding, gpt35-primes, gpt35-sensitive, gpt35-opinions]", "[gpt35-coding]")
    r = runner.invoke(main, ["--config", str(tmp_path / "drift-monitor.yaml"), "probe"])
    assert r.exit_code == 0, r.output
    return tmp_path


def invoke(project: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--config", str(project / "drift-monitor.yaml"), *args])
    return r.exit_code, r.output


def assert_untouched(project: Path) -> None:
    assert counts(f"sqlite:///{project / 'drift-monitor.db'}") == (["complete"], 50)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("command", ["validate", "probe"])
def test_malformed_yaml(project: Path, command: str) -> None:
    edit(project / "drift-monitor.yaml", "model: gpt-3.5-turbo", "model: [gpt-3.5")
    code, out = invoke(project, command)
    assert code == 2
    assert "drift-monitor.yaml:" in out and "malformed YAML" in out
    assert "Traceback" not in out
    assert_untouched(project)


@pytest.mark.parametrize("command", ["validate", "probe"])
def test_unknown_key(project: Path, command: str) -> None:
    edit(project / "drift-monitor.yaml", "    samples: 1", "    samples: 1\n    sampels: 2")
    code, out = invoke(project, command)
    assert code == 2 and "key 'targets.0.sampels'" in out and "unknown key 'sampels'" in out
    assert_untouched(project)


@pytest.mark.parametrize("command", ["validate", "probe"])
def test_missing_api_key_env(project: Path, command: str,
                             clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DM_TEST_MISSING_KEY", raising=False)
    edit(project / "drift-monitor.yaml", "    samples: 1",
         "    samples: 1\n    api_key_env: DM_TEST_MISSING_KEY")
    code, out = invoke(project, command)
    assert code == 2
    assert "DM_TEST_MISSING_KEY is not set" in out and "targets.0.api_key_env" in out
    assert_untouched(project)


@pytest.mark.parametrize("command", ["validate", "probe"])
def test_duplicate_probe_id(project: Path, command: str) -> None:
    (project / "probes" / "extra.yaml").write_text(
        "suite: extra\nprobes:\n  - id: prime-numbers-3\n    prompt: hi\n")
    code, out = invoke(project, command)
    assert code == 2 and "duplicate probe id 'prime-numbers-3'" in out and "extra.yaml" in out
    assert_untouched(project)


@pytest.mark.parametrize("command", ["validate", "probe"])
def test_unknown_suite_name(project: Path, command: str) -> None:
    edit(project / "drift-monitor.yaml", "[gpt35-coding]", "[gpt35-coding, gpt35-opinion]")
    code, out = invoke(project, command)
    assert code == 2 and "unknown suite 'gpt35-opinion'" in out
    assert "targets.0.suites.1" in out and "drift-monitor.yaml:" in out
    assert_untouched(project)


@pytest.mark.parametrize("command", ["validate", "probe"])
def test_empty_probe_file(project: Path, command: str) -> None:
    (project / "probes" / "empty.yaml").write_text("")
    code, out = invoke(project, command)
    assert code == 2 and "empty.yaml" in out and "empty" in out
    assert_untouched(project)


def test_unreachable_database_url_hides_password(project: Path,
                                                 clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DRIFT_MONITOR_DATABASE_URL",
                     "postgresql+psycopg://dm:topsecretpw@127.0.0.1:1/drift")
    code, out = invoke(project, "probe")
    assert code == 2 and "cannot reach the database" in out
    assert "dm:***@127.0.0.1:1/drift" in out and "topsecretpw" not in out
    assert_untouched(project)


def test_missing_config_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    r = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.yaml"), "validate"])
    assert r.exit_code == 2 and "config file not found" in r.output and "drift-monitor init" \
        in r.output


def test_broken_recording_file_is_located(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    CliRunner().invoke(main, ["init", str(tmp_path)])
    (tmp_path / "rec.jsonl").write_text('{"prompt": "a", "response": "b"}\n{oops\n')
    edit(tmp_path / "drift-monitor.yaml", '"builtin:llmdrift-gpt35"', "rec.jsonl")
    code, out = invoke(tmp_path, "validate")
    assert code == 2 and "rec.jsonl:2" in out and "not JSON" in out


@pytest.mark.slow  # drift-monitor subprocesses
def test_module_entry_point_prints_help(tmp_path: Path) -> None:
    r = run_cli("--help", cwd=tmp_path)
    assert r.returncode == 0
    for cmd in ("init", "validate", "db", "probe"):
        assert cmd in r.stdout
