"""Structured logs for the daemon: one line per event, as ``key=value`` text or as JSON.

Every record passes a redaction filter that replaces the values of the secrets the config names
(API keys, webhook URLs, bot tokens) and any password in a database URL with ``***``, so a
secret never reaches a log line even when a library puts it in an exception message
(reliability contract 10). Extra fields go in ``extra={"target": ..., ...}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from drift_monitor.config import Config

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message",
                                                                               "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _ts(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "event": ..., **extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": _ts(record), "level": record.levelname.lower(),
                               "logger": record.name, "event": record.getMessage()}
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``ts level logger: event key=value ...`` on one line (tracebacks folded with ``\\n``)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_ts(record), record.levelname.lower(), f"{record.name}:", record.getMessage()]
        for k, v in _fields(record).items():
            text = str(v)
            parts.append(f"{k}={json.dumps(text) if ' ' in text or not text else text}")
        line = " ".join(parts)
        if record.exc_info:
            line += " exc=" + json.dumps(self.formatException(record.exc_info))
        return line.replace("\n", "\\n")


class RedactSecrets(logging.Filter):
    """Replaces known secret values in the message, its arguments and extra fields."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # longest first, so a secret that contains another is replaced whole
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        for k, v in _fields(record).items():
            if isinstance(v, str):
                setattr(record, k, self._clean(v))
        if record.exc_info:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
        return True


_SECRET_PARAM = ("key", "token", "secret", "sig", "password", "auth")


def url_secrets(url: str | None) -> list[str]:
    """What in a URL looks like a credential: its password and the values of query parameters
    named like one (``?key=...``, ``&api_token=...``), however the config filled them in."""
    if not url:
        return []
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        found += [v for k, v in parse_qsl(parts.query)
                  if any(w in k.lower() for w in _SECRET_PARAM)]
    except ValueError:
        return []
    return [v for v in found if v]


# APScheduler's own warnings, as events with fields: (its message template, our event, the
# names of its arguments)
_APSCHEDULER = {
    'Execution of job "%s" skipped: maximum number of running instances reached (%d)':
        ("job skipped: its previous run still runs", ("job", "max_instances")),
    'Run time of job "%s" was missed by %s':
        ("job started late", ("job", "late_by")),
    'Job "%s" raised an exception':
        ("job raised an exception", ("job",)),
}


class SchedulerEvents(logging.Filter):
    """Rewrites APScheduler's records into the daemon's event shape: a fixed event text and the
    job as a field, instead of its own sentences with the values inside."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apscheduler"):
            return True
        known = _APSCHEDULER.get(str(record.msg))
        args = record.args if isinstance(record.args, tuple) else ()
        if known is not None:
            event, names = known
            for name, value in zip(names, args, strict=False):
                setattr(record, name, str(value))
            record.msg, record.args = event, None
        record.scheduler_logger = record.name
        record.name = "drift_monitor.daemon"
        return True


def secret_values(config: Config) -> list[str]:
    """The values of every env var the config names as a secret, and the database password."""
    names: list[str | None] = [t.api_key_env for t in config.settings.targets]
    if any(t.provider == "bedrock" for t in config.settings.targets):
        names += ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]  # the AWS chain's, from env
    slack = config.settings.notify.slack
    if slack is not None:
        names += [slack.webhook_url_env, slack.bot_token_env, slack.signing_secret_env]
    names.append(config.settings.server.auth_token_env)  # the console's token
    notify = config.settings.notify
    if notify.webhook is not None:
        names += [notify.webhook.url_env, notify.webhook.secret_env]
    if notify.pagerduty is not None:
        names.append(notify.pagerduty.routing_key_env)
    if notify.email is not None:
        names += [notify.email.username_env, notify.email.password_env]
    values = [os.environ.get(n, "") for n in names if n]
    values += [v for t in config.settings.targets for v in url_secrets(t.base_url)]
    from drift_monitor.storage.engine import url_password  # SQLAlchemy: only when logging starts

    password = url_password(config.database_url)
    if password:
        values.append(password)
    return [v for v in values if v]


def configure(*, json_lines: bool, level: int = logging.INFO,
              secrets: list[str] | None = None) -> None:
    """Replace the root handlers with one structured handler on stderr."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(SchedulerEvents())
    handler.addFilter(RedactSecrets(secrets or []))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # APScheduler logs every job start and end at INFO: noise at one-second schedules
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
