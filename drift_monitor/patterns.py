"""User regular expressions (a probe's ``choice``/``regex`` pattern, a JSON Schema ``pattern``)
matched against model output, with a time bound.

Python's ``re`` cannot be interrupted: ``^(a+)+$`` against ``"a" * 32 + "!"`` backtracks for
hours while holding the GIL, so the daemon's ``/healthz`` and its SIGTERM handler stop too. These
patterns go through the ``regex`` package instead, whose matcher checks a deadline
(``timeout=``) and raises TimeoutError; a match that times out counts as no match and is logged
once per pattern. Matching releases the GIL (``concurrent=True``), so the event loop, ``/healthz``
and signal handling keep running meanwhile. ``validate`` also warns about nested quantifiers
(:func:`nested_quantifier`), the usual cause.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import regex

log = logging.getLogger(__name__)

# Seconds one pattern may spend on one answer (answers are at most 4 MB).
MATCH_TIMEOUT_S = 1.0
_warned: set[str] = set()


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (``re``-compatible syntax). Raises ValueError if it is invalid."""
    try:
        return regex.compile(pattern, regex.VERSION0)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"invalid answer pattern {pattern!r}: {exc}") from None


def _timed_out(pattern: str) -> None:
    if pattern not in _warned:
        _warned.add(pattern)
        log.warning("pattern %r took over %.0f s on one answer and was stopped; that answer "
                    "counts as not matching (simplify the pattern: nested quantifiers such as "
                    "(a+)+ backtrack exponentially)", pattern[:80], MATCH_TIMEOUT_S)


def last_match(pattern: str, text: str) -> Any:
    """The last match of ``pattern`` in ``text`` (a ``regex`` Match), or None; None too when
    matching takes longer than MATCH_TIMEOUT_S."""
    m = None
    try:
        matches = compile_pattern(pattern).finditer(text, concurrent=True,
                                                    timeout=MATCH_TIMEOUT_S)
        for m in matches:  # noqa: B007 - only the last one is wanted
            pass
    except TimeoutError:
        _timed_out(pattern)
        return None
    return m


def search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` occurs in ``text``; None when matching timed out."""
    try:
        return compile_pattern(pattern).search(text, concurrent=True,
                                               timeout=MATCH_TIMEOUT_S) is not None
    except TimeoutError:
        _timed_out(pattern)
        return None


def nested_quantifier(pattern: str) -> bool:
    """True when ``pattern`` repeats a group that itself contains a repeat (``(a+)+``,
    ``(\\w+\\s?)*``, ``(a|aa){2,}``-style alternations are not detected): the shape that can
    backtrack exponentially."""
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - Python < 3.11
        import sre_parse  # type: ignore[no-redef]

    try:
        tree = sre_parse.parse(pattern)
    except Exception:  # invalid patterns are reported by validation itself
        return False
    repeats = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT,
               getattr(sre_parse, "POSSESSIVE_REPEAT", None)}

    def walk(items: Any, inside_repeat: bool) -> bool:
        for op, av in items:
            if op in repeats:
                _lo, hi, sub = av
                unbounded = hi > 1
                if inside_repeat and unbounded:
                    return True
                if walk(sub, inside_repeat or unbounded):
                    return True
            elif op == sre_parse.SUBPATTERN:
                if walk(av[-1], inside_repeat):
                    return True
            elif op == sre_parse.BRANCH:
                if any(walk(b, inside_repeat) for b in av[1]):
                    return True
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT) and walk(av[1], inside_repeat):
                return True
        return False

    return walk(tree, False)
