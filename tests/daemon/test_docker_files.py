"""What can be checked of docker/ without a Docker engine: the image runs a real CLI command as
a non-root user with a health check on /healthz, and every variable the compose file gives the
service is one drift-monitor reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
import yaml

from drift_monitor.cli import main
from drift_monitor.config import ENV_CONFIG, ENV_DATABASE_URL, load_config

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _instructions() -> list[tuple[str, str]]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_slim_non_root_with_a_healthcheck_and_a_real_command() -> None:
    ins = _instructions()
    (base,) = [rest for word, rest in ins if word == "FROM"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base)
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    (health,) = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert "/healthz" in health and "9464" in health
    (cmd,) = [rest for word, rest in ins if word == "CMD"]
    argv = json.loads(cmd)
    assert argv[0] == "drift-monitor"
    # the arguments parse as the real CLI would parse them
    sub = main.get_command(click.Context(main), argv[1])
    assert isinstance(sub, click.Command) and sub.name == "run"
    sub.make_context("run", list(argv[2:]))
    assert any(f"{ENV_CONFIG}=/config/drift-monitor.yaml" in r for w, r in ins if w == "ENV")


def _compose_environment(app: dict) -> tuple[dict[str, str], list[str]]:
    """(NAME=value entries, names passed through from the caller's shell) of a service."""
    fixed: dict[str, str] = {}
    passed: list[str] = []
    env = app["environment"]
    items = env.items() if isinstance(env, dict) else [
        tuple(e.split("=", 1)) if "=" in e else (e, None) for e in env]
    for name, value in items:
        if value is None:
            passed.append(name)
        else:
            fixed[name] = str(value)
    return fixed, passed


def test_compose_sets_only_variables_drift_monitor_reads(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert "pgdata" in compose["volumes"]
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    app = services["drift-monitor"]
    mounts = [v.split(":") for v in app["volumes"]]
    (config_dir,) = [DOCKER / src for src, dst, *_ in mounts if dst == "/config"]
    fixed, passed = _compose_environment(app)
    for name in [*fixed, *passed]:
        monkeypatch.setenv(name, "placeholder")
    monkeypatch.setenv(ENV_DATABASE_URL, "sqlite:///:memory:")
    config = load_config(config_dir / "drift-monitor.yaml")
    config.check_suites(config.load_probes())
    settings = config.settings
    read = {ENV_CONFIG, ENV_DATABASE_URL, "DRIFT_MONITOR_LOG_JSON"}
    read |= {t.api_key_env for t in settings.targets if t.api_key_env}
    if settings.notify.slack is not None:
        read |= {settings.notify.slack.webhook_url_env, settings.notify.slack.bot_token_env}
    read.add(settings.server.auth_token_env)  # the console's token: required off loopback
    raw = (config_dir / "drift-monitor.yaml").read_text()
    read |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", raw))
    assert set(fixed) | set(passed) <= read, (set(fixed) | set(passed)) - read
    # secrets are never written into compose: only passed through from the caller's shell
    assert not (set(fixed) & (read - {ENV_CONFIG, ENV_DATABASE_URL, "DRIFT_MONITOR_LOG_JSON"}))
    assert settings.server.port == 9464 and settings.server.host == "0.0.0.0"
    assert settings.server.auth_token_env in passed
    assert any(p.endswith(":9464") for p in app["ports"])


def test_compose_requires_only_the_postgres_password() -> None:
    """Issue 14, finding 5: compose refused to start without SLACK_WEBHOOK_URL and
    OPENAI_API_KEY even for a user of neither. Only its own PostgreSQL's password is required
    by compose; drift-monitor itself names any variable its config needs and lacks."""
    text = (DOCKER / "compose.yaml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?", body))
    assert required == {"POSTGRES_PASSWORD"}


def test_a_config_without_openai_or_slack_starts_with_the_compose_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The container's environment when only POSTGRES_PASSWORD is exported: the passed-through
    secrets are absent, and a replay-only config still loads and finds its keys."""
    app = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["drift-monitor"]
    fixed, passed = _compose_environment(app)
    for name in passed:
        monkeypatch.delenv(name, raising=False)
    for name, value in fixed.items():
        monkeypatch.setenv(name, value.replace("${POSTGRES_PASSWORD}", "pw"))
    monkeypatch.setenv(ENV_DATABASE_URL, "sqlite:///:memory:")
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "mini.yaml").write_text(
        "suite: mini\nprobes:\n  - id: a\n    prompt: hi\n")
    (tmp_path / "drift-monitor.yaml").write_text(
        "targets:\n  - {name: r, provider: replay, model: m, suites: [mini], "
        "params: {recording: rec.jsonl}}\n")
    config = load_config(tmp_path / "drift-monitor.yaml")
    config.check_suites(config.load_probes())
    assert [config.api_key(t) for t in config.targets()] == [None]


def _copied_paths() -> list[str]:
    """Sources of the Dockerfile's COPY instructions into the build directory."""
    out = []
    for word, rest in _instructions():
        if word == "COPY":
            *sources, _dest = rest.split()
            out += [s for s in sources if not s.startswith("--")]
    return out


@pytest.mark.slow  # builds the wheel
def test_the_wheel_builds_from_exactly_the_files_the_dockerfile_copies(tmp_path: Path) -> None:
    """Issue 14, finding 5: pyproject.toml force-includes probes/, which the Dockerfile did not
    copy, so `docker build` failed at `pip install .`. No Docker engine runs here: build the
    same wheel, with the same backend, from a directory holding only what COPY copies."""
    pytest.importorskip("hatchling")
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = DOCKER.parent
    context = tmp_path / "src"
    context.mkdir()
    for src in _copied_paths():
        path = repo / src
        assert path.exists(), f"the Dockerfile copies {src}, which does not exist"
        if path.is_dir():
            shutil.copytree(path, context / src,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, context / src)
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from hatchling.build import build_wheel; "
         "print(build_wheel(sys.argv[1]))", str(out)],
        cwd=context, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "drift_monitor/_migrations/env.py" in names
    assert any(n.startswith("drift_monitor/_probes/") and n.endswith(".yaml") for n in names)
    assert "drift_monitor/templates/drift-monitor.yaml" in names
