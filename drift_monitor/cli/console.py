"""`serve`: the web console alone (no probing)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from drift_monitor.cli._base import State, handles_errors, pass_state


@click.command()
@click.option("--host", default=None, help="Listen address (default server.host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Listen port (default server.port).")
@click.option("--actions/--read-only", "actions", default=False, show_default=True,
              help="Allow acknowledging and silencing from the console (POST, CSRF-checked).")
@pass_state
@handles_errors
def serve(state: State, host: str | None, port: int | None, actions: bool) -> None:
    """Serve the web console on server.host:server.port: a view of the database, no probing.

    Read-only unless --actions. Bound beyond loopback it requires the token named by
    server.auth_token_env. Exit 0 on SIGTERM/SIGINT, 2 when it cannot start.
    """
    from drift_monitor.web.server import start_console

    console = start_console(state.config, host=host, port=port, actions=actions)
    click.echo(f"console on {console.url} ({'actions enabled' if actions else 'read-only'})",
               err=True)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        console.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    console.wait()
    sys.exit(0)
