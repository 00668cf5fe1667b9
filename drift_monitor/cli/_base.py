"""Shared pieces of the command layer: the root group, errors -> exit 2, the store."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from drift_monitor import __version__
from drift_monitor.config import Config, load_config
from drift_monitor.errors import DriftMonitorError, StorageError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def handles_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StorageError as exc:
            # a database fault mid-command (dropped, read-only, locked, gone): one line
            _fail(_redact(str(exc)))
        except DriftMonitorError as exc:
            _fail(str(exc))
        except Exception as exc:
            # SQLAlchemy's, from a path that does not go through Store (migrations)
            from drift_monitor.storage.sql import as_storage_error

            error = as_storage_error(exc)
            if error is None:
                raise
            _fail(_redact(str(error)))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


class State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            _install_redaction(self._config)
        return self._config


_redaction: Any = None


def _install_redaction(config: Config) -> None:
    """Every log line of the CLI goes through the daemon's secret filter, so ``-vv`` never
    shows an API key (say, one embedded in a ``base_url``) or a webhook URL."""
    global _redaction
    from drift_monitor.daemon.logs import RedactSecrets, secret_values

    filt = RedactSecrets(secret_values(config))
    root = logging.getLogger()
    for h in root.handlers:
        if _redaction is not None:
            h.removeFilter(_redaction)
        h.addFilter(filt)
    _redaction = filt


def _redact(text: str) -> str:
    return _redaction._clean(text) if _redaction is not None and _redaction.secrets else text


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default ./drift-monitor.yaml, or $DRIFT_MONITOR_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(__version__, prog_name="drift-monitor")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """drift-monitor: catches silent behaviour changes in hosted language models."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    from drift_monitor.daemon.logs import TextFormatter

    # the daemon's key=value lines: fields stay fields (`run finished run=4 status=failed`)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    ctx.obj = State(config_path)


def open_store(config: Config) -> Any:
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    engine = make_engine(config.database_url)
    ensure_schema(engine)
    return Store(engine)




def json_default(o: Any) -> Any:
    """For json.dumps: datetimes as ISO 8601, anything else as its string."""
    return o.isoformat() if hasattr(o, "isoformat") else str(o)


def write_report(path: str, html: str) -> None:
    """Write an HTML report; an unwritable path is a clear error (exit 2)."""
    from pathlib import Path

    try:
        Path(path).write_text(html, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write the report to {path}: {exc.strerror or exc}")
    click.echo(f"report written to {path}")
