"""Formatting features: markdown structure, length, JSON validity and instruction compliance.

Structure comes from markdown-it-py's token stream (see ``_document``), never from regexes over
the raw text, so "```" inside an inline code span or an indented block is not a fence, and a
numbered list is a list whether it uses "1." or "1)".

Instruction checks (``check_instructions``) follow the ``expect`` keys of a probe; each is
documented there. Boolean instruction keys set to False mean "no requirement", not "the
opposite must hold".
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from drift_monitor import patterns
from drift_monitor.features._document import Document
from drift_monitor.features._spec import FeatureSpec, Kind, Value, clean_expect

FAMILY = "formatting"


def _spec(name: str, kind: Kind, description: str) -> FeatureSpec:
    return FeatureSpec(name=name, family=FAMILY, kind=kind, description=description)


SPECS: list[FeatureSpec] = [
    _spec("length_chars", "continuous", "characters in the response"),
    _spec("length_words", "continuous", "words in the response (each CJK character is a word)"),
    _spec("length_lines", "continuous", "lines in the response (0 for an empty one)"),
    _spec("heading_count", "continuous", "markdown headings (ATX '#' and setext)"),
    _spec("bullet_items", "continuous", "items of bullet lists, nested ones included"),
    _spec("numbered_items", "continuous", "items of ordered lists, nested ones included"),
    _spec("code_fence_count", "continuous", "fenced code blocks (``` or ~~~)"),
    _spec("has_code_fence", "binary", "at least one fenced code block"),
    _spec("code_fence_lang", "categorical",
          "language tag of the first fence, lowercased; '(none)' for a fence without one; "
          "None when there is no fence"),
    _spec("all_fenced", "binary", "the whole answer is exactly one fenced block"),
    _spec("table_count", "continuous", "GFM tables"),
    _spec("emphasis_count", "continuous", "emphasis and strong spans (*x*, **x**, _x_)"),
    _spec("link_count", "continuous", "markdown links and <autolinks>; bare URLs do not count"),
    _spec("json_valid", "binary",
          "the answer, or the content of its single fence, is strict JSON; "
          "only when the probe expects format json or a json_schema"),
    _spec("json_schema_valid", "binary",
          "the parsed JSON conforms to the probe's json_schema; only with a json_schema"),
    _spec("format_compliant", "binary",
          "every format/instruction expectation of the probe holds (see check_instructions); "
          "only when the probe has one"),
]

_INSTRUCTION_KEYS = ("format", "json_schema", "max_words", "min_words", "bullet_count",
                     "sentence_count", "lowercase", "no_commas", "no_code_fence", "contains",
                     "ends_with")
_NO_LANG = "(none)"

# A line of prose (not code): starts with a capital, ends like a sentence, has no code
# punctuation and at least two words (comments, starting with # or //, never are). Used only
# for format "code".
_PROSE_LINE = re.compile(r"^[A-Z][^(){}\[\]=;<>`]*\s[^(){}\[\]=;<>`]*[.!?:]$")


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    # A probe's schema is the same on every response: compile it once.
    schema = json.loads(schema_json)
    cls = validator_for(schema)
    # the schema's "pattern" is a user regex run on model output: time-bounded like the others
    bounded = validators.extend(cls, {"pattern": _bounded_pattern,
                                      "patternProperties": _bounded_pattern_properties,
                                      "additionalProperties": _bounded_additional_properties})
    return bounded(schema)


def _bounded_pattern_properties(validator: Any, pattern_properties: dict[str, Any],
                                instance: Any, schema: Any) -> Any:
    # jsonschema's own, with the key match time-bounded (a timed-out match fails the value)
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for k, v in instance.items():
            found = patterns.search(pattern, k)
            if found is None:
                yield ValidationError(f"matching property {k[:80]!r} against {pattern!r} "
                                      "timed out")
            elif found:
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _bounded_additional_properties(validator: Any, additional: Any, instance: Any,
                                   schema: Any) -> Any:
    # jsonschema's own, with patternProperties matched time-bounded (a timeout: not matched)
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    regexes = list(schema.get("patternProperties", {}))
    extras = {k for k in instance if k not in properties
              and not any(patterns.search(r, k) for r in regexes)}
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        names = ", ".join(repr(e) for e in sorted(extras, key=str))
        yield ValidationError(f"Additional properties are not allowed ({names} unexpected)")


def _bounded_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "string"):
        return
    found = patterns.search(pattern, instance)
    if not found:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}"
                              + (" (matching timed out)" if found is None else ""))


def schema_valid(value: Any, schema: dict[str, Any]) -> bool:
    """True if ``value`` conforms to ``schema`` (its ``$schema`` dialect, else 2020-12).

    Raises jsonschema's SchemaError only for a schema Expect would have rejected."""
    try:
        return bool(_validator(json.dumps(schema, sort_keys=True)).is_valid(value))
    except RecursionError:  # a recursive schema ($ref: "#") over an answer nested very deep
        return False


