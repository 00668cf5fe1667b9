"""YAML loading that remembers where every key is, so errors can name the line."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, NoReturn, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator

from drift_monitor.errors import _LocatedError

Path_ = tuple[str | int, ...]

# libyaml's parser is ~20x faster on large probe suites; the pure-Python one is the fallback
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Input bounds (the README's reliability section lists them): a file's size, the number of
# values it expands to with its aliases resolved, and how deeply it nests.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 100


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], err: type[_LocatedError],
          file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            here = (*path, key)
            if key in seen:
                raise err(f"duplicate key '{key}'", file=file, key=dotted(here),
                          line=key_node.start_mark.line + 1)
            seen.add(key)
            lines[here] = key_node.start_mark.line + 1
            _walk(value_node, here, lines, err, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, err, file)


def _check_expansion(root: yaml.Node, err: type[_LocatedError], file: str) -> None:
    """Refuse a document whose aliases would expand past MAX_NODES nodes (a "billion laughs"
    bomb: nine levels of nine aliases make 387 million), that refers to itself, or that nests
    deeper than MAX_DEPTH. Counted on the composed graph, where an alias is one shared node,
    so the count itself costs time proportional to the file, not to the expansion."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if depth > MAX_DEPTH:
            raise err(f"the YAML is nested too deeply (over {MAX_DEPTH} levels)", file=file,
                      line=node.start_mark.line + 1)
        if key in visiting:
            raise err("an alias refers to the node that contains it (a recursive document)",
                      file=file, line=node.start_mark.line + 1)
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                total += size(v, depth + 1)
                if total > MAX_NODES:
                    break
        visiting.discard(key)
        if total > MAX_NODES:
            raise err(f"the YAML expands to more than {MAX_NODES:,} values (aliases that "
                      "repeat aliases: refused)", file=file, line=node.start_mark.line + 1)
        sizes[key] = total
        return total

    size(root, 0)


def load_yaml_with_lines(path: Path, err: type[_LocatedError], *,
                         max_bytes: int = MAX_FILE_BYTES) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file; return the data and a map from key path to 1-based line number.

    Raises ``err`` (naming the file and line) for an unreadable file, malformed YAML, a
    duplicate key, a file over ``max_bytes``, or aliases that expand past MAX_NODES values.
    """
    file = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise err(f"the file is over the {max_bytes // (1024 * 1024)} MB limit for this "
                      "kind of file", file=file)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise err("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise err(f"cannot read the file: {exc}", file=file) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, err, file)
        data = loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise err(f"the YAML is nested too deeply (over {MAX_DEPTH} levels)",
                  file=file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise err(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise err(f"malformed YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines, err, file)
    return data, lines


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def line_for(path: Path_, lines: dict[Path_, int]) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None


def raise_located(exc: ValidationError, file: str, lines: dict[Path_, int],
                  err: type[_LocatedError]) -> NoReturn:
    """Turn pydantic's first error into ``err`` naming the file, the key and the line."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = f"unknown key '{loc[-1]}'" if loc else "unknown key"
    elif first["type"] == "missing":
        msg = f"required key '{loc[-1]}' is missing"
        loc_for_line = loc[:-1]
        raise err(msg, file=file, key=dotted(loc) or None, line=line_for(loc_for_line, lines))
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    extra = len(exc.errors()) - 1
    if extra:
        msg += f" (and {extra} more error{'s' if extra > 1 else ''})"
    raise err(msg, file=file, key=dotted(loc) or None, line=line_for(loc, lines))


def _accepts_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    if annotation is type(None):
        return False
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_accepts_bool(a) for a in get_args(annotation))
    # Literal, containers, models: pydantic's own checks decide
    return not (annotation is int or annotation is float)


class StrictModel(BaseModel):
    """Base of the config and probe models: YAML's ``true`` is not the number 1.

    pydantic's lax mode turns a boolean into 1 or 1.0 (``samples: true`` ran one sample);
    here a boolean given to a numeric key is an error naming the key.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _accepts_bool(field.annotation):
                raise ValueError(f"expected a number, got {str(v).lower()}")
        return v


def check_json_value(value: Any, where: str) -> None:
    """ValueError unless ``value`` is plain JSON (params are sent as a JSON body, expectations
    stored as JSON): a YAML date (``stop: 2024-01-01``), a timestamp or ``!!binary`` would fail
    every call, or the insert, instead."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where} is {value}, which JSON cannot carry")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} has a key {k!r} that is not a string (quote it)")
            check_json_value(v, f"{where}.{k}")
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_json_value(v, f"{where}.{i}")
        return
    import datetime as dt

    if isinstance(value, dt.date | dt.datetime):
        raise ValueError(f"{where} is a YAML date ({value}); quote it to send it as text")
    if isinstance(value, bytes):
        raise ValueError(f"{where} is binary data (!!binary), which JSON cannot carry")
    raise ValueError(f"{where} is a {type(value).__name__}, which JSON cannot carry")
