"""YAML loading that remembers where every key is, so errors can name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from drift_monitor.errors import _LocatedError

Path_ = tuple[str | int, ...]

# libyaml's parser is ~20x faster on large probe suites; the pure-Python one is the fallback
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def load_yaml_with_lines(path: Path, err: type[_LocatedError]) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file; return the data and a map from key path to 1-based line number.

    Raises ``err`` (naming the file and line) for an unreadable file, malformed YAML or a
    duplicate key.
    """
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise err("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise err(f"cannot read the file: {exc}", file=file) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
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
