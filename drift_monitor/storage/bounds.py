"""Bounds for what a provider sends before it reaches the database.

Every response row passes :func:`bound_response_row` on its way in (the runner calls it before
features are measured, ``Store.insert_responses`` again for any other caller), so a new
provider gets it for free. A provider's answer is untrusted input: PostgreSQL refuses a NUL
character in text, SQLite and PostgreSQL both refuse a lone UTF-16 surrogate (it has no UTF-8
form), ``String(n)`` columns refuse longer values on PostgreSQL, and ``INTEGER`` columns hold
32 bits. Without these bounds one bad answer made the whole batch's insert fail.

The rules (the README's reliability section lists them):

- NUL becomes U+FFFD (the replacement character); a lone surrogate becomes U+FFFD too.
- A string longer than its column is cut, ending in ``…[cut]`` so the cut is visible; the
  answer ``text`` is unbounded in the schema but never longer than the 4 MB body it came in.
- Integers are clamped into the column's range (token counts of 2**31 or more become
  2**31 - 1, negative ones 0); a non-finite float becomes None.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import Float, Integer, String

from drift_monitor.storage.tables import Response

CUT_MARKER = "\u2026[cut]"
INT_MAX = 2**31 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")

# column name -> max length (None: unbounded text), from the table itself
_STRING_WIDTHS: dict[str, int | None] = {}
_INT_COLUMNS: set[str] = set()
_FLOAT_COLUMNS: set[str] = set()
for _c in Response.__table__.columns:
    if isinstance(_c.type, String):
        _STRING_WIDTHS[_c.name] = _c.type.length
    elif isinstance(_c.type, Integer) and not _c.foreign_keys and not _c.primary_key:
        _INT_COLUMNS.add(_c.name)
    elif isinstance(_c.type, Float):
        _FLOAT_COLUMNS.add(_c.name)


def clean_text(value: str) -> str:
    """``value`` without NUL characters or lone surrogates (each becomes U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _SURROGATE.sub("\ufffd", value)
    return value


def cut(value: str, width: int) -> str:
    """``value`` cut to ``width`` characters, ending in the visible cut marker when cut."""
    if len(value) <= width:
        return value
    return value[: max(0, width - len(CUT_MARKER))] + CUT_MARKER


def clean_json(value: Any, depth: int = 0) -> Any:
    """A JSON value (feature values) with every string cleaned; non-finite floats -> None."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v, depth + 1) for v in value]
    return value


def bound_response_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a response row that every supported database stores as it is.

    Idempotent: a row that already passed comes out equal. Keys that are not columns of
    ``responses`` are left alone.
    """
    out = dict(row)
    for name, value in row.items():
        if value is None:
            continue
        if name in _STRING_WIDTHS:
            if not isinstance(value, str):
                value = str(value)
            value = clean_text(value)
            width = _STRING_WIDTHS[name]
            out[name] = cut(value, width) if width is not None else value
        elif name in _INT_COLUMNS and name not in ("sample_index",):
            if isinstance(value, bool) or not isinstance(value, int):
                out[name] = None if name != "attempts" else 1
            else:
                out[name] = max(0, min(INT_MAX, value))
        elif name in _FLOAT_COLUMNS:
            try:
                f = float(value)
            except (TypeError, ValueError, OverflowError):
                f = math.nan
            out[name] = f if math.isfinite(f) else None
    return out
