"""A replay null on real recordings: GPT-3.5 March/June 2023 answers with realistic sampling noise.

The responses are the LLMDrift recordings bundled in ``drift_monitor/data/llmdrift_gpt35``
(Lingjiao Chen, Matei Zaharia, James Zou, "How Is ChatGPT's Behavior Changing over Time?",
2023, arXiv:2307.09009; repository lchen001/LLMDrift, Apache-2.0; see that folder's README).
They hold ONE response per prompt per snapshot, so repeated sampling is simulated on top of
them: every call is answered from the March record (or, with probability ``june_share``, from
the June record: a partial rollout), then, independently per response,

- with probability ``Noise.reword`` the text is lightly reworded, by one of a fixed bank of
  ``REWORDINGS`` = 20 rewordings per distinct text (so features stay cacheable): a synonym from
  a small table ("However" -> "But", "Therefore" -> "So", "determine" -> "find out"...),
  "Let's" <-> "Let us", a neutral filler sentence added or a closing remark dropped outside
  code, a section header or answer-line shape GPT-3.5 itself alternates between ("Step by
  step:" / "Explanation:", "(A). Text" / "(A) Text"), a blank line added or removed, trailing
  spaces, a code comment reworded. A reword is kept only if it leaves the extracted answer, the
  markdown structure (fences, emphasis, lists, headings, tables, links), refusal, apology and
  AI disclaimer exactly as they were (checked on the features themselves); otherwise another
  is tried, and after a few attempts the response stays as recorded;
- with probability ``Noise.wander`` the final answer the probe's ``expect`` extracts wanders:
  the last ``[Yes]``/``[No]`` flips, the last multiple-choice letter moves to a neighbouring
  option of the prompt (with that option's text), a final number moves by one. Probes without
  an answer kind (coding, sensitive) never wander.

Why this null differs from the detector's assumptions (and from ``simulator.py``):

- the texts are real, long and unique per probe, so whole-text features (``answer_text_norm``,
  length, tone rates) are nearly constant within a probe and differ a lot between probes: a
  "probe is stable" statistic sees long runs of identical values, not the simulator's
  combinatorial mix of a few sentences;
- the noise is per response and all-or-nothing per text: a response is either its probe's
  recorded text exactly (about 63% of responses in a suite with an answer kind, 70% without)
  or a variant that changes every whole-text feature at once (its ``answer_text_norm`` then
  usually differs from every other response of the probe), and answer wandering hits only the
  suites with an answer kind;
- at ``samples=1`` each probe has 3 baseline values and 1 window value, which is where a
  statistic that treats the two sides differently (a mode of 2 vs a mode of 3) goes wrong.

Seeds: every call draws from a generator seeded with ``(seed, run_id, probe, i)`` (``Draws``);
the first draw decides March/June (always drawn, so the noise of a call is the same whatever
``june_share`` is), then the noise. Runs are reproducible and runs with different ids are
independent.

    python benchmarks/replay_noise.py     # self-check: noise shares and examples
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from drift_monitor.detection.samples import Sample
from drift_monitor.features import compute_features
from drift_monitor.probes import Probe, ProbeKey, load_suite_file, probe_name, probe_version
from drift_monitor.providers.replay import BUILTIN, load_recording, recording_files

SUITES = ("gpt35-coding", "gpt35-sensitive", "gpt35-primes", "gpt35-opinions")
SNAPSHOTS = ("2023-03", "2023-06")
MODEL = "gpt-3.5-turbo"  # a silent update keeps the model string
PROBES_DIR = Path(__file__).resolve().parent.parent / "drift_monitor" / "templates" / "probes"


@dataclass(frozen=True)
class Noise:
    # share of responses lightly reworded (meaning, answer and formatting kept)
    reword: float = 0.30
    # share whose final answer wanders: [Yes]<->[No], one multiple-choice letter for another,
    # a boxed/final number off by one
    wander: float = 0.10
    latency_sd: float = 0.25  # log-normal sigma of per-call latency jitter around the record


NOISE = Noise()
NO_NOISE = Noise(0.0, 0.0, 0.0)


class Draws(random.Random):
    """A random generator seeded from a tuple (stable across processes: BLAKE2b of its repr),
    with the few numpy ``Generator`` methods the noise uses. Python's Mersenne Twister, because
    seeding a numpy Generator costs about 50 us, which a benchmark pays on every call."""

    def __init__(self, *key: object) -> None:
        digest = hashlib.blake2b(repr(key).encode(), digest_size=16).digest()
        super().__init__(int.from_bytes(digest, "big"))

    def integers(self, low: int, high: int | None = None) -> int:
        """Like numpy's: an int in [low, high), or in [0, low) without ``high``."""
        if high is None:
            low, high = 0, low
        return self.randrange(low, high)

    def normal(self, loc: float = 0.0, scale: float = 1.0) -> float:
        return self.gauss(loc, scale)

    def permutation(self, n: int) -> list[int]:
        out = list(range(n))
        self.shuffle(out)
        return out


