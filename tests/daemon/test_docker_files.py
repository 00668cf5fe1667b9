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


def test_compose_sets_only_variables_drift_monitor_reads(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert "pgdata" in compose["volumes"]
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    app = services["drift-monitor"]
    mounts = [v.split(":") for v in app["volumes"]]
    (config_dir,) = [DOCKER / src for src, dst, *_ in mounts if dst == "/config"]
    environment = app["environment"]
    for name in environment:
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
    assert set(environment) <= read, set(environment) - read
    # secrets are never written into compose: only taken from the caller's environment
    for name, value in environment.items():
        if name in read - {ENV_CONFIG, ENV_DATABASE_URL, "DRIFT_MONITOR_LOG_JSON"}:
            assert str(value).startswith("${"), name
    assert settings.server.port == 9464 and settings.server.host == "0.0.0.0"
    assert settings.server.auth_token_env in environment
    assert any(p.endswith(":9464") for p in app["ports"])
