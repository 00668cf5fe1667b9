"""Typed, frozen settings from ``drift-monitor.yaml`` and the environment.

Every error names the file, the key and the line. ``${VAR}`` (or ``${VAR:-default}``) in any
string is replaced from the environment. Unknown keys are errors. Secrets are only ever named by
environment variable (``api_key_env``, ``webhook_url_env``, ``bot_token_env``); their values are
read when needed and never stored on the settings objects.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from drift_monitor.errors import ConfigError, ProbeError
from drift_monitor.probes import Probe, ProbeLibrary, load_library
from drift_monitor.registry import PROVIDERS, UnknownPluginError
from drift_monitor.yamlio import (
    MAX_CONFIG_BYTES,
    Path_,
    StrictModel,
    check_json_value,
    dotted,
    line_for,
    load_yaml_with_lines,
    raise_located,
)

DEFAULT_CONFIG = "drift-monitor.yaml"
ENV_CONFIG = "DRIFT_MONITOR_CONFIG"
ENV_DATABASE_URL = "DRIFT_MONITOR_DATABASE_URL"

_STRICT = ConfigDict(extra="forbid", frozen=True)
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# "every 5m" or just "5m" (DESIGN.md and the template spell schedules both ways)
_EVERY = re.compile(r"^(?:every\s+)?(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_INTERVAL_S = 366 * 86400
MAX_DURATION_S = 3660 * 86400
# column widths of the names the database stores (targets.name, probe_versions.suite, ...)
MAX_NAME = 200
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_duration(text: str) -> float:
    """``"30s"``, ``"5m"``, ``"4h"``, ``"1d"`` -> seconds. Raises ValueError otherwise."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a duration like 30s, 5m, 4h or 1d")
    seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds > MAX_DURATION_S:  # timedelta and datetime arithmetic overflow further out
        raise ValueError(f"'{text}' is longer than the longest duration, 3660d")
    return seconds


@dataclass(frozen=True)
class Schedule:
    """Either a fixed interval (``every 5m``) or a cron expression (5 fields)."""

    text: str
    interval_seconds: float | None
    cron: str | None

    def mean_interval_seconds(self) -> float:
        """The average time between two slots (a cron expression: over its next four weeks)."""
        if self.interval_seconds is not None:
            return self.interval_seconds
        from datetime import UTC, datetime, timedelta

        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(self.cron or "", timezone="UTC")
        start = prev = datetime(2026, 1, 5, tzinfo=UTC)
        end = start + timedelta(days=28)
        fires = 0
        while fires < 100_000:
            nxt = trigger.get_next_fire_time(prev, prev)
            if nxt is None or nxt > end:
                break
            fires += 1
            prev = nxt + timedelta(seconds=1)
        return (end - start).total_seconds() / max(1, fires)


def parse_schedule(text: str) -> Schedule:
    m = _EVERY.match(text.strip())
    if m:
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        if seconds < 1:
            raise ValueError("a schedule interval must be at least 1s")
        if seconds > MAX_INTERVAL_S:
            raise ValueError(f"'{text}' is longer than the longest interval, 366d")
        return Schedule(text=text, interval_seconds=seconds, cron=None)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"'{text}' is neither 'every N(s|m|h|d)' (or 'N(s|m|h|d)') nor a "
                         "5-field cron expression")
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a valid cron expression: {exc}") from None
    from datetime import UTC, datetime

    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"'{text}' never fires (no date matches it, e.g. 30 February)")
    return Schedule(text=text, interval_seconds=None, cron=text)


