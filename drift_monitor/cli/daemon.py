"""`run`: the always-on daemon."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import click

from drift_monitor.cli._base import State, handles_errors, pass_state


@click.command()
@click.option("--log-json", is_flag=True, envvar="DRIFT_MONITOR_LOG_JSON",
              help="One JSON object per log line (also DRIFT_MONITOR_LOG_JSON=1).")
@pass_state
@handles_errors
def run(state: State, log_json: bool) -> None:
    """Run the daemon: every target's probe rounds on its schedule, a check after each round,
    notification delivery, the weekly digest, /healthz and /metrics on server.host:port.

    Stops cleanly on SIGTERM or SIGINT (exit 0). Exit 2 when it cannot start.
    """
    from drift_monitor.daemon import logs
    from drift_monitor.daemon.service import Daemon

    config = state.config
    verbose = click.get_current_context().find_root().params.get("verbose", 0)
    logs.configure(json_lines=log_json, level=logging.DEBUG if verbose >= 2 else logging.INFO,
                   secrets=logs.secret_values(config))
    daemon = Daemon(config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("drift_monitor.daemon").info(
            "signal received", extra={"signal": signal.Signals(signum).name})
        daemon.request_stop()

    def on_hangup(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("drift_monitor.daemon").info(
            "signal received: reloading the config", extra={"signal": "SIGHUP"})
        daemon.request_reload()

    # installed before start so a signal during start-up is a clean stop too
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    daemon.start()
    clean = daemon.serve()
    logging.shutdown()
    if not clean:
        # a job overran the stop deadline; its transaction is rolled back by the database,
        # and waiting for its thread would break the 10 s promise
        os._exit(0)
    sys.exit(0)