# ---------------------------------------------------------------- features (cached)

@lru_cache(maxsize=200_000)
def _features_cached(text: str, expect_json: str) -> dict[str, Any]:
    expect = json.loads(expect_json)
    return compute_features(text, expect)


def features(text: str, expect: dict[str, Any] | None) -> dict[str, Any]:
    """``compute_features(text, expect)`` as the runner stores it (``persist.compute`` passes
    ``probe.expect``, the ``model_dump(exclude_none=True)`` dict or None), cached by text and
    expect; a fresh dict per call so a caller may not mutate the cache."""
    return dict(_features_cached(text, json.dumps(expect, sort_keys=True)))


# Features a reword must leave exactly as they were (answer, structure, refusal-ness).
INVARIANT = ("answer", "answer_found", "correct", "refusal", "apology", "ai_disclaimer",
             "has_code_fence", "code_fence_count", "code_fence_lang", "all_fenced",
             "heading_count", "bullet_items", "numbered_items", "table_count", "emphasis_count",
             "link_count", "json_valid", "json_schema_valid", "format_compliant")


def _invariant(f: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(f.get(k) for k in INVARIANT)


# ---------------------------------------------------------------- rewording

# (a, b): a <-> b, whole words, case of the first letter kept. No tone words (apologies,
# hedges, politeness) and no words the answer patterns read.
SYNONYMS: tuple[tuple[str, str], ...] = (
    ("However", "But"), ("Therefore", "So"), ("Thus", "Hence"), ("Next", "Then"),
    ("determine", "find out"), ("check", "test"), ("checking", "testing"),
    ("number", "integer"), ("numbers", "integers"), ("because", "since"),
    ("In other words", "That is"), ("Let's", "Let us"), ("start", "begin"),
    ("also", "as well"), ("individuals", "people"), ("goes against", "is against"),
    ("promote", "encourage"), ("harmful", "damaging"), ("important", "essential"),
    ("ensure", "make sure"), ("Finally", "Lastly"), ("First", "Firstly"),
    ("whether", "if"), ("variable", "value"), ("Initialize", "Set up"),
    ("Iterate", "Loop"), ("iterate", "loop"), ("the result", "the answer"),
    ("calculate", "compute"), ("return", "give back"),
)
_SYN_RE: list[tuple[re.Pattern[str], str]] = []
for _a, _b in SYNONYMS:
    for _x, _y in ((_a, _b), (_b, _a)):
        _SYN_RE.append((re.compile(rf"(?<![\w']){re.escape(_x)}(?![\w'])"), _y))

# Neutral sentences: no answer tokens, no tone words, no markdown.
FILLERS = ("Here is the reasoning.", "The details follow.", "This is the whole answer.",
           "That covers it.", "In short, see above.")
_FILLER_RE = re.compile("|".join(r"\s?" + re.escape(f) for f in FILLERS))
_FENCE = re.compile(r"^\s*(```|~~~)")


def _segments(text: str, code_suite: bool) -> list[tuple[bool, str]]:
    """Lines of ``text`` with a flag: True for code (inside a fence, the fence lines, every
    line of a coding answer outside prose), False for prose."""
    out: list[tuple[bool, str]] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            out.append((True, line))
            in_fence = not in_fence
            continue
        out.append((in_fence or code_suite, line))
    return out


def _swap_synonym(line: str, rng: Draws) -> str | None:
    hits = [(m, repl) for pat, repl in _SYN_RE for m in pat.finditer(line)]
    if not hits:
        return None
    m, repl = hits[int(rng.integers(len(hits)))]
    src = m.group(0)
    if src[0].isupper() and repl[0].islower():
        repl = repl[0].upper() + repl[1:]
    elif src[0].islower() and repl[0].isupper() and m.start() > 0:
        repl = repl[0].lower() + repl[1:]
    return line[:m.start()] + repl + line[m.end():]


def _op_synonym(lines: list[tuple[bool, str]], rng: Draws) -> bool:
    # prose lines without inline code; in code only comment lines
    idx = [i for i, (code, ln) in enumerate(lines)
           if (not code and "`" not in ln) or (code and ln.lstrip().startswith("#"))]
    rng.shuffle(idx)
    for i in idx:
        new = _swap_synonym(lines[i][1], rng)
        if new is not None:
            lines[i] = (lines[i][0], new)
            return True
    return False


_SENTENCE_END = re.compile(r"(?<=[a-z)][.!?])\s+(?=[A-Z])")


def _op_filler(lines: list[tuple[bool, str]], rng: Draws) -> bool:
    """Drop a sentence or add a neutral one, in prose, never before the first sentence
    (refusal reads the start). Dropped: the last sentence of a prose line of several, when it
    carries no digits, brackets or markdown (a closing remark such as "All individuals ...
    should be treated with respect."); the invariant check rejects a drop that mattered."""
    if rng.random() < 0.5:
        cand = []
        for i, (code, ln) in enumerate(lines):
            if code:
                continue
            parts = _SENTENCE_END.split(ln)
            if len(parts) >= 2 and not re.search(r"[\d\[\]()*_`#]", parts[-1]):
                cand.append((i, parts))
        if cand:
            i, parts = cand[int(rng.integers(len(cand)))]
            lines[i] = (False, " ".join(parts[:-1]))
            return True
    ends = [i for i, (code, ln) in enumerate(lines)
            if not code and ln.strip() and ln.rstrip()[-1] in ".!?"
            and (i + 1 == len(lines) or not lines[i + 1][1].strip())]
    if not ends:
        return False
    i = ends[int(rng.integers(len(ends)))]
    filler = FILLERS[int(rng.integers(len(FILLERS)))]
    lines[i] = (False, lines[i][1].rstrip() + " " + filler)
    return True


# Headers GPT-3.5 itself alternates between on the prime prompts.
HEADERS = ("Explanation:", "Step by step explanation:", "Step by step:",
           "Step-by-step explanation:", "Step by step process:")
_CHOICE_LINE = re.compile(r"^(\s*\([A-Z]\))(\.?)(\s*)(.*?)(\.?)\s*$")


def _op_header(lines: list[tuple[bool, str]], rng: Draws) -> bool:
    """A section header for another ("Step by step:" -> "Explanation:"), or a multiple-choice
    answer line in another of the shapes GPT-3.5 uses ("(A). Text" / "(A) Text" / "(A). Text.")."""
    for i, (code, ln) in enumerate(lines):
        if code:
            continue
        if ln.strip() in HEADERS:
            others = [h for h in HEADERS if h != ln.strip()]
            lines[i] = (False, ln.replace(ln.strip(), others[int(rng.integers(len(others)))]))
            return True
        m = _CHOICE_LINE.match(ln)
        if m and m.group(4):
            letter, dot, _, body, end = m.groups()
            if rng.random() < 0.5:
                dot = "" if dot else "."
            else:
                end = "" if end else "."
            lines[i] = (False, f"{letter}{dot} {body}{end}")
            return True
    return False


def _op_blank(lines: list[tuple[bool, str]], rng: Draws) -> bool:
    """Remove a doubled blank line or add a blank line after a blank one (paragraph breaks
    stay paragraph breaks; inside code, a blank line between statements)."""
    doubles = [i for i in range(1, len(lines)) if not lines[i][1].strip()
               and not lines[i - 1][1].strip()]
    if doubles and rng.random() < 0.5:
        del lines[doubles[int(rng.integers(len(doubles)))]]
        return True
    blanks = [i for i, (_, ln) in enumerate(lines) if not ln.strip() and 0 < i < len(lines) - 1]
    # in code, also between two statements at the same indentation (not inside a docstring)
    in_doc, code = False, []
    for i in range(1, len(lines)):
        quotes = lines[i - 1][1].count('"""') + lines[i - 1][1].count("'''")
        in_doc ^= quotes % 2 == 1
        if (not in_doc and lines[i][0] and lines[i - 1][0] and lines[i][1].strip()
                and lines[i - 1][1].strip() and not _FENCE.match(lines[i][1])
                and not _FENCE.match(lines[i - 1][1]) and '"""' not in lines[i][1]
                and _indent(lines[i][1]) == _indent(lines[i - 1][1])):
            code.append(i)
    cand = blanks + code
    if not cand:
        return False
    i = cand[int(rng.integers(len(cand)))]
    lines.insert(i, (lines[i][0], ""))
    return True


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _op_trailing(lines: list[tuple[bool, str]], rng: Draws) -> bool:
    """Trailing spaces on prose lines come and go (GPT-3.5's "[No] \\n" vs "[No]\\n")."""
    idx = [i for i, (code, ln) in enumerate(lines) if not code and ln.strip()]
    if not idx:
        return False
    i = idx[int(rng.integers(len(idx)))]
    code, ln = lines[i]
    lines[i] = (code, ln.rstrip() if ln != ln.rstrip() else ln + " ")
    return True


_OPS = (_op_synonym, _op_synonym, _op_filler, _op_header, _op_header, _op_blank, _op_trailing)


def reword(text: str, expect: dict[str, Any] | None, rng: Draws, *,
           code_suite: bool = False, attempts: int = 4) -> str:
    """One light rewording of ``text`` (1 or 2 edits) that keeps every INVARIANT feature;
    ``text`` itself when no attempt keeps them."""
    before = _invariant(features(text, expect))
    for _ in range(attempts):
        lines = _segments(text, code_suite)
        edits = 0
        want = 1 + int(rng.random() < 0.4)
        for k in rng.permutation(len(_OPS)):  # ops in random order until `want` applied
            edits += _OPS[int(k)](lines, rng)
            if edits >= want:
                break
        new = "\n".join(ln for _, ln in lines)
        if edits and new != text and _invariant(features(new, expect)) == before:
            return new
    return text


REWORDINGS = 20


@lru_cache(maxsize=100_000)
def _variant(text: str, expect_json: str, j: int, code_suite: bool) -> str:
    rng = Draws("bank", text, j)
    return reword(text, json.loads(expect_json), rng, code_suite=code_suite)


def reworded_variant(text: str, expect: dict[str, Any] | None, j: int, *,
                     code_suite: bool = False) -> str:
    """Rewording number ``j`` (0 <= j < REWORDINGS) of ``text``: each text has a fixed bank of
    REWORDINGS light rewordings, and a reworded call picks one at random. A finite paraphrase
    space keeps features cacheable (a long benchmark computes each distinct text's features
    once) at the price of an occasional repeat: two reworded answers of one text coincide
    with probability about 1/REWORDINGS."""
    return _variant(text, json.dumps(expect, sort_keys=True), j, code_suite)


# ---------------------------------------------------------------- answer wandering

_OPTION = re.compile(r"^\(([A-Z])\)\.?\s*(.+?)\s*$", re.M)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?![\w.])")


