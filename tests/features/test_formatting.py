from __future__ import annotations

import random

import pytest
from markdown_it import MarkdownIt

from drift_monitor.features import compute_features, formatting
from drift_monitor.features._document import Document, _walk
from drift_monitor.features.formatting import check_instructions

from .realdata import load_task


def fmt(text: str, expect: dict | None = None) -> dict:
    return formatting.compute(text, expect)


RICH = """# Report

Intro with *emphasis*, **strong**, a [link](https://example.com) and <https://auto.link>.
A bare URL https://example.org is not a link.

## Steps

1. First
2. Second
   - nested bullet
   - another

- top bullet

| a | b |
|---|---|
| 1 | 2 |

```Python {linenos}
print("hi")
```

~~~
plain fence
~~~
"""


def test_markdown_structure_is_counted_from_the_token_stream():
    f = fmt(RICH)
    assert f["heading_count"] == 2
    assert f["numbered_items"] == 2
    assert f["bullet_items"] == 3
    assert f["table_count"] == 1
    assert f["emphasis_count"] == 2
    assert f["link_count"] == 2
    assert f["code_fence_count"] == 2
    assert f["has_code_fence"] is True
    assert f["code_fence_lang"] == "python"
    assert f["all_fenced"] is False


def test_backticks_that_do_not_open_a_fence_are_not_fences():
    # mid-line backticks are a code span; an indented block is code but not fenced
    text = "Wrap code in ```python``` markers.\n\n    ```\n    indented\n    ```\n"
    f = fmt(text)
    assert f["code_fence_count"] == 0 and f["has_code_fence"] is False
    assert f["code_fence_lang"] is None


def test_fence_inside_a_list_item_counts():
    f = fmt("1. Run this:\n\n   ```bash\n   ls\n   ```\n")
    assert f["code_fence_count"] == 1 and f["code_fence_lang"] == "bash"
    assert f["all_fenced"] is False


def test_fence_without_language_gets_the_none_tag():
    assert fmt("```\nx = 1\n```")["code_fence_lang"] == "(none)"


def test_whole_answer_in_one_fence_is_all_fenced_even_with_blank_lines_around():
    assert fmt("\n\n```python\nx = 1\n```\n\n")["all_fenced"] is True
    assert fmt("```a\n1\n```\n```b\n2\n```")["all_fenced"] is False
    assert fmt("Here it is:\n```python\nx = 1\n```")["all_fenced"] is False


def test_unclosed_fence_runs_to_the_end_of_the_text():
    truncated = "```python\ndef f():\n    return 1\n"
    f = fmt(truncated)
    assert f["has_code_fence"] is True and f["all_fenced"] is True
    f = fmt("Answer:\n```python\nx = 1\n\nMore text that is now inside the fence.")
    assert f["code_fence_count"] == 1 and f["all_fenced"] is False
    # tone ignores the code, so the swallowed sentence is not prose
    assert Document("Answer:\n```python\nx = 1\n\nMore text.").prose == "Answer:"


def test_empty_text_has_zero_lengths_and_no_structure():
    f = fmt("")
    assert (f["length_chars"], f["length_words"], f["length_lines"]) == (0, 0, 0)
    assert f["has_code_fence"] is False and f["all_fenced"] is False
    assert f["code_fence_lang"] is None


def test_lengths_count_chars_words_and_lines():
    f = fmt("Hello, world!\nIt's 42 degrees.")
    assert f["length_chars"] == 30
    assert f["length_words"] == 5  # hello world it's 42 degrees
    assert f["length_lines"] == 2


def test_cjk_characters_count_as_words_and_emoji_do_not():
    assert fmt("東京は日本の首都です。")["length_words"] == 10
    assert fmt("great 😀 👍")["length_words"] == 1


def test_windows_line_endings_are_normalised():
    assert fmt("a\r\nb\r\n")["length_lines"] == 3
    assert fmt("```py\r\nx\r\n```")["all_fenced"] is True


@pytest.mark.parametrize("text,valid", [
    ('{"status": "ok", "eta_days": 3}', True),
    ('  [1, 2, 3]\n', True),
    ('```json\n{"a": 1}\n```', True),
    ('Here you go:\n```json\n{"a": 1}\n```', False),
    ('{"a": 1,', False),
    ('{"a": NaN}', False),
    ("", False),
    ("The status is ok.", False),
    ("[" * 100_000, False),
])
def test_json_validity(text: str, valid: bool):
    assert fmt(text, {"format": "json"})["json_valid"] is valid


