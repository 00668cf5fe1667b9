"""The shared view of one response: text, markdown structure, prose, words, sentences, JSON.

Every feature family reads the same :class:`Document`, so the expensive views (the markdown-it
parse above all) are computed at most once per response, and only if some family asks for them.
Nothing is cached across documents: the cost measured by ``benchmarks/features.py`` is the real
per-response cost.

Markdown is parsed with markdown-it-py (CommonMark plus GFM tables). Its rules, not ours, decide
what is a heading, a list item or a code fence. Consequences worth knowing: an opening fence
without a closing one (a truncated answer) runs to the end of the text, as CommonMark says, so
a response cut off by ``max_tokens`` inside a code block still counts as fenced; and inline
constructs (emphasis, links) are counted in the first INLINE_BUDGET characters of inline text
only, which bounds the parse of 100 kB of garbage to well under a second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

_md: MarkdownIt | None = None


# Inline tokens we count (emphasis, links, images, autolinks, code spans) all need one of these.
_INLINE_TRIGGER = re.compile(r"[*_\[`<]")
# markdown-it-py's inline parser runs at ~30 us per character on bracket or asterisk soup
# ("[[[[...", "*a*a*a..."), so 100 kB of it would take seconds. Inline constructs are counted
# in the first INLINE_BUDGET characters of inline text that can hold any; block structure
# (headings, lists, fences, tables) is always parsed in full.
INLINE_BUDGET = 20_000


def _selective_inline(state: StateCore) -> None:
    """markdown-it's core "inline" rule, skipping inline runs that cannot hold a construct we
    count (the inline pass is a quarter of the parse time and most runs are plain prose) and
    stopping once INLINE_BUDGET characters have been parsed."""
    budget = INLINE_BUDGET
    for token in state.tokens:
        if token.type == "inline":
            if token.children is None:
                token.children = []
            if budget > 0 and _INLINE_TRIGGER.search(token.content):
                content = token.content[:budget]
                budget -= len(content)
                state.md.inline.parse(content, state.md, state.env, token.children)


def _parser() -> MarkdownIt:
    # One parser for the process: building the rule chains costs far more than a parse.
    global _md
    if _md is None:
        md = MarkdownIt("commonmark").enable("table")
        md.core.ruler.at("inline", _selective_inline)
        _md = md
    return _md


# Every CommonMark/GFM construct that produces a token other than a plain paragraph needs one of
# these characters, a line starting with "-" or a digit (lists, thematic breaks, setext
# underlines), or four columns of indentation (indented code). Text without any of them cannot
# hold structure, so the parse is skipped: two thirds of the bundled real answers are plain prose.
# tests/features/test_formatting.py checks this shortcut against the parser on real and random
# texts.
_MAYBE_MARKDOWN = re.compile(r"[#>*+_=`~<\[|]|^(?:[ \t]*[-\d]|[ \t]{4}|[ ]{0,3}\t)", re.M)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A word is a run of letters/digits/underscores with inner apostrophes ("don't" is one word);
# each CJK ideograph or kana counts as one word, since those scripts do not separate words by
# spaces. On ASCII text both patterns match the same words; the plain one is faster.
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+(?:'[^\W{_CJK}]+)*")
_WORD_ASCII = re.compile(r"\w+(?:'\w+)*")


def lower_words(text: str) -> list[str]:
    """The words of ``text``, lowercased, with curly apostrophes folded to "'"."""
    low = text.lower()
    if low.isascii():
        return _WORD_ASCII.findall(low)
    return _WORD.findall(low.replace("\u2019", "'"))


def iter_lower_words(text: str) -> Iterator[str]:
    """:func:`lower_words` lazily, for callers that want only the first few."""
    low = text.lower()
    if low.isascii():
        return (m.group() for m in _WORD_ASCII.finditer(low))
    return (m.group() for m in _WORD.finditer(low.replace("\u2019", "'")))


# List markers, heading hashes and quote markers are not part of a sentence.
_LINE_MARKER = re.compile(r"^\s*(?:[-*+]\s+|\d{1,9}[.)]\s+|#{1,6}\s+|>\s*)+")
# CJK full stops end a sentence even without a following space, as those scripts write them.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])\s*")
_MARKER_START = frozenset("-*+#>0123456789")
_SENTENCE_END_ASCII = re.compile(r"(?<=[.!?])\s+")
_JSON_START = frozenset('{["-0123456789tfn')
_HAS_CONTENT = re.compile(r"[^\W_]|[\u2600-\u27bf\U0001f000-\U0001faff]")
_HAS_CONTENT_ASCII = re.compile(r"[A-Za-z0-9]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(s: str) -> tuple[bool, Any]:
    """``(True, value)`` if ``s`` is one strict JSON document (no NaN/Infinity), else
    ``(False, None)``. Never raises, even on absurdly deep nesting."""
    try:
        return True, json.loads(s, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False, None


@dataclass
class Structure:
    """Counts of markdown constructs, as markdown-it's token stream has them."""

    headings: int = 0
    bullet_items: int = 0
    numbered_items: int = 0
    fences: list[Token] = field(default_factory=list)
    code_blocks: int = 0
    tables: int = 0
    blockquotes: int = 0
    rules: int = 0
    emphasis: int = 0
    links: int = 0
    inline_code: int = 0
    # top-level block types in order ("fence", "paragraph", ...): decides all_fenced
    top_level: list[str] = field(default_factory=list)
    # [start, end) line ranges of fenced and indented code, for the prose view
    code_lines: list[tuple[int, int]] = field(default_factory=list)

    @property
    def any_markdown(self) -> bool:
        """True if anything beyond plain paragraphs is present."""
        return bool(self.headings or self.bullet_items or self.numbered_items or self.fences
                    or self.code_blocks or self.tables or self.blockquotes or self.rules
                    or self.emphasis or self.links or self.inline_code)