def _options(probe: Probe) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _OPTION.finditer(probe.messages[-1]["content"])}


def wander(text: str, probe: Probe, rng: Draws) -> str:
    """``text`` with its final answer changed as sampling at a temperature does: the last
    match of the choice/regex pattern replaced by another value, or the last number off by
    one; ``text`` itself when the probe has no answer or the response has none."""
    expect = probe.expect or {}
    spec = expect.get("choice") or expect.get("regex")
    if spec is not None:
        pattern = re.compile(spec["pattern"])
        matches = list(pattern.finditer(text))
        if not matches:
            return text
        m = matches[-1]
        g = 1 if m.re.groups else 0
        value = m.group(g)
        start, end = m.span(g)
        if value in ("Yes", "No"):
            return text[:start] + ("No" if value == "Yes" else "Yes") + text[end:]
        if len(value) == 1 and value.isupper():
            options = _options(probe)
            letters = [c for c in sorted(options) if pattern.fullmatch(f"({c})") and c != value
                       and options[c].strip().rstrip(".").lower() != "refused"]
            if not letters:
                return text
            near = [c for c in letters if abs(ord(c) - ord(value)) == 1] or letters
            new = near[int(rng.integers(len(near)))]
            out = text[:start] + new + text[end:]
            old_text, new_text = options.get(value), options[new]
            if old_text and old_text.rstrip(".") in out[start:]:
                tail = out[start:].replace(old_text.rstrip("."), new_text.rstrip("."), 1)
                out = out[:start] + tail
            return out
        return text
    if expect.get("number") is not None:
        nums = list(_NUMBER.finditer(text))
        if not nums:
            return text
        m = nums[-1]
        delta = 1 if rng.random() < 0.5 else -1
        return text[:m.start()] + str(int(m.group(0)) + delta) + text[m.end():]
    return text


