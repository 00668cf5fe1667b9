"""The bundled real GPT-3.5 responses (LLMDrift, Apache-2.0; attribution in
drift_monitor/data/llmdrift_gpt35/README.md), for tests that pin features on real answers."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "drift_monitor" / "data" / "llmdrift_gpt35"
TASKS = ("leetcode_easy", "opinion_survey", "prime_numbers", "sensitive_questions")
MARCH, JUNE = "2023-03", "2023-06"


@cache
def load_task(task: str) -> tuple[dict[str, Any], ...]:
    with (DATA / f"{task}.jsonl").open(encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f)


def snapshot(task: str, snap: str) -> list[dict[str, Any]]:
    return [r for r in load_task(task) if r["snapshot"] == snap]