def test_json_features_are_none_unless_the_probe_expects_json():
    f = fmt('{"a": 1}', {"max_words": 10})
    assert f["json_valid"] is None and f["json_schema_valid"] is None


def test_json_schema_conformance():
    schema = {"type": "object", "required": ["status", "eta_days"],
              "properties": {"eta_days": {"type": "integer"}}}
    good = fmt('{"status": "shipped", "eta_days": 3}', {"json_schema": schema})
    assert good["json_valid"] is True and good["json_schema_valid"] is True
    assert good["format_compliant"] is True
    bad = fmt('{"status": "shipped", "eta_days": "3"}', {"json_schema": schema})
    assert bad["json_valid"] is True and bad["json_schema_valid"] is False
    assert bad["format_compliant"] is False
    broken = fmt('{"status": "shipped", ', {"json_schema": schema})
    assert broken["json_valid"] is False and broken["json_schema_valid"] is False


@pytest.mark.parametrize("key,value,passing,failing", [
    ("max_words", 3, "one two three", "one two three four"),
    ("min_words", 2, "one two", "one"),
    ("bullet_count", 2, "- a\n- b", "- a\n- b\n- c"),
    ("bullet_count", 0, "1. a\n2. b", "* a"),
    ("sentence_count", 2, "It works. Really well!", "It works."),
    ("lowercase", True, "all lower case 123", "Not lower"),
    ("no_commas", True, "no commas here", "one, two"),
    ("no_commas", True, "fine", "全角，逗号"),
    ("no_code_fence", True, "use `x` inline", "```\nx\n```"),
    ("contains", ["Refund", "order"], "Your REFUND for ORDER 5", "Your refund"),
    ("ends_with", "Anything else?", "Done. **anything else**!", "Anything else? Yes."),
    ("format", "json", '{"a": 1}', "a: 1"),
    ("format", "markdown", "- a list", "plain words only"),
    ("format", "plain", "plain words only", "some **bold** words"),
    ("format", "code", "```python\nx = 1\n```", "Here is the code:\n```python\nx = 1\n```"),
    ("format", "code", "def f(x):\n    return x * 2", "This function doubles its input."),
])
def test_each_instruction_is_checked(key: str, value: object, passing: str, failing: str):
    expect = {key: value}
    assert check_instructions(passing, expect) == {key: True}
    assert check_instructions(failing, expect) == {key: False}
    assert fmt(passing, expect)["format_compliant"] is True
    assert fmt(failing, expect)["format_compliant"] is False


def test_sentences_drop_list_heading_and_quote_markers():
    text = "# Plan\n\n1. Check the logs. Then restart.\n- Bullet item\n> Quoted line!\n\n..."
    assert Document(text).sentences == ["Plan", "Check the logs.", "Then restart.",
                                        "Bullet item", "Quoted line!"]
    assert check_instructions(text, {"sentence_count": 5}) == {"sentence_count": True}


def test_false_boolean_instructions_mean_no_requirement():
    expect = {"lowercase": False, "no_commas": False, "no_code_fence": False}
    assert check_instructions("Commas, Capitals\n```\nx\n```", expect) == {}
    assert fmt("Anything", expect)["format_compliant"] is None


def test_compliance_needs_every_instruction_to_hold():
    expect = {"max_words": 5, "contains": ["ok"]}
    assert fmt("ok then", expect)["format_compliant"] is True
    assert fmt("ok " * 10, expect)["format_compliant"] is False
    assert fmt("fine", expect)["format_compliant"] is False


def test_leetcode_style_unfenced_code_counts_as_code_format():
    code = ('class Solution(object):\n    def f(self, nums):\n        """\n        :type nums: '
            'List[int]\n        """\n        # Initialize variables\n        return 0')
    assert check_instructions(code, {"format": "code"}) == {"format": True}


# The plain-prose shortcut in Document.structure must agree with the parser it skips, and the
# selective inline pass with the full one.
_FULL = MarkdownIt("commonmark").enable("table")
_FIELDS = ("headings", "bullet_items", "numbered_items", "code_blocks", "tables", "blockquotes",
           "rules", "emphasis", "links", "inline_code")


def _same_structure(text: str) -> None:
    fast, full = Document(text).structure, _walk(_FULL.parse(text))
    for name in _FIELDS:
        assert getattr(fast, name) == getattr(full, name), (name, text)
    assert len(fast.fences) == len(full.fences), text
    assert (fast.top_level == ["fence"]) == (full.top_level == ["fence"]), text
    assert fast.code_lines == full.code_lines, text


