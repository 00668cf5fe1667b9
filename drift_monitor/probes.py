"""Probe suites: load and validate ``probes/*.yaml``; give each probe a content-hash version.

A probe's version is the hash of what is sent to the model (its messages) and of what it is
measured against (its ``expect``). Editing either makes a new version, whose responses are never
mixed with the old version's baseline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import ConfigDict, Field, model_validator

from drift_monitor.errors import ProbeError
from drift_monitor.yamlio import StrictModel, check_json_value, load_yaml_with_lines, raise_located

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ChoiceExpect(StrictModel):
    """The answer is the first group of ``pattern`` (e.g. ``\\[(Yes|No)\\]``)."""

    model_config = _STRICT
    pattern: str
    reference: str | None = None


class RegexExpect(StrictModel):
    """The answer is the first group of ``pattern`` (or the whole match without groups)."""

    model_config = _STRICT
    pattern: str
    reference: str | None = None


class JsonFieldExpect(StrictModel):
    """The answer is the value at a dotted ``path`` ("a.b.0") of the JSON in the response."""

    model_config = _STRICT
    path: str
    reference: Any = None


class NumberExpect(StrictModel):
    """The answer is the last number in the response; correct within ``tolerance``."""

    model_config = _STRICT
    reference: float | None = None
    tolerance: float = 0.0


class TextExpect(StrictModel):
    """The answer is the whole response, normalised (case, whitespace, punctuation)."""

    model_config = _STRICT
    reference: str


class Expect(StrictModel):
    """What a probe's response is checked against. Every key is optional.

    ``format``/``json_schema``/the instruction keys are checked by the formatting features;
    ``choice``/``regex``/``json_field``/``number``/``text`` (at most one) by the answer features.
    """

    model_config = _STRICT
    format: Literal["json", "markdown", "plain", "code"] | None = None
    json_schema: dict[str, Any] | None = None
    choice: ChoiceExpect | None = None
    regex: RegexExpect | None = None
    json_field: JsonFieldExpect | None = None
    number: NumberExpect | None = None
    text: TextExpect | None = None
    # verifiable instructions
    max_words: int | None = Field(default=None, ge=1)
    min_words: int | None = Field(default=None, ge=0)
    bullet_count: int | None = Field(default=None, ge=0)
    sentence_count: int | None = Field(default=None, ge=1)
    lowercase: bool | None = None
    no_commas: bool | None = None
    no_code_fence: bool | None = None
    contains: list[str] | None = None
    ends_with: str | None = None

    @model_validator(mode="after")
    def _one_answer_kind(self) -> Expect:
        kinds = [k for k in ("choice", "regex", "json_field", "number", "text")
                 if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"at most one answer kind is allowed, got {', '.join(kinds)}")
        from drift_monitor.patterns import compile_pattern

        for k in ("choice", "regex"):
            spec = getattr(self, k)
            if spec is not None:
                try:
                    compile_pattern(spec.pattern)
                except ValueError as exc:
                    raise ValueError(f"{k}.pattern is not a valid regular expression: "
                                     f"{str(exc).rpartition(': ')[2]}") from None
        # stored as JSON with the probe version: no YAML dates, binary, NaN or infinities
        for key in ("json_schema", "json_field", "number"):
            if getattr(self, key) is not None:
                check_json_value(getattr(self, key).model_dump() if key != "json_schema"
                                 else self.json_schema, key)
        if self.json_schema is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(self.json_schema)
            except SchemaError as exc:
                raise ValueError(f"json_schema is not a valid JSON Schema: {exc.message}") \
                    from exc
        return self


class Message(StrictModel):
    model_config = _STRICT
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class ProbeSpec(StrictModel):
    model_config = _STRICT
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    system: str | None = None
    prompt: str | None = None
    messages: list[Message] | None = None
    expect: Expect | None = None
    samples: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> ProbeSpec:
        if self.messages is None and not self.prompt:
            raise ValueError("a probe needs 'prompt' (with optional 'system') or 'messages'")
        if self.messages is not None and (self.prompt or self.system):
            raise ValueError("use either 'messages' or 'prompt'/'system', not both")
        if self.messages is not None and self.messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        return self


class SuiteDefaults(StrictModel):
    model_config = _STRICT
    samples: int | None = Field(default=None, ge=1, le=1000)


class SuiteSpec(StrictModel):
    model_config = _STRICT
    suite: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str | None = None
    defaults: SuiteDefaults = SuiteDefaults()
    probes: list[ProbeSpec] = Field(min_length=1)


class ProbeKey(NamedTuple):
    """One probe version's identity. ``str(key)`` is the stored form ``suite/id@version``
    (responses of different versions never mix); as a tuple it equals ``(suite, id, version)``.
    Suite names and probe ids never contain ``/`` or ``@`` (their patterns forbid it), so the
    form parses back unambiguously."""

    suite: str
    id: str
    version: str

    def __str__(self) -> str:
        return f"{self.suite}/{self.id}@{self.version}"

    @classmethod
    def parse(cls, text: str) -> ProbeKey:
        """``"suite/id@version"`` -> ProbeKey. Raises ValueError naming the text otherwise."""
        suite, slash, rest = text.partition("/")
        probe_id, at, version = rest.partition("@")
        if not (slash and at and suite and probe_id and version) or "/" in rest \
                or "@" in version:
            raise ValueError(f"not a probe key of the form 'suite/id@version': {text!r}")
        return cls(suite, probe_id, version)


def probe_name(text: str) -> str:
    """The probe id in a stored key (``suite/probe-id@version`` -> ``probe-id``), for messages.

    A text that is not a key (an example or a per-probe finding already names the bare id) is
    returned unchanged."""
    try:
        return ProbeKey.parse(text).id
    except ValueError:
        return text


@dataclass(frozen=True)
class Probe:
    """One loaded probe, ready to send."""

    suite: str
    id: str
    messages: tuple[dict[str, str], ...]
    expect: dict[str, Any] | None
    samples: int | None
    version: str
    file: str

    @property
    def key(self) -> ProbeKey:
        return ProbeKey(self.suite, self.id, self.version)

    @property
    def content(self) -> dict[str, Any]:
        """What the version hashes; stored with the probe version."""
        return {"messages": list(self.messages), "expect": self.expect}


@dataclass(frozen=True)
class Suite:
    name: str
    file: str
    description: str | None
    probes: tuple[Probe, ...]
    default_samples: int | None = None


@dataclass(frozen=True)
class ProbeLibrary:
    """All suites found in a probes directory, keyed by suite name."""

    directory: Path
    suites: dict[str, Suite] = field(default_factory=dict)

    def select(self, names: list[str], *, where: str | None = None) -> list[Probe]:
        """The probes of the named suites, in order. Raises ProbeError for an unknown name."""
        probes: list[Probe] = []
        for name in names:
            if name not in self.suites:
                known = ", ".join(sorted(self.suites)) or "none"
                raise ProbeError(
                    f"unknown suite '{name}' (suites found in {self.directory}: {known})",
                    file=where, key="suites")
            probes.extend(self.suites[name].probes)
        return probes


def probe_version(messages: list[dict[str, str]], expect: dict[str, Any] | None) -> str:
    """The content hash of a probe: 16 hex digits of SHA-256 over canonical JSON."""
    canonical = json.dumps({"messages": messages, "expect": expect}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _to_probe(suite: SuiteSpec, spec: ProbeSpec, file: str) -> Probe:
    if spec.messages is not None:
        messages = [m.model_dump() for m in spec.messages]
    else:
        messages = []
        if spec.system:
            messages.append({"role": "system", "content": spec.system})
        messages.append({"role": "user", "content": spec.prompt or ""})
    expect = spec.expect.model_dump(exclude_none=True) if spec.expect else None
    samples = spec.samples if spec.samples is not None else suite.defaults.samples
    return Probe(suite=suite.suite, id=spec.id, messages=tuple(messages), expect=expect or None,
                 samples=samples, version=probe_version(messages, expect or None), file=file)


def load_suite_file(path: Path) -> Suite:
    """Load and validate one suite file. Raises ProbeError naming file, key and line."""
    file = str(path)
    data, lines = load_yaml_with_lines(path, ProbeError)
    if data is None:
        raise ProbeError("the probe file is empty", file=file)
    if not isinstance(data, dict):
        raise ProbeError("expected a mapping with 'suite' and 'probes'", file=file, line=1)
    from pydantic import ValidationError

    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise_located(exc, file, lines, ProbeError)
    seen: dict[str, int] = {}
    for i, p in enumerate(spec.probes):
        if p.id in seen:
            raise ProbeError(f"duplicate probe id '{p.id}' (first at probes.{seen[p.id]})",
                             file=file, key=f"probes.{i}.id", line=lines.get(("probes", i, "id")))
        seen[p.id] = i
    probes = tuple(_to_probe(spec, p, file) for p in spec.probes)
    return Suite(name=spec.suite, file=file, description=spec.description, probes=probes,
                 default_samples=spec.defaults.samples)


_PACKAGE_DIR = Path(__file__).resolve().parent


def default_library_dir() -> Path:
    """The default probe library: ``_probes`` inside an installed wheel, or the repository's
    top-level ``probes/`` in a checkout. Raises ProbeError when neither exists (a broken
    installation)."""
    for candidate in (_PACKAGE_DIR / "_probes", _PACKAGE_DIR.parent / "probes"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise ProbeError("the default probe library is missing from this installation")


def load_library(directory: Path) -> ProbeLibrary:
    """Load every ``*.yaml``/``*.yml`` suite in ``directory``.

    Raises ProbeError for a missing directory, a broken file, a suite name defined twice, or a
    probe id used in two suites (ids name probes on the CLI and in alerts, so they are global).
    """
    if not directory.is_dir():
        raise ProbeError(f"probe directory {directory} does not exist")
    suites: dict[str, Suite] = {}
    ids: dict[str, str] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files:
        suite = load_suite_file(path)
        if suite.name in suites:
            raise ProbeError(f"suite '{suite.name}' is also defined in {suites[suite.name].file}",
                             file=str(path), key="suite")
        for p in suite.probes:
            if p.id in ids:
                raise ProbeError(f"duplicate probe id '{p.id}' (also in {ids[p.id]})",
                                 file=str(path), key="probes.id")
            ids[p.id] = str(path)
        suites[suite.name] = suite
    return ProbeLibrary(directory=directory, suites=suites)


def _schema_patterns(schema: Any, path: str) -> list[tuple[str, str]]:
    """(key path, pattern) of every ``pattern`` in a JSON Schema."""
    out: list[tuple[str, str]] = []
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k == "pattern" and isinstance(v, str):
                out.append((f"{path}.pattern", v))
            else:
                out.extend(_schema_patterns(v, f"{path}.{k}"))
    elif isinstance(schema, list):
        for i, v in enumerate(schema):
            out.extend(_schema_patterns(v, f"{path}.{i}"))
    return out


def pattern_warnings(library: ProbeLibrary) -> list[str]:
    """One line per user regex with a nested quantifier (``(a+)+``), naming file and key.

    Matching is time-bounded anyway (``drift_monitor.patterns``); the warning says why such
    a probe's answers may come out as not found."""
    from drift_monitor.patterns import nested_quantifier

    out = []
    for suite in library.suites.values():
        for p in suite.probes:
            expect = p.expect or {}
            found = [(f"expect.{k}.pattern", expect[k]["pattern"]) for k in ("choice", "regex")
                     if isinstance(expect.get(k), dict)]
            found += _schema_patterns(expect.get("json_schema"), "expect.json_schema")
            for key, pattern in found:
                if nested_quantifier(pattern):
                    out.append(f"{p.file}: probe '{p.id}', key '{key}': pattern {pattern!r} "
                               "repeats a group that contains a repeat (nested quantifiers "
                               "can backtrack exponentially; matching stops after "
                               "1 s and counts as no match)")
    return out