def check_http_url(url: str) -> None:
    """ValueError for a URL that cannot be parsed or names a scheme other than http(s) (the
    message never repeats the URL: it may hold a key). A URL without a scheme is left to the
    provider's own checks, which say what it expects."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ValueError("is not a valid URL") from None
    if parsed.scheme and parsed.scheme not in ("http", "https"):
        raise ValueError("is not an http(s) URL: use http:// or https://")


class Limits(StrictModel):
    model_config = _STRICT
    concurrency: int = Field(default=8, ge=1, le=512)
    # at least one call every 100 minutes: slower limits leave a round unfinished for days
    requests_per_minute: float | None = Field(default=None, ge=0.01, le=1_000_000)
    daily_budget_usd: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_attempts: int = Field(default=4, ge=1, le=20)


class Price(StrictModel):
    model_config = _STRICT
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


# target keys that only one provider kind reads: on another kind they are errors, not ignored
_PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "deployment": ("azure_openai",), "api_version": ("azure_openai",), "region": ("bedrock",),
    "project": ("vertex",), "location": ("vertex",)}


class TargetConfig(StrictModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    provider: str
    model: str = Field(min_length=1, max_length=MAX_NAME)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=_ENV_NAME)
    suites: list[str] = Field(min_length=1)
    samples: int | None = Field(default=None, ge=1, le=1000)
    schedule: str = "every 1h"
    params: dict[str, Any] = Field(default_factory=dict)
    limits: Limits = Limits()
    price: Price | None = None
    # another target that should behave the same unless the provider changes this one (e.g.
    # the dated snapshot behind a floating alias): alerts say which of the two drifted
    control: str | None = Field(default=None, min_length=1)
    # keys of the cloud provider kinds; each belongs to the kinds in _PROVIDER_KEYS
    deployment: str | None = Field(default=None, min_length=1)
    api_version: str | None = Field(default=None, min_length=1)
    region: str | None = Field(default=None, min_length=1)
    project: str | None = Field(default=None, min_length=1)
    location: str | None = Field(default=None, min_length=1)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str) -> str:
        try:
            PROVIDERS.location(v)
        except UnknownPluginError as exc:  # "unknown provider 'x' (available: ...)"
            raise ValueError(str(exc)) from None
        return v

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, v: str) -> str:
        parse_schedule(v)
        return v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None:
            check_http_url(v)
        return v

    @field_validator("params")
    @classmethod
    def _json_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_json_value(v, "params")
        return v

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> TargetConfig:
        for key, kinds in _PROVIDER_KEYS.items():
            if getattr(self, key) is not None and self.provider not in kinds:
                raise ValueError(f"'{key}' is a key of provider {' and '.join(kinds)}, not of "
                                 f"{self.provider}")
        return self

    @model_validator(mode="after")
    def _budget_needs_price(self) -> TargetConfig:
        if self.limits.daily_budget_usd is not None and self.price is None:
            raise ValueError("limits.daily_budget_usd needs a price table (price: "
                             "{input_per_mtok: ..., output_per_mtok: ...}) to count spend")
        return self

    @property
    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule)


class BaselineConfig(StrictModel):
    model_config = _STRICT
    min_runs: int = Field(default=3, ge=1, le=100)


class DetectionConfig(StrictModel):
    model_config = _STRICT
    window_runs: int = Field(default=1, ge=1, le=100)
    confirm: bool = True
    # outage as drift (detection/outage.py): this many consecutive rounds failed, or with at
    # least this error rate, open an operational incident
    outage_rounds: int = Field(default=2, ge=1, le=100)
    outage_error_rate: float = Field(default=0.5, gt=0, le=1)
    # the false-page budget the sequential test spends, per target and year (converted to
    # checks with the target's schedule)
    false_pages_per_year: float = Field(default=1.0, gt=0, le=10_000)


class SlackConfig(StrictModel):
    model_config = _STRICT
    webhook_url_env: str | None = Field(default=None, pattern=_ENV_NAME)
    bot_token_env: str | None = Field(default=None, pattern=_ENV_NAME)
    channel: str | None = None
    api_base_url: str | None = None
    # the Slack app's signing secret: alerts get "Silence 4h" / "Acknowledge" buttons
    signing_secret_env: str | None = Field(default=None, pattern=_ENV_NAME)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None:
            check_http_url(v)
        return v

    @model_validator(mode="after")
    def _one_way(self) -> SlackConfig:
        if not self.webhook_url_env and not self.bot_token_env:
            raise ValueError("set webhook_url_env, or bot_token_env and channel")
        if self.bot_token_env and not self.channel:
            raise ValueError("bot_token_env needs a channel")
        return self


class WebhookConfig(StrictModel):
    """A generic JSON webhook, signed the Standard Webhooks way with a secret from the env."""

    model_config = _STRICT
    url_env: str = Field(pattern=_ENV_NAME)
    secret_env: str = Field(pattern=_ENV_NAME)
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class PagerDutyConfig(StrictModel):
    """PagerDuty Events API v2; ``api_base_url`` overrides https://events.pagerduty.com."""

    model_config = _STRICT
    routing_key_env: str = Field(pattern=_ENV_NAME)
    api_base_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None:
            check_http_url(v)
        return v


