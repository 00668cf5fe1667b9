"""``drift-monitor compare``'s report: where a candidate target behaves differently from a
pinned one (:mod:`.report`), as text (:mod:`.text`) and HTML (:mod:`.html`). Which runs are
compared, and the rounds that make them, are the application layer's (app/compare.py).
"""

from __future__ import annotations

from drift_monitor.compare.report import CompareReport

__all__ = ["CompareReport"]