def _walk(tokens: list[Token]) -> Structure:
    s = Structure()
    lists: list[Literal["b", "o"]] = []
    depth = 0
    for tok in tokens:
        t = tok.type
        if depth == 0 and tok.nesting >= 0:
            s.top_level.append(t.removesuffix("_open"))
        depth += tok.nesting
        if t == "inline":
            for child in tok.children or ():
                c = child.type
                if c == "em_open" or c == "strong_open":
                    s.emphasis += 1
                elif c == "link_open":
                    s.links += 1
                elif c == "code_inline":
                    s.inline_code += 1
        elif t == "list_item_open":
            if lists and lists[-1] == "o":
                s.numbered_items += 1
            else:
                s.bullet_items += 1
        elif t == "bullet_list_open":
            lists.append("b")
        elif t == "ordered_list_open":
            lists.append("o")
        elif t == "bullet_list_close" or t == "ordered_list_close":
            lists.pop()
        elif t == "fence" or t == "code_block":
            if t == "fence":
                s.fences.append(tok)
            else:
                s.code_blocks += 1
            if tok.map:
                s.code_lines.append((tok.map[0], tok.map[1]))
        elif t == "heading_open":
            s.headings += 1
        elif t == "table_open":
            s.tables += 1
        elif t == "blockquote_open":
            s.blockquotes += 1
        elif t == "hr":
            s.rules += 1
    return s


class Document:
    """One response text and its lazily computed views.

    Raises TypeError when ``text`` is not a str. Line endings are normalised to ``\\n`` (as
    markdown-it does), so line numbers in the structure index :attr:`lines`.
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"a response text must be str, got {type(text).__name__}")
        self.text = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    @cached_property
    def structure(self) -> Structure:
        """Markdown structure; all zeros without parsing when no construct is possible."""
        if not _MAYBE_MARKDOWN.search(self.text):
            return Structure(top_level=["paragraph"] if self.text.strip() else [])
        return _walk(_parser().parse(self.text))

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def prose(self) -> str:
        """The text without fenced or indented code blocks (what tone is measured on)."""
        ranges = self.structure.code_lines
        if not ranges:
            return self.text
        keep = [True] * len(self.lines)
        for start, end in ranges:
            for i in range(start, min(end, len(keep))):
                keep[i] = False
        return "\n".join(line for line, k in zip(self.lines, keep, strict=True) if k)

    @cached_property
    def words(self) -> list[str]:
        """Words of the whole text (code included), in order, as :func:`lower_words` gives."""
        return lower_words(self.text)

    @cached_property
    def prose_words(self) -> list[str]:
        """Words of :attr:`prose`, as :func:`lower_words` gives."""
        return self.words if self.prose is self.text else lower_words(self.prose)

    @cached_property
    def sentences(self) -> list[str]:
        """Sentences of :attr:`prose`: each line is split after ``. ! ?`` followed by whitespace
        and after CJK full stops; list/heading/quote markers are dropped; pieces without a
        letter, digit or emoji are not sentences. An approximation: "e.g. this" splits in two."""
        out: list[str] = []
        prose = self.prose
        # ASCII text (most answers) needs neither the CJK stops nor the emoji test.
        if prose.isascii():
            split, has_content = _SENTENCE_END_ASCII.split, _HAS_CONTENT_ASCII.search
        else:
            split, has_content = _SENTENCE_END.split, _HAS_CONTENT.search
        for line in prose.split("\n"):
            if line[:1].isspace() or line[:1] in _MARKER_START:
                line = _LINE_MARKER.sub("", line)
            line = line.strip()
            if not line:
                continue
            for piece in split(line):
                if has_content(piece):
                    out.append(piece)
        return out

    @cached_property
    def single_fence(self) -> Token | None:
        """The fence token when the whole answer is exactly one fenced block, else None."""
        s = self.structure
        if s.top_level == ["fence"] and len(s.fences) == 1:
            return s.fences[0]
        return None

    @cached_property
    def json(self) -> tuple[bool, Any]:
        """``(ok, value)``: the answer parses as JSON, or it is a single fence whose content
        does. Prose around a fence makes it invalid: that is what breaks a JSON contract."""
        stripped = self.text.strip()
        # Only a JSON value's first character can start one; skip the parse for prose.
        if stripped and stripped[0] in _JSON_START:
            ok, value = parse_json(stripped)
            if ok:
                return ok, value
        fence = self.single_fence
        if fence is not None:
            return parse_json(fence.content)
        return False, None