def _email_address(v: str) -> str:
    if not re.match(r"^[^@\s<>]+@[^@\s<>]+$", v):
        raise ValueError(f"'{v}' is not an email address")
    return v


EmailAddress = Annotated[str, AfterValidator(_email_address)]


class EmailConfig(StrictModel):
    """SMTP with STARTTLS (``smtplib``); the login, when any, comes from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    from_: EmailAddress = Field(alias="from")
    to: list[EmailAddress] = Field(min_length=1)
    username_env: str | None = Field(default=None, pattern=_ENV_NAME)
    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    # false only for a relay on a trusted network; the login is never sent without TLS
    starttls: bool = True
    ca_file: str | None = None  # a private CA for the server's certificate (else the system's)
    timeout_s: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _login_needs_tls(self) -> EmailConfig:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("set both username_env and password_env, or neither")
        if self.password_env and not self.starttls:
            raise ValueError("a login (password_env) needs starttls: true; the password is "
                             "never sent in clear")
        return self


Dimension = Literal["formatting", "tone", "answers", "metadata", "operational"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)


class RouteConfig(StrictModel):
    """One entry of ``notify.routes``: the conditions an incident must meet, and its channel.
    A condition left out matches everything; the first route that matches wins."""

    model_config = _STRICT
    targets: str | list[str] | None = None  # glob(s) on the target name
    dimensions: list[Dimension] | None = Field(default=None, min_length=1)
    min_severity: Literal["critical", "warning", "info"] | None = None
    channel: str = Field(min_length=1)

    @property
    def target_globs(self) -> list[str] | None:
        return [self.targets] if isinstance(self.targets, str) else self.targets


class NotifyConfig(StrictModel):
    model_config = _STRICT
    slack: SlackConfig | None = None
    webhook: WebhookConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    email: EmailConfig | None = None
    routes: list[RouteConfig] = Field(default_factory=list)
    # the channel of an incident no route matches; unset: every configured channel (else console)
    default: str | None = Field(default=None, min_length=1)
    min_severity: Literal["critical", "warning", "info"] = "warning"
    repeat_interval: str = "4h"

    @field_validator("repeat_interval")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class DigestConfig(StrictModel):
    model_config = _STRICT
    schedule: str = "0 9 * * mon"
    timezone: str = "UTC"
    channel: str | None = Field(default=None, min_length=1)  # default: notify.default

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        parse_schedule(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}'") from None
        return v


class ServerConfig(StrictModel):
    model_config = _STRICT
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    # alerts and digests link to console pages under this URL (web/links.py)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s|<>]+$")
    # the console's token; required when host is not a loopback address (web/auth.py)
    auth_token_env: str | None = Field(default=None, pattern=_ENV_NAME)


class RetentionConfig(StrictModel):
    """How long stored data is kept (``db prune``, and the daemon hourly). None keeps it for
    ever. A baseline's runs and their responses are never pruned."""

    model_config = _STRICT
    responses: str | None = None
    runs: str | None = None

    @field_validator("responses", "runs")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None and parse_duration(v) < 86400:
            raise ValueError(f"'{v}' is shorter than a day; retention is counted in days")
        return v

    @model_validator(mode="after")
    def _runs_outlive_responses(self) -> RetentionConfig:
        if self.responses and self.runs and parse_duration(self.runs) < parse_duration(
                self.responses):
            raise ValueError("runs must be kept at least as long as responses (a run's "
                             "responses go with it)")
        return self


class Settings(StrictModel):
    model_config = _STRICT
    database: str = "sqlite:///drift-monitor.db"
    targets: list[TargetConfig] = Field(min_length=1)
    baseline: BaselineConfig = BaselineConfig()
    detection: DetectionConfig = DetectionConfig()
    notify: NotifyConfig = NotifyConfig()
    digest: DigestConfig = DigestConfig()
    server: ServerConfig = ServerConfig()
    retention: RetentionConfig = RetentionConfig()

    @model_validator(mode="after")
    def _unique_targets(self) -> Settings:
        seen: set[str] = set()
        for t in self.targets:
            if t.name in seen:
                raise ValueError(f"duplicate target name '{t.name}'")
            seen.add(t.name)
        return self


DEFAULT_SAMPLES = 3


def samples_for(probe: Probe, target: TargetConfig, override: int | None) -> int:
    """CLI --samples, else the target's samples, else the probe's or its suite's, else 3."""
    for value in (override, target.samples, probe.samples):
        if value is not None:
            return value
    return DEFAULT_SAMPLES


