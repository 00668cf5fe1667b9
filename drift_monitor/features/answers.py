"""Answer features: extract the probe's answer, normalise it, check it against the reference.

The answer kind is the one of ``choice``, ``regex``, ``json_field``, ``number`` or ``text`` in
the probe's ``expect`` (Expect allows at most one):

- ``choice``/``regex``: the LAST match of the pattern in the response; its first participating
  group, or the whole match when the pattern has no group. Last, because a model told to "think
  step by step and then answer" ends with its verdict, and when it corrects itself ("...so the
  correct answer is [Yes]") the last statement is the one it stands by. On the bundled GPT-3.5
  prime data March answers lead with "[No]" and June answers end with it; the last match reads
  both right. Patterns apply as written: add ``(?i)`` for case-insensitive matching.
- ``json_field``: the value at a dotted path ("a.b.0": numeric parts index lists, negative ones
  from the end) of the JSON in the response: the whole answer, else the first fence that parses,
  else the first JSON value starting at the first "{" or "[".
- ``number``: the last number in the text ("1,234.5", "-3", "2e-5", "−7" all read as numbers;
  digits inside words such as "x2" or "5th" do not).
- ``text``: the whole response, normalised (see :func:`normalize_text`).

``answer`` is the normalised answer as a string (a categorical value); strings longer than 120
characters become their first 100 characters plus a short hash, so equal answers stay equal and
stored values stay small. ``correct`` compares with the reference: strings case-insensitively
after normalisation, numbers within ``tolerance`` (plus a 1e-9 relative slack for float error),
JSON values by value. A response whose answer cannot be found is not correct.

Without an answer kind, ``answer_text_norm`` holds the normalised whole text instead, so answer
stability can still be compared with the baseline.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from typing import Any

from drift_monitor import patterns
from drift_monitor.features._document import Document, parse_json
from drift_monitor.features._spec import FeatureSpec, Kind, Value

FAMILY = "answers"
ANSWER_KINDS = ("choice", "regex", "json_field", "number", "text")


def _spec(name: str, kind: Kind, description: str) -> FeatureSpec:
    return FeatureSpec(name=name, family=FAMILY, kind=kind, description=description)


SPECS: list[FeatureSpec] = [
    _spec("answer", "categorical",
          "the extracted answer, normalised; None without an answer kind or when not found"),
    _spec("answer_found", "binary", "the answer could be extracted; only with an answer kind"),
    _spec("correct", "binary", "the answer matches the probe's reference; only with a reference"),
    _spec("answer_text_norm", "categorical",
          "the whole response normalised (case, punctuation, whitespace); only without an "
          "answer kind"),
]

_NUMBER = re.compile(
    r"(?<![\w.])[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")
_NON_WORD = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")
_MAX_CATEGORY = 120


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def normalize_text(s: str) -> str:
    """NFKC, case-folded, every run of punctuation, symbols and whitespace turned into one
    space, trimmed: "The answer: PARIS!" -> "the answer paris"."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", s).casefold()).strip()


def _strip_punct(s: str) -> str:
    start, end = 0, len(s)
    while start < end and (s[start].isspace() or unicodedata.category(s[start])[0] == "P"):
        start += 1
    while end > start and (s[end - 1].isspace() or unicodedata.category(s[end - 1])[0] == "P"):
        end -= 1
    return s[start:end]


def normalize_answer(s: str) -> str:
    """NFKC, case-folded, whitespace collapsed, leading/trailing punctuation removed; inner
    punctuation kept ("3.14" stays "3.14", " [Yes]. " becomes "yes")."""
    return _strip_punct(_SPACES.sub(" ", unicodedata.normalize("NFKC", s).casefold()))


def category_value(s: str) -> str:
    """``s`` itself when short, else its first 100 characters + "…#" + 8 hex of its hash."""
    if len(s) <= _MAX_CATEGORY:
        return s
    digest = hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{s[:100]}\u2026#{digest}"


def last_match(pattern: str, text: str) -> str | None:
    """The first participating group (or the whole match) of the last match, or None (also
    when matching the user's pattern ran past its time bound, see ``drift_monitor.patterns``)."""
    m = patterns.last_match(pattern, text)
    if m is None:
        return None
    for g in m.groups():
        if g is not None:
            return str(g)
    return str(m.group(0))