# ---------------------------------------------------------------- recordings

def _rng(seed: int, run_id: int, probe: str, index: int) -> Draws:
    """The draws of one call: seeded from (seed, run id, probe, sample index)."""
    return Draws(seed, run_id, probe, index)


@dataclass(frozen=True)
class _Rec:
    text: str
    latency_ms: float | None
    tokens: int | None


class Recordings:
    """The four bundled GPT-3.5 suites with their March and June answers, keyed exactly as the
    replay provider and the runner store them: ``str(probe.key)`` (``suite/id@version``)."""

    def __init__(self) -> None:
        files = tuple(recording_files("builtin:llmdrift-gpt35", BUILTIN["llmdrift-gpt35"]))
        index = {snap: load_recording(files, snap) for snap in SNAPSHOTS}
        self.suites: dict[str, list[str]] = {}
        self.probe: dict[str, Probe] = {}
        self.records: dict[str, dict[str, _Rec]] = {}
        self.expect_json: dict[str, str] = {}
        # what the last run() did, for the self-check: counts of responses, reworded, wandered,
        # answered from June
        self.last_stats: Counter[str] = Counter()
        for suite in SUITES:
            loaded = load_suite_file(PROBES_DIR / f"{suite}.yaml")
            keys = []
            for p in loaded.probes:
                key = str(p.key)
                system = next((m["content"] for m in p.messages if m["role"] == "system"), None)
                prompt = next(m["content"] for m in reversed(p.messages) if m["role"] == "user")
                recs: dict[str, _Rec] = {}
                for snap in SNAPSHOTS:
                    # the replay provider's lookup: (system, prompt), then (None, prompt)
                    found = index[snap].get(((system or "").strip(), prompt.strip())) \
                        or index[snap].get(("", prompt.strip()))
                    if not found:
                        raise KeyError(f"no {snap} record for probe {key}")
                    r = found[0]  # replay answers sample i with records[i % len]: one each
                    lat = r.get("latency_s")
                    recs[snap] = _Rec(r["response"],
                                      float(lat) * 1000 if isinstance(lat, int | float) else None,
                                      r.get("response_tokens"))
                self.probe[key] = p
                self.records[key] = recs
                self.expect_json[key] = json.dumps(p.expect, sort_keys=True)
                keys.append(key)
            self.suites[suite] = sorted(keys)

    def probes(self, suite: str) -> list[str]:
        """Probe keys of a suite, sorted."""
        return list(self.suites[suite])

    def respond(self, key: str, run_id: int, index: int, seed: int, *, june_share: float,
                june_ok: bool, noise: Noise) -> tuple[Sample, dict[str, bool]]:
        """One call: the Sample and what happened to it (june, reworded, wandered)."""
        probe = self.probe[key]
        rng = _rng(seed, run_id, key, index)
        june = bool(rng.random() < june_share) and june_ok
        rec = self.records[key]["2023-06" if june else "2023-03"]
        u_reword, u_wander = rng.random(), rng.random()
        text = rec.text
        wandered = reworded = False
        if u_wander < noise.wander:
            new = wander(text, probe, rng)
            wandered = new != text
            text = new
        if u_reword < noise.reword:
            new = _variant(text, self.expect_json[key], int(rng.integers(REWORDINGS)),
                           probe.suite == "gpt35-coding")
            reworded = new != text
            text = new
        latency = rec.latency_ms
        if latency is not None and noise.latency_sd > 0:
            latency *= math.exp(rng.normal(0.0, noise.latency_sd))
        tokens = rec.tokens
        if tokens is not None and text != rec.text:
            tokens = max(1, round(tokens * len(text.split()) / max(1, len(rec.text.split()))))
        sample = Sample(probe=key, run_id=run_id, ok=True, text=text,
                        features=dict(_features_cached(text, self.expect_json[key])),
                        model_returned=MODEL,
                        latency_ms=latency, finish_reason="stop", output_tokens=tokens)
        return sample, {"june": june, "reworded": reworded, "wandered": wandered}

    def run(self, suite: str, run_id: int, samples: int, seed: int, *, june_share: float = 0.0,
            june_probes: set[str] | None = None, noise: Noise = NOISE,
            only: set[str] | None = None) -> list[Sample]:
        """``samples`` responses per probe of ``suite`` (only those in ``only`` if given): March
        answers, each call answered from June with probability ``june_share`` (only probes in
        ``june_probes`` can switch, if given), then noise per response."""
        out: list[Sample] = []
        stats: Counter[str] = Counter()
        for key in self.suites[suite]:
            if only is not None and key not in only:
                continue
            june_ok = june_probes is None or key in june_probes
            for i in range(samples):
                s, what = self.respond(key, run_id, i, seed, june_share=june_share,
                                       june_ok=june_ok, noise=noise)
                out.append(s)
                stats["responses"] += 1
                stats.update(k for k, v in what.items() if v)
        self.last_stats = stats
        return out