@dataclass(frozen=True)
class Config:
    """Loaded settings plus where they came from (for error messages and relative paths)."""

    settings: Settings
    path: Path
    lines: dict[Path_, int]
    database_url: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def probes_dir(self) -> Path:
        return self.base_dir / "probes"

    def target(self, name: str) -> TargetConfig:
        for t in self.settings.targets:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.settings.targets)
        raise ConfigError(f"unknown target '{name}' (targets: {known})", file=str(self.path),
                          key="targets")

    def targets(self, names: list[str] | tuple[str, ...] | None = None) -> list[TargetConfig]:
        if not names:
            return list(self.settings.targets)
        return [self.target(n) for n in names]

    def _target_index(self, target: TargetConfig) -> int:
        return [t.name for t in self.settings.targets].index(target.name)

    def secret(self, env_name: str | None, key_path: Path_) -> str | None:
        """The value of the env var named at ``key_path``; ConfigError naming it when unset."""
        if env_name is None:
            return None
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(f"environment variable {env_name} is not set (it should hold the "
                              "secret; the file only names it)", file=str(self.path),
                              key=dotted(key_path), line=line_for(key_path, self.lines))
        return value

    def api_key(self, target: TargetConfig) -> str | None:
        return self.secret(target.api_key_env,
                           ("targets", self._target_index(target), "api_key_env"))

    def load_probes(self) -> ProbeLibrary:
        return load_library(self.probes_dir)

    def check_suites(self, library: ProbeLibrary) -> None:
        """ProbeError naming the config line of any suite a target lists that does not exist."""
        for i, t in enumerate(self.settings.targets):
            for j, s in enumerate(t.suites):
                if s not in library.suites:
                    known = ", ".join(sorted(library.suites)) or "none"
                    raise ProbeError(
                        f"target '{t.name}' lists unknown suite '{s}' "
                        f"(suites in {library.directory}: {known})", file=str(self.path),
                        key=f"targets.{i}.suites.{j}", line=line_for(("targets", i, "suites", j),
                                                                     self.lines))


def _interpolate(value: Any, path: Path_, file: str, lines: dict[Path_, int]) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            got = os.environ.get(name)
            if got is None:
                if default is not None:
                    return default
                raise ConfigError(f"environment variable {name} is not set (used as ${{{name}}})",
                                  file=file, key=dotted(path) or None,
                                  line=line_for(path, lines))
            return got

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), file, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), file, lines) for i, v in enumerate(value)]
    return value


def resolve_config_path(path: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path)
    return Path(os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def _resolve_database_url(url: str, base_dir: Path) -> str:
    """Relative SQLite paths are relative to the config file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:" \
            and not url.startswith(prefix + "file:"):  # an SQLite URI (?mode=ro&uri=true)
        rest = url[len(prefix):]
        return prefix + str((base_dir / rest).resolve())
    return url


def _check_controls(settings: Settings, file: str, lines: dict[Path_, int]) -> None:
    """ConfigError at the key's line for a ``control`` that names itself or no target."""
    names = [t.name for t in settings.targets]
    for i, t in enumerate(settings.targets):
        if t.control is None:
            continue
        problem = None
        if t.control == t.name:
            problem = f"target '{t.name}' cannot be its own control"
        elif t.control not in names:
            problem = (f"control '{t.control}' of target '{t.name}' is not a target "
                       f"(targets: {', '.join(names)})")
        if problem:
            raise ConfigError(problem, file=file, key=f"targets.{i}.control",
                              line=line_for(("targets", i, "control"), lines))


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the config. Raises ConfigError naming file, key and line."""
    p = resolve_config_path(path)
    file = str(p)
    if not p.exists():
        raise ConfigError("config file not found (run 'drift-monitor init' to create one, or "
                          f"pass --config / set {ENV_CONFIG})", file=file)
    data, lines = load_yaml_with_lines(p, ConfigError, max_bytes=MAX_CONFIG_BYTES)
    if data is None:
        raise ConfigError("the config file is empty", file=file)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=file, line=1)
    data = _interpolate(data, (), file, lines)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise_located(exc, file, lines, ConfigError)
    _check_controls(settings, file, lines)
    url = os.environ.get(ENV_DATABASE_URL) or settings.database
    return Config(settings=settings, path=p.resolve(), lines=lines,
                  database_url=_resolve_database_url(url, p.resolve().parent))
