"""Config: the YAML contract of DESIGN.md, interpolation, strictness, and located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drift_monitor.config import load_config, parse_duration, parse_schedule
from drift_monitor.errors import ConfigError

MINIMAL = """\
database: sqlite:///dm.db
targets:
  - name: bot
    provider: openai
    model: gpt-4o
    api_key_env: TEST_OPENAI_KEY
    suites: [basics]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "drift-monitor.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_design_example_loads_with_defaults(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    t = cfg.target("bot")
    assert t.provider == "openai" and t.suites == ["basics"]
    assert t.limits.concurrency == 8 and t.schedule == "every 1h"
    assert cfg.settings.baseline.min_runs == 3
    assert cfg.settings.notify.repeat_interval == "4h"
    assert cfg.settings.server.port == 9464


def test_relative_sqlite_path_is_relative_to_the_config_file(
        tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.database_url == f"sqlite:///{tmp_path.resolve() / 'dm.db'}"


def test_database_url_env_overrides_the_file(tmp_path: Path,
                                             clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DRIFT_MONITOR_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert load_config(write(tmp_path, MINIMAL)).database_url == "postgresql+psycopg://u@h/db"


def test_config_path_from_env(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, MINIMAL)
    clean_env.setenv("DRIFT_MONITOR_CONFIG", str(p))
    assert load_config().path == p.resolve()


def test_env_interpolation_in_any_string(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DM_MODEL", "gpt-4o-mini")
    text = MINIMAL.replace("model: gpt-4o", "model: ${DM_MODEL}") + \
        "    base_url: ${DM_BASE:-http://127.0.0.1:8000/v1}\n"
    t = load_config(write(tmp_path, text)).target("bot")
    assert t.model == "gpt-4o-mini"
    assert t.base_url == "http://127.0.0.1:8000/v1"


def test_missing_interpolated_variable_names_key_and_line(
        tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DM_NOPE", raising=False)
    text = MINIMAL.replace("model: gpt-4o", "model: ${DM_NOPE}")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    msg = str(e.value)
    assert "DM_NOPE" in msg and "targets.0.model" in msg and ":5" in msg


def test_unknown_key_is_an_error_with_its_line(tmp_path: Path,
                                              clean_env: pytest.MonkeyPatch) -> None:
    text = MINIMAL + "    temprature: 0\n"
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert e.value.line == 8
    assert "unknown key 'temprature'" in str(e.value)
    assert e.value.key == "targets.0.temprature"


def test_unknown_top_level_key(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown key 'alerts'"):
        load_config(write(tmp_path, MINIMAL + "alerts: {}\n"))


def test_malformed_yaml_names_file_and_line(tmp_path: Path,
                                            clean_env: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, MINIMAL + "  - name: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.file == str(p) and e.value.line is not None
    assert "malformed YAML" in str(e.value)


def test_duplicate_yaml_key_is_rejected(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="duplicate key 'model'"):
        load_config(write(tmp_path, MINIMAL + "    model: other\n"))


def test_empty_and_missing_files(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_config(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("line, expected", [
    ("    provider: nopenai\n", "unknown provider 'nopenai'"),
    ("    schedule: every now and then\n", "neither 'every N"),
    ("    schedule: 61 * * * *\n", "not a valid cron expression"),
    ("    samples: 0\n", "greater than or equal to 1"),
    ("    api_key_env: sk-abc123\n", "should match pattern"),
])
def test_invalid_values_name_their_key(tmp_path: Path, clean_env: pytest.MonkeyPatch,
                                       line: str, expected: str) -> None:
    field = line.split(":")[0].strip()
    base = "\n".join(x for x in MINIMAL.splitlines() if not x.strip().startswith(field + ":"))
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, base + "\n" + line))
    assert expected in str(e.value)
    assert e.value.key == f"targets.0.{field}"


def test_a_pasted_key_value_is_never_echoed(tmp_path: Path,
                                           clean_env: pytest.MonkeyPatch) -> None:
    secret = "sk-live-0123456789abcdef0123456789"
    text = MINIMAL.replace("api_key_env: TEST_OPENAI_KEY", f"api_key: {secret}")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert "unknown key 'api_key'" in str(e.value)
    assert secret not in str(e.value)


def test_duplicate_target_names(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    text = MINIMAL + MINIMAL.split("targets:\n", 1)[1]
    with pytest.raises(ConfigError, match="duplicate target name 'bot'"):
        load_config(write(tmp_path, text))


def test_missing_api_key_env_names_variable_key_and_line(
        tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("TEST_OPENAI_KEY", raising=False)
    cfg = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError) as e:
        cfg.api_key(cfg.target("bot"))
    assert "TEST_OPENAI_KEY is not set" in str(e.value)
    assert e.value.key == "targets.0.api_key_env" and e.value.line == 6
    clean_env.setenv("TEST_OPENAI_KEY", "k-123")
    assert cfg.api_key(cfg.target("bot")) == "k-123"


def test_unknown_target_lists_known_ones(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match=r"unknown target 'x' \(targets: bot\)"):
        cfg.target("x")


def test_slack_needs_a_way_to_post(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="bot_token_env needs a channel"):
        load_config(write(tmp_path, MINIMAL + "notify:\n  slack: {bot_token_env: SLACK_T}\n"))


def test_schedules_and_durations() -> None:
    assert parse_schedule("every 30s").interval_seconds == 30
    assert parse_schedule("every 5m").interval_seconds == 300
    assert parse_schedule("every 1h").interval_seconds == 3600
    assert parse_schedule("0 9 * * mon").cron == "0 9 * * mon"
    assert parse_duration("4h") == 14400
    with pytest.raises(ValueError):
        parse_duration("4 hours")


def test_a_budget_without_prices_is_rejected(tmp_path: Path,
                                             clean_env: pytest.MonkeyPatch) -> None:
    text = MINIMAL + "    limits: {daily_budget_usd: 2.0}\n"
    with pytest.raises(ConfigError, match="needs a price table") as e:
        load_config(write(tmp_path, text))
    assert e.value.key == "targets.0"
    load_config(write(tmp_path, text + "    price: {input_per_mtok: 1, output_per_mtok: 2}\n"))
