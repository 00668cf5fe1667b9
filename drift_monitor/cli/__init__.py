"""The command layer: parsing and printing only. Exit codes follow DESIGN.md.

Any DriftMonitorError becomes one clear line on stderr and exit code 2, never a traceback.
One module per group of commands; each registers itself on ``main``.
"""

from __future__ import annotations

from drift_monitor.cli import (  # noqa: F401  (registers the commands)
    baselines,
    checks,
    compare,
    console,
    daemon,
    demo,
    operations,
    rounds,
    setup,
)
from drift_monitor.cli._base import main

__all__ = ["main"]
