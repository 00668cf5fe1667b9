"""Shared pieces of the command layer: the root group, errors -> exit 2, the store.

The root group loads each command's module only when that command runs (``COMMANDS``), so
``drift-monitor --help`` imports no command module and none of their libraries.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from drift_monitor import __version__
from drift_monitor.errors import DriftMonitorError, StorageError
from drift_monitor.redaction import Redactor

if TYPE_CHECKING:
    from drift_monitor.config import Config

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
            # pydantic and the models cost ~0.1 s to import: only commands that read the config
            from drift_monitor.config import load_config

            self._config = load_config(self.config_path)
            _install_redaction(self._config)
        return self._config


_redaction = Redactor()


def _install_redaction(config: Config) -> None:
    """Every log line of the CLI goes through the daemon's secret filter, so ``-vv`` never
    shows an API key (say, one embedded in a ``base_url``) or a webhook URL."""
    from drift_monitor.daemon.logs import secret_values

    _redaction.secrets = Redactor(secret_values(config)).secrets
    for h in logging.getLogger().handlers:
        h.addFilter(_redaction)  # once per handler: addFilter ignores a filter already there


def _redact(text: str) -> str:
    return _redaction.redact(text)


pass_state = click.make_pass_decorator(State)

# command name -> ("module:attribute", the first paragraph of its docstring). `--help` prints
# the short help from here; tests/test_cli_startup.py checks it against the docstrings.
COMMANDS: dict[str, tuple[str, str]] = {
    "baseline": ("drift_monitor.cli.baselines:baseline", "Pin, show and accept baselines."),
    "check": ("drift_monitor.cli.checks:check",
              "Compare the latest window with the baseline, record findings, update incidents "
              "and queue notifications (delivered by 'drift-monitor notify')."),
    "compare": ("drift_monitor.cli.compare:compare",
                "Compare CANDIDATE with the pinned TARGET on the probes both run: differences "
                "per dimension and probe with examples, expectation pass rates, cost per 1,000 "
                "probes, latency p50/p95, and what the candidate fixes, breaks and costs."),
    "db": ("drift_monitor.cli.setup:db", "Database schema commands."),
    "demo": ("drift_monitor.cli.demo:demo",
             "A self-contained run on recorded GPT-3.5 data: baseline, silent update, "
             "detection."),
    "digest": ("drift_monitor.cli.checks:digest",
               "Build the digest of the last DAYS days; print it, send it, write the HTML "
               "report."),
    "features": ("drift_monitor.cli.rounds:features", "Stored response features."),
    "incidents": ("drift_monitor.cli.operations:incidents",
                  "List, show and acknowledge incidents."),
    "init": ("drift_monitor.cli.setup:init",
             "Write a commented drift-monitor.yaml and a starter probes/ into DIRECTORY."),
    "notify": ("drift_monitor.cli.checks:notify",
               "Deliver pending notifications now (alerts, resolutions, digests)."),
    "probe": ("drift_monitor.cli.rounds:probe",
              "Run one probe round now for the targets (default: all)."),
    "run": ("drift_monitor.cli.daemon:run",
            "Run the daemon: every target's probe rounds on its schedule, a check after each "
            "round, notification delivery, the weekly digest, /healthz and /metrics on "
            "server.host:port."),
    "serve": ("drift_monitor.cli.console:serve",
              "Serve the web console on server.host:server.port: a view of the database, no "
              "probing."),
    "silence": ("drift_monitor.cli.operations:silence",
                "Hold back a target's alerts for a while (incidents are still recorded and "
                "shown)."),
    "targets": ("drift_monitor.cli.operations:targets",
                "Every target with its state (ok, drifting, confirming, stale, failing, "
                "silenced), last run, open incidents, error rate and models of the last 24 h, "
                "cost today."),
    "validate": ("drift_monitor.cli.setup:validate",
                 "Load config and probes, check every target, and print a summary with each "
                 "target's calls and estimated cost per round and per month."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when one is run or its own help is shown
    (click's documented lazy-loading pattern); its help lists them from ``lazy`` without
    importing them."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module_name, _, attr = self.lazy[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}:{attr} is not a click command")
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str],
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            # click's "Did you mean" looks at the loaded commands only: look at every name
            name = getattr(exc, "command_name", None)
            if isinstance(name, str) and hasattr(exc, "possibilities"):
                exc.possibilities = difflib.get_close_matches(name, self.list_commands(ctx))
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:  # loaded already (or added directly): its own help
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, click.utils.make_default_short_help(self.lazy[name][1],
                                                                       limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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
