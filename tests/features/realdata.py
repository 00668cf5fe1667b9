"""The bundled real GPT-3.5 responses (LLMDrift, Apache-2.0; attribution in
drift_monitor/data/llmdrift_gpt35/README.md), for tests that pin features on real answers."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "drift_monitor" / "data" / "llmdrift_gpt35"
TASKS = ("leetcode_easy", "opinion_survey", "prime_numbers", "sensitive_questions")
MARCH, JUNE = "2023-03", "2023-06"


# the same files as ../shared/data/llmdrift-gpt35 beside the repository; the package ships them
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "llmdrift-gpt35"


@cache
def load_task(task: str) -> tuple[dict[str, Any], ...]:
    """The task's rows. A missing file fails the test that asked, saying where it looked: these
    tests pin features on real answers, and never pass by skipping them."""
    path = DATA / f"{task}.jsonl"
    if not path.is_file():
        pytest.fail(f"the LLMDrift GPT-3.5 dataset is missing: {path} does not exist (it ships "
                    f"in the package as drift_monitor/data/llmdrift_gpt35/; a copy is in "
                    f"{SHARED})", pytrace=False)
    with path.open(encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f)


def snapshot(task: str, snap: str) -> list[dict[str, Any]]:
    return [r for r in load_task(task) if r["snapshot"] == snap]