def last_number(text: str) -> float | int | None:
    """The last number in ``text`` (ints stay ints), or None."""
    m = None
    for m in _NUMBER.finditer(text):  # noqa: B007
        pass
    if m is None:
        return None
    raw = m.group(0).replace(",", "").replace("\u2212", "-")
    if "." in raw or "e" in raw or "E" in raw:
        return float(raw)
    return int(raw)


def find_json(doc: Document) -> tuple[bool, Any]:
    """``(True, value)`` for the first JSON found in the response (see module docstring)."""
    ok, value = doc.json
    if ok:
        return ok, value
    for fence in doc.structure.fences:
        ok, value = parse_json(fence.content)
        if ok:
            return ok, value
    text = doc.text
    for start in sorted(p for p in (text.find("{"), text.find("[")) if p >= 0):
        try:
            return True, _DECODER.raw_decode(text, start)[0]
        except (ValueError, RecursionError):
            continue
    return False, None


def json_path(value: Any, path: str) -> tuple[bool, Any]:
    """``(True, v)`` for the value at dotted ``path`` ("" is the value itself)."""
    for part in path.split(".") if path else ():
        if isinstance(value, dict):
            if part not in value:
                return False, None
            value = value[part]
        elif isinstance(value, list):
            try:
                i = int(part)
            except ValueError:
                return False, None
            if not -len(value) <= i < len(value):
                return False, None
            value = value[i]
        else:
            return False, None
    return True, value


def _number_str(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _json_str(v: Any) -> str:
    if isinstance(v, str):
        return normalize_answer(v)
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int | float):
        return _number_str(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.replace(",", "").strip())
        except ValueError:
            return None
    return None


def _numbers_equal(a: float, b: float, tolerance: float = 0.0) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= tolerance + 1e-9 * max(1.0, abs(b))


def _json_equal(value: Any, reference: Any) -> bool:
    if isinstance(reference, bool) or reference is None:
        return value is reference
    if isinstance(reference, int | float):
        number = _as_number(value)
        return number is not None and _numbers_equal(number, float(reference))
    if isinstance(reference, str):
        return isinstance(value, str | int | float) and not isinstance(value, bool) and \
            normalize_answer(str(value)) == normalize_answer(reference)
    return bool(value == reference)


def _extract(doc: Document, kind: str, spec: dict[str, Any]) -> tuple[str | None, bool | None]:
    """(normalised answer or None, correct or None)."""
    reference = spec.get("reference")
    if kind in ("choice", "regex"):
        raw = last_match(spec["pattern"], doc.text)
        if raw is None:
            return None, (False if reference is not None else None)
        answer = normalize_answer(raw)
        correct = None if reference is None else answer == normalize_answer(str(reference))
        return answer, correct
    if kind == "number":
        number = last_number(doc.text)
        if number is None:
            return None, (False if reference is not None else None)
        correct = None if reference is None else _numbers_equal(
            float(number), float(reference), float(spec.get("tolerance") or 0.0))
        return _number_str(number), correct
    if kind == "json_field":
        ok, value = find_json(doc)
        if ok:
            ok, value = json_path(value, spec["path"])
        if not ok:
            return None, (False if reference is not None else None)
        return _json_str(value), (None if reference is None else _json_equal(value, reference))
    if kind == "text":
        answer = normalize_text(doc.text)
        correct = None if reference is None else answer == normalize_text(str(reference))
        return answer, correct
    raise ValueError(f"unknown answer kind {kind!r}")


def answer_kind(expect: dict[str, Any] | None) -> str | None:
    """The probe's answer kind (the first of ANSWER_KINDS present in ``expect``), or None."""
    if not expect:
        return None
    for kind in ANSWER_KINDS:
        if expect.get(kind) is not None:
            return kind
    return None


def compute(doc: Document | str, expect: dict[str, Any] | None = None) -> dict[str, Value]:
    """The answer features of one response (names and kinds in :data:`SPECS`).

    With an answer kind: ``answer`` (None when not found), ``answer_found``, ``correct`` (None
    without a reference) and ``answer_text_norm`` None. Without: only ``answer_text_norm``.
    Raises ValueError for an invalid pattern (Expect rejects those) and TypeError for a
    non-str text.
    """
    if isinstance(doc, str):
        doc = Document(doc)
    kind = answer_kind(expect)
    if kind is None:
        return {"answer": None, "answer_found": None, "correct": None,
                "answer_text_norm": category_value(normalize_text(doc.text))}
    assert expect is not None
    answer, correct = _extract(doc, kind, expect[kind])
    return {"answer": None if answer is None else category_value(answer),
            "answer_found": answer is not None, "correct": correct, "answer_text_norm": None}
