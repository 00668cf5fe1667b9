"""Probe suites: validation, located errors, and content-hash versions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drift_monitor.errors import ProbeError
from drift_monitor.probes import ProbeKey, load_library, load_suite_file, probe_name

SUITE = """\
suite: basics
defaults: {samples: 2}
probes:
  - id: order-status-json
    system: Reply with a JSON object with keys "status" and "eta_days" only.
    prompt: Where is my order 1234? It shipped on Monday.
    expect: {format: json, json_schema: {type: object, required: [status, eta_days]}}
  - id: prime-17077
    prompt: Is 17077 a prime number? Think step by step and then answer "[Yes]" or "[No]".
    expect: {choice: {pattern: '\\[(Yes|No)\\]', reference: "Yes"}}
  - id: chat
    messages:
      - {role: system, content: Be brief.}
      - {role: user, content: Hi}
      - {role: assistant, content: Hello!}
      - {role: user, content: "How are you?"}
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text(textwrap.dedent(text))
    return p


def test_design_example_suite_loads(tmp_path: Path) -> None:
    suite = load_suite_file(write(tmp_path, "basics.yaml", SUITE))
    assert [p.id for p in suite.probes] == ["order-status-json", "prime-17077", "chat"]
    first = suite.probes[0]
    assert first.messages[0] == {"role": "system", "content":
                                 'Reply with a JSON object with keys "status" and "eta_days" only.'}
    assert first.messages[1]["role"] == "user"
    assert first.samples == 2
    assert suite.probes[1].expect == {"choice": {"pattern": r"\[(Yes|No)\]", "reference": "Yes"}}
    assert len(suite.probes[2].messages) == 4


def test_version_is_stable_and_changes_with_prompt_or_expectation(tmp_path: Path) -> None:
    v1 = load_suite_file(write(tmp_path, "a.yaml", SUITE)).probes[1].version
    again = load_suite_file(write(tmp_path, "b.yaml", SUITE)).probes[1].version
    edited = load_suite_file(write(tmp_path, "c.yaml", SUITE.replace("17077", "17078")))
    new_ref = load_suite_file(write(tmp_path, "d.yaml", SUITE.replace('"Yes"}', '"No"}')))
    assert v1 == again and len(v1) == 16
    assert edited.probes[1].version != v1
    assert new_ref.probes[1].version != v1
    # a sample-count change is not a content change
    more = load_suite_file(write(tmp_path, "e.yaml", SUITE.replace("samples: 2", "samples: 5")))
    assert more.probes[1].version == v1


def test_duplicate_id_in_one_file_names_its_line(tmp_path: Path) -> None:
    text = SUITE + "  - id: chat\n    prompt: again\n"
    with pytest.raises(ProbeError) as e:
        load_suite_file(write(tmp_path, "dup.yaml", text))
    assert "duplicate probe id 'chat'" in str(e.value)
    assert e.value.line == len(SUITE.splitlines()) + 1 and e.value.key == "probes.3.id"


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SUITE)
    write(tmp_path, "b.yaml", "suite: other\nprobes:\n  - id: chat\n    prompt: hi\n")
    with pytest.raises(ProbeError, match="duplicate probe id 'chat'"):
        load_library(tmp_path)


def test_empty_probe_file(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="empty") as e:
        load_suite_file(write(tmp_path, "empty.yaml", ""))
    assert e.value.file and e.value.file.endswith("empty.yaml")


def test_suite_without_probes(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as e:
        load_suite_file(write(tmp_path, "none.yaml", "suite: x\nprobes: []\n"))
    assert e.value.key == "probes"


def test_unknown_suite_is_named_with_known_ones(tmp_path: Path) -> None:
    write(tmp_path, "basics.yaml", SUITE)
    lib = load_library(tmp_path)
    with pytest.raises(ProbeError, match=r"unknown suite 'nope' .*basics"):
        lib.select(["basics", "nope"])


@pytest.mark.parametrize("probe, expected", [
    ("  - id: x\n    prompt: hi\n    expect: {choice: {pattern: '(unclosed'}}\n",
     "not a valid regular expression"),
    ("  - id: x\n    prompt: hi\n    expect: {json_schema: {type: 12}}\n",
     "not a valid JSON Schema"),
    ("  - id: x\n    prompt: hi\n    expect: {number: {}, text: {reference: a}}\n",
     "at most one answer kind"),
    ("  - id: x\n    system: only a system prompt\n", "needs 'prompt'"),
    ("  - id: x\n    prompt: hi\n    expect: {colour: blue}\n", "unknown key 'colour'"),
    ("  - id: 'bad id'\n    prompt: hi\n", "should match pattern"),
])
def test_invalid_probes_are_rejected_with_location(tmp_path: Path, probe: str,
                                                   expected: str) -> None:
    with pytest.raises(ProbeError) as e:
        load_suite_file(write(tmp_path, "bad.yaml", "suite: s\nprobes:\n" + probe))
    assert expected in str(e.value)
    assert e.value.line is not None and e.value.line >= 3


def test_missing_probe_directory(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="does not exist"):
        load_library(tmp_path / "probes")


def test_bundled_starter_suites_are_valid() -> None:
    lib = load_library(Path(__file__).resolve().parent.parent / "drift_monitor" / "templates"
                       / "probes")
    assert set(lib.suites) == {"gpt35-coding", "gpt35-primes", "gpt35-sensitive",
                               "gpt35-opinions"}
    assert len(lib.suites["gpt35-primes"].probes) == 200


def test_probe_key_round_trips_through_its_stored_form() -> None:
    key = ProbeKey("suite", "probe-1.a:b", "0123456789abcdef")
    assert str(key) == "suite/probe-1.a:b@0123456789abcdef"
    assert ProbeKey.parse(str(key)) == key
    assert key == ("suite", "probe-1.a:b", "0123456789abcdef")  # the storage tuple
    assert probe_name(str(key)) == "probe-1.a:b"
    assert probe_name("probe-1") == "probe-1"  # a bare id is already a name


@pytest.mark.parametrize("text", ["", "suite", "suite/id", "suite@v", "/id@v", "s/@v", "s/id@",
                                  "s/a/b@v", "s/id@v@w"])
def test_probe_key_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="suite/id@version"):
        ProbeKey.parse(text)
