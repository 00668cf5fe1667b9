"""`demo`."""

from __future__ import annotations

from pathlib import Path

import click

from drift_monitor.cli._base import handles_errors, main

# --- demo -----------------------------------------------------------------------------------

@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Keep the demo's files here (default: a temporary directory).")
@handles_errors
def demo(directory: str | None) -> None:
    """A self-contained run on recorded GPT-3.5 data: baseline, silent update, detection."""
    from drift_monitor.app.demo import run_demo

    run_demo(Path(directory) if directory else None, echo=click.echo)