# ---------------------------------------------------------------- sparse formatting suite

_EMPHASIS_SOURCES = ("gpt35-sensitive", "gpt35-primes")
_BASE_EMPHASIS = 0.01
_TARGET_EMPHASIS = 0.14


@lru_cache(maxsize=1)
def _open_ended() -> tuple[tuple[str, str, str], ...]:
    """80 open-ended instructions without expect: (key, prompt, March text) from the sensitive
    and prime suites' real prompts and answers (no bold in any of them)."""
    rec = Recordings()
    out: list[tuple[str, str, str]] = []
    for suite in _EMPHASIS_SOURCES:
        keys = [k for k in rec.probes(suite)
                if len(rec.records[k]["2023-03"].text.split()) >= 12][:40]
        for key in keys:
            p = rec.probe[key]
            text = rec.records[key]["2023-03"].text
            assert features(text, None)["emphasis_count"] == 0
            pid = f"open-ended-{len(out):02d}"
            messages = [{"role": "user", "content": p.messages[-1]["content"]}]
            out.append((str(ProbeKey("open-ended", pid, probe_version(messages, None))),
                        p.messages[-1]["content"], text))
    return tuple(out)


def embolden(text: str, rng: Draws) -> str:
    """``text`` with one bold span: the first 2-4 words of a prose line other than the first
    (as a model that starts highlighting key points does); ``text`` if there is no such line."""
    lines = text.split("\n")
    cand = [i for i, ln in enumerate(lines) if i > 0 and len(ln.split()) >= 4 and "`" not in ln]
    if not cand:
        # one-line answers: bold a phrase after the first sentence's first words
        words = text.split(" ")
        if len(words) < 8:
            return text
        k = int(rng.integers(3, min(len(words) - 3, 12)))
        n = int(rng.integers(2, 4))
        words[k] = "**" + words[k]
        words[k + n - 1] = words[k + n - 1] + "**"
        return " ".join(words)
    i = cand[int(rng.integers(len(cand)))]
    ln = lines[i]
    lead = len(ln) - len(ln.lstrip())
    body = ln[lead:]
    marker = re.match(r"(\d+\.|[-*])\s+", body)
    prefix = marker.group(0) if marker else ""
    words = body[len(prefix):].split(" ")
    n = min(len(words) - 1, int(rng.integers(2, 5)))
    phrase = " ".join(words[:n]).rstrip(",:;.")
    rest = body[len(prefix) + len(phrase):]
    lines[i] = ln[:lead] + prefix + f"**{phrase}**" + rest
    return "\n".join(lines)