def _strip_end(s: str) -> str:
    """``s`` without trailing whitespace or punctuation (any Unicode P* category, and '*'
    emphasis markers), so 'Thanks!**' ends with 'thanks'."""
    end = len(s)
    while end and (s[end - 1].isspace() or unicodedata.category(s[end - 1]).startswith("P")):
        end -= 1
    return s[:end]


def _is_code_only(doc: Document) -> bool:
    s = doc.structure
    if s.fences:
        return bool(s.top_level) and all(t == "fence" for t in s.top_level)
    if not doc.text.strip():
        return False
    # Unfenced: code is whatever has no line of prose in it (a heuristic; see _PROSE_LINE).
    return not any(_PROSE_LINE.match(line.strip()) for line in doc.lines)


def _format_holds(doc: Document, fmt: str) -> bool:
    if fmt == "json":
        return bool(doc.json[0])
    if fmt == "markdown":
        return doc.structure.any_markdown
    if fmt == "plain":
        return bool(doc.text.strip()) and not doc.structure.any_markdown
    if fmt == "code":
        return _is_code_only(doc)
    raise ValueError(f"unknown expected format {fmt!r}")


def check_instructions(doc: Document | str, expect: dict[str, Any] | None) -> dict[str, bool]:
    """Whether each format/instruction expectation of ``expect`` holds, keyed by expect key.

    Only keys present in ``expect`` appear (boolean keys only when True). The checks:

    - ``format``: json: :attr:`Document.json` parses; markdown: some construct beyond plain
      paragraphs; plain: non-empty and no markdown construct at all; code: only fenced blocks,
      or no fence and no line that reads as a prose sentence.
    - ``json_schema``: the JSON parses and conforms.
    - ``max_words``/``min_words``: word count of the whole text, inclusive bounds.
    - ``bullet_count``: exactly that many bullet-list items (numbered items do not count).
    - ``sentence_count``: exactly that many prose sentences (see Document.sentences).
    - ``lowercase``: the text equals its lowercase form. ``no_commas``: no ',' or '，'.
    - ``no_code_fence``: no fenced block. ``contains``: every string, case-insensitively.
    - ``ends_with``: the text ends with the string, case-insensitively, once trailing
      whitespace and punctuation are stripped from both.

    Raises ValueError for an unknown format (Expect rejects those).
    """
    if isinstance(doc, str):
        doc = Document(doc)
    expect = clean_expect(expect)
    out: dict[str, bool] = {}
    if "format" in expect:
        out["format"] = _format_holds(doc, expect["format"])
    if "json_schema" in expect:
        ok, value = doc.json
        out["json_schema"] = ok and schema_valid(value, expect["json_schema"])
    if "max_words" in expect:
        out["max_words"] = len(doc.words) <= expect["max_words"]
    if "min_words" in expect:
        out["min_words"] = len(doc.words) >= expect["min_words"]
    if "bullet_count" in expect:
        out["bullet_count"] = doc.structure.bullet_items == expect["bullet_count"]
    if "sentence_count" in expect:
        out["sentence_count"] = len(doc.sentences) == expect["sentence_count"]
    if expect.get("lowercase"):
        out["lowercase"] = doc.text == doc.text.lower()
    if expect.get("no_commas"):
        out["no_commas"] = "," not in doc.text and "\uff0c" not in doc.text
    if expect.get("no_code_fence"):
        out["no_code_fence"] = not doc.structure.fences
    if "contains" in expect:
        folded = doc.text.casefold()
        out["contains"] = all(s.casefold() in folded for s in expect["contains"])
    if "ends_with" in expect:
        want = _strip_end(expect["ends_with"]).casefold()
        out["ends_with"] = _strip_end(doc.text).casefold().endswith(want)
    return out


def compute(doc: Document | str, expect: dict[str, Any] | None = None) -> dict[str, Value]:
    """The formatting features of one response (names and kinds in :data:`SPECS`).

    ``json_valid``, ``json_schema_valid`` and ``format_compliant`` are None when the probe
    expects nothing they could check. Raises TypeError for a non-str text.
    """
    if isinstance(doc, str):
        doc = Document(doc)
    expect = clean_expect(expect)
    s = doc.structure
    text = doc.text
    first_lang: str | None = None
    if s.fences:
        info = s.fences[0].info.strip()
        first_lang = info.split()[0].lower() if info else _NO_LANG
    json_expected = expect.get("format") == "json" or "json_schema" in expect
    instructions = (check_instructions(doc, expect)
                    if any(k in expect for k in _INSTRUCTION_KEYS) else {})
    return {
        "length_chars": len(text),
        "length_words": len(doc.words),
        "length_lines": text.count("\n") + 1 if text else 0,
        "heading_count": s.headings,
        "bullet_items": s.bullet_items,
        "numbered_items": s.numbered_items,
        "code_fence_count": len(s.fences),
        "has_code_fence": bool(s.fences),
        "code_fence_lang": first_lang,
        "all_fenced": doc.single_fence is not None,
        "table_count": s.tables,
        "emphasis_count": s.emphasis,
        "link_count": s.links,
        "json_valid": bool(doc.json[0]) if json_expected else None,
        "json_schema_valid": instructions["json_schema"] if "json_schema" in expect else None,
        "format_compliant": all(instructions.values()) if instructions else None,
    }
