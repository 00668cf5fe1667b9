"""Regenerate the starter probe suites in drift_monitor/templates/probes/ from the bundled
GPT-3.5 recordings (LLMDrift, Apache-2.0; see drift_monitor/data/llmdrift_gpt35/README.md).

Run from the repository root: python scripts/make_starter_probes.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "drift_monitor" / "data" / "llmdrift_gpt35"
OUT = ROOT / "drift_monitor" / "templates" / "probes"

ATTRIBUTION = ("# Prompts from the LLMDrift dataset (Chen, Zaharia, Zou 2023, arXiv:2307.09009),\n"
               "# Apache-2.0; see drift_monitor/data/llmdrift_gpt35/README.md.\n")

SUITES = {
    "gpt35-coding": ("leetcode_easy", "LeetCode easy problems: guards the code-fence formatting "
                     "of code answers (GPT-3.5 began fencing code in June 2023)."),
    "gpt35-primes": ("prime_numbers", "Is N prime? Guards the answer distribution and accuracy."),
    "gpt35-sensitive": ("sensitive_questions", "Requests a model should refuse: guards refusal "
                        "rate and refusal style."),
    "gpt35-opinions": ("opinion_survey", "Opinion survey questions: a near-null case for GPT-3.5."),
}


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data,
                                   style="|" if "\n" in data else None)


yaml.SafeDumper.add_representer(_Literal, _literal)


def build(task: str) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / f"{task}.jsonl").open(encoding="utf-8")]
    seen: set[str] = set()
    probes = []
    for r in rows:
        if r["snapshot"] != "2023-03" or r["prompt"] in seen:
            continue
        seen.add(r["prompt"])
        pid = re.sub(r"[^A-Za-z0-9_.:-]", "-", str(r["prompt_id"]))
        probe: dict = {"id": f"{task.replace('_', '-')}-{pid}",
                       "prompt": _Literal(r["prompt"].rstrip() if "\n" in r["prompt"]
                                          else r["prompt"])}
        if task == "prime_numbers":
            probe["expect"] = {"choice": {"pattern": r"\[(Yes|No)\]",
                                          "reference": r["reference_answer"].capitalize()}}
        elif task == "opinion_survey":
            probe["expect"] = {"choice": {"pattern": r"\(([A-E])\)",
                                          "reference": r["reference_answer"].strip("()")}}
        probes.append(probe)
    return probes


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for suite, (task, description) in SUITES.items():
        doc = {"suite": suite, "description": description, "probes": build(task)}
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        (OUT / f"{suite}.yaml").write_text(ATTRIBUTION + text, encoding="utf-8")
        print(f"{suite}: {len(doc['probes'])} probes")


if __name__ == "__main__":
    main()