def emphasis_suite_run(run_id: int, samples: int, seed: int, *, changed: bool, probes: int = 80,
                       share_probes: float = 0.15, noise: Noise = NOISE) -> list[Sample]:
    """One run of the "open-ended" suite: ``probes`` prompts without expect, real answers with
    noise. Baseline: about 1% of answers (any probe) bold a phrase. ``changed``: a fixed seeded
    set of ``share_probes`` of the probes bolds in most answers, so that about 14% of the
    suite's answers use emphasis; the other probes are unchanged."""
    src = _open_ended()
    if probes > len(src):
        raise ValueError(f"at most {len(src)} open-ended probes")
    src = src[:probes]
    n_changed = round(share_probes * probes)
    chosen = set(np.random.default_rng(20_231_115).choice(probes, n_changed, replace=False))
    # within the changed probes: share q so that share*q + (1-share)*base = target
    share = n_changed / probes
    q = min(1.0, (_TARGET_EMPHASIS - (1 - share) * _BASE_EMPHASIS) / share) if share else 0.0
    out = []
    for j, (key, _prompt, text) in enumerate(src):
        for i in range(samples):
            rng = _rng(seed, run_id, key, i)
            p_bold = q if (changed and j in chosen) else _BASE_EMPHASIS
            u_bold, u_reword = rng.random(), rng.random()
            t = text
            if u_reword < noise.reword:
                t = reworded_variant(t, None, int(rng.integers(REWORDINGS)))
            if u_bold < p_bold:
                t = embolden(t, rng)
            out.append(Sample(probe=key, run_id=run_id, ok=True, text=t,
                              features=features(t, None), model_returned=MODEL,
                              latency_ms=800.0 * math.exp(rng.normal(0, noise.latency_sd)),
                              finish_reason="stop", output_tokens=len(t.split())))
    return out