def test_shortcuts_agree_with_the_full_parser_on_real_responses(all_responses: list[str]):
    for text in all_responses:
        _same_structure(text)


def test_shortcuts_agree_with_the_full_parser_on_random_markdownish_text():
    rng = random.Random(7)
    alphabet = ["a", "b", " ", "  ", "\n", "\n\n", "*", "_", "-", "#", ">", "`", "```", "~",
                "[", "]", "(", ")", "<", ">", "|", "=", "+", "1.", "2)", "\t", "    ", "!",
                "\\", "&amp;", "http://x.y", ":", "é", "😀"]
    for _ in range(3000):
        _same_structure("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))


PATHOLOGICAL = {
    "emphasis runs": "*a" * 50_000,
    "open brackets": "[" * 100_000,
    "backticks": "`" * 100_000,
    "nested quotes": "> " * 50_000,
    "list markers": "- " * 50_000,
    "numbered lines": "1. item\n" * 12_500,
    "open braces": "{" * 100_000,
    "one run-on line": "word " * 20_000,
    "fence storm": "```\n" * 25_000,
    "table rows": "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 10_000,
}


def calls(run, text: str) -> int:
    """How many function calls (Python and C) ``run`` makes on ``text``: a count of the work,
    the same on an idle machine and a busy one."""
    import cProfile

    run(text[:100])  # compiled patterns, lexicons and other caches are loaded before counting
    profile = cProfile.Profile()
    profile.enable()
    try:
        run(text)
    finally:
        profile.disable()
    return sum(entry.callcount for entry in profile.getstats())


def growth(run, text: str) -> float:
    """How much more work ``run`` does on ``text`` than eight times on its first eighth.

    Linear work gives about 1, quadratic about 8. Work is counted in function calls, not
    timed, so the figure does not move with the machine's load; quadratic work hidden inside
    one C call (a regex, a ``str`` method) is not counted here: benchmarks/pathological.py
    times the same inputs in CPU seconds."""
    return calls(run, text) / (8 * max(calls(run, text[: len(text) // 8]), 1))


@pytest.mark.slow  # counts every call on ten 100 KB inputs
@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_100_kb_pathological_inputs_scale_linearly(name: str):
    text = PATHOLOGICAL[name]
    assert len(text) >= 90_000
    expect = {"format": "json", "json_schema": {"type": "object"}, "max_words": 10,
              "choice": {"pattern": r"\[(Yes|No)\]", "reference": "Yes"}}

    def run(t: str) -> None:
        compute_features(t, expect)
        compute_features(t, None)

    assert growth(run, text) < 3


def test_100_kb_of_real_answers_scales_linearly():
    text = "\n\n".join(r["response"] for r in load_task("prime_numbers"))[:100_000]
    f = compute_features(text, {"format": "markdown"})
    assert f["length_chars"] == 100_000 and f["numbered_items"] > 100
    assert growth(lambda t: compute_features(t, {"format": "markdown"}), text) < 3


def test_inline_constructs_are_counted_within_the_inline_budget_only():
    from drift_monitor.features._document import INLINE_BUDGET

    unit = "*em* "
    text = unit * (2 * INLINE_BUDGET // len(unit))
    assert fmt(text)["emphasis_count"] == INLINE_BUDGET // len(unit)


def test_schema_patterns_on_keys_and_values_are_time_bounded():
    """A JSON Schema's pattern, patternProperties and additionalProperties run user regexes
    on model output: a pathological one is stopped (issue 13) and the answer fails the schema."""
    from drift_monitor.features.formatting import schema_valid

    evil = "^(a|aa)+$"
    key = "a" * 40 + "!"
    assert not schema_valid({"v": key}, {"properties": {"v": {"pattern": evil}}})
    assert not schema_valid({key: 1}, {"patternProperties": {evil: {"type": "integer"}}})
    assert not schema_valid({key: 1}, {"patternProperties": {evil: {}},
                                       "additionalProperties": False})
    # the ordinary cases keep jsonschema's meaning
    ok = {"properties": {"a": {}}, "patternProperties": {"^x": {"type": "integer"}},
          "additionalProperties": False}
    assert schema_valid({"a": 1, "x1": 2}, ok)
    assert not schema_valid({"a": 1, "x1": "two"}, ok)
    assert not schema_valid({"a": 1, "y": 2}, ok)
