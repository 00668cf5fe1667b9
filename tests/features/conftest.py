from __future__ import annotations

import pytest

from .realdata import TASKS, load_task


@pytest.fixture(scope="session")
def all_responses() -> list[str]:
    """All 1,308 bundled real responses."""
    return [r["response"] for task in TASKS for r in load_task(task)]