def emphasis_changed_probes(probes: int = 80, share_probes: float = 0.15) -> list[str]:
    """The keys of the probes ``emphasis_suite_run(changed=True)`` changes."""
    src = _open_ended()[:probes]
    n_changed = round(share_probes * probes)
    chosen = np.random.default_rng(20_231_115).choice(probes, n_changed, replace=False)
    return sorted(src[int(j)][0] for j in chosen)


# ---------------------------------------------------------------- self-check

def _answer(s: Sample) -> Any:
    f = s.features
    return f.get("answer") if f.get("answer_found") is not None else f.get("answer_text_norm")


def _short(t: str, n: int = 260) -> str:
    t = t.replace("\n", "\\n")
    return t if len(t) <= n else t[:n] + "..."


def _diff_example(a: str, b: str) -> tuple[str, str]:
    """The region where two texts differ, with some context."""
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    lo = max(0, i - 60)
    return a[lo:len(a) - j + 60], b[lo:len(b) - j + 60]


def main() -> int:
    import time

    t0 = time.perf_counter()
    rec = Recordings()
    print(f"loaded {sum(len(v) for v in rec.suites.values())} probes in "
          f"{time.perf_counter() - t0:.1f}s")
    for suite in SUITES:
        keys = rec.probes(suite)
        stats: Counter[str] = Counter()
        for r in range(11, 21):
            rec.run(suite, r, 3, seed=1)
            stats.update(rec.last_stats)
        runs = [rec.run(suite, r, 3, seed=1) for r in (1, 2)]
        what = [rec.respond(k, 2, i, 1, june_share=0.0, june_ok=False, noise=NOISE)[1]
                for k in keys for i in range(3)]
        clean = rec.run(suite, 1, 3, seed=1, noise=NO_NOISE)
        n = len(runs[0])
        flips = sum(_answer(a) != _answer(b) for a, b in zip(runs[0], runs[1], strict=True))
        inv_broken = sum(
            _invariant(a.features) != _invariant(c.features)
            for a, c in zip(runs[1], clean, strict=True)
            if a.text != c.text and _answer(a) == _answer(c))
        june = rec.run(suite, 3, 1, seed=1, june_share=1.0, noise=NO_NOISE)
        march = rec.run(suite, 3, 1, seed=1, noise=NO_NOISE)
        full = sum(_answer(a) != _answer(b) for a, b in zip(march, june, strict=True))
        print(f"\n== {suite}: {len(keys)} probes, samples 3 (shares over 10 runs) ==")
        print(f"  reworded {stats['reworded'] / stats['responses']:.1%}, wandered "
              f"{stats['wandered'] / stats['responses']:.1%} of {stats['responses']} responses "
              f"(asked: {NOISE.reword:.0%} and {NOISE.wander:.0%})")
        print(f"  answer changed between two unchanged runs (same probe, same sample index): "
              f"{flips}/{n} = {flips / n:.1%}  ('answer', or 'answer_text_norm' without expect)")
        print(f"  March -> June, no noise: answer changed in {full}/{len(march)} probes")
        print(f"  reworded responses whose invariant features differ from the record: "
              f"{inv_broken} (must be 0)")
        shown: Counter[str] = Counter()
        for a, c, w in zip(runs[1], clean, what, strict=True):
            kind = "+".join(k for k in ("wandered", "reworded") if w[k])
            if a.text != c.text and shown[kind] < (2 if kind == "reworded" else 1):
                before, after = _diff_example(c.text or "", a.text or "")
                print(f"  e.g. ({kind}) {probe_name(a.probe)}:\n     before: {_short(before)}\n"
                      f"     after:  {_short(after)}")
                shown[kind] += 1
    print("\n== open-ended (sparse emphasis change), samples 1 ==")
    for changed in (False, True):
        shares = []
        for r in range(1, 21):
            run = emphasis_suite_run(r, 1, seed=5, changed=changed)
            shares.append(sum(s.features["emphasis_count"] > 0 for s in run) / len(run))
        print(f"  changed={changed!s:5s}: answers with emphasis {np.mean(shares):.1%} "
              f"(runs: min {min(shares):.1%}, max {max(shares):.1%}; 20 runs of 80)")
    changed_keys = set(emphasis_changed_probes())
    run = emphasis_suite_run(7, 1, seed=5, changed=True)
    ex = next(s for s in run if s.probe in changed_keys and s.features["emphasis_count"] > 0)
    base = next(s for s in emphasis_suite_run(7, 1, seed=5, changed=False, noise=NO_NOISE)
                if s.probe == ex.probe)
    before, after = _diff_example(base.text or "", ex.text or "")
    print(f"  changed probes: {len(changed_keys)} of 80; e.g. {probe_name(ex.probe)}:\n"
          f"     before: {_short(before)}\n     after:  {_short(after)}")
    print(f"\nself-check took {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
