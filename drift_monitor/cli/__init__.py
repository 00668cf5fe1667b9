"""The command layer: parsing and printing only. Exit codes follow DESIGN.md.

Any DriftMonitorError becomes one clear line on stderr and exit code 2, never a traceback.
One module per group of commands; the root group (``_base.main``) imports a command's module
only when that command runs: ``_base.COMMANDS`` maps each name to its ``module:attribute``.
"""

from __future__ import annotations

from drift_monitor.cli._base import main

__all__ = ["main"]
