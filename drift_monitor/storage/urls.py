"""Database URLs without SQLAlchemy: the password and a printable form.

``validate`` and the log filter need these and nothing else of the database, so they must not
pay SQLAlchemy's ~0.3 s import. The syntax is SQLAlchemy's ``dialect+driver://user:password@host
:port/database?query`` (its own parser, ``sqlalchemy.engine.make_url``, reads the same parts).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# sqlalchemy.engine.url._parse_url's pattern, for the parts used here
_URL = re.compile(r"""
    (?P<name>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?P<rest>.*)
""", re.X | re.S)


def url_password(url: str) -> str | None:
    """The URL's password, percent-decoded; None when it has none or is not a URL."""
    m = _URL.match(url)
    if m is None or m.group("password") is None:
        return None
    return unquote(m.group("password")) or None


def safe_url(url: str) -> str:
    """The URL with any password masked (``***``), for messages and logs."""
    m = _URL.match(url)
    if m is None:
        return "<unparseable database URL>"
    if m.group("password") is None:
        return url
    return f"{m.group('name')}://{m.group('username')}:***@{m.group('rest')}"
