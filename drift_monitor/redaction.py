"""Keeping secrets out of stored text, errors and log lines: the one redaction of the package.

:func:`redact` replaces every known secret value (an API key, a webhook URL, a bot token, a
password) with ``***``. :class:`Redactor` holds a set of secrets that grows as channels and
providers are built, and is also the logging filter that applies it to a record's message, its
arguments, its extra fields and its traceback (reliability contract 10: a secret never reaches a
log line, even when a library puts it in an exception message).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import overload

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter values would match ordinary text; they are never redacted

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message",
                                                                               "asctime"}


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The ``extra={...}`` fields of a log record."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _usable(secrets: Iterable[str | None]) -> list[str]:
    # longest first, so a secret that contains another is replaced whole
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len,
                  reverse=True)


@overload
def redact(text: str, secrets: Iterable[str | None]) -> str: ...
@overload
def redact(text: None, secrets: Iterable[str | None]) -> None: ...
def redact(text: str | None, secrets: Iterable[str | None]) -> str | None:
    """``text`` with every secret of at least 4 characters replaced by ``***`` (None stays
    None). Redact before cutting a text short: a cut through a secret leaves a prefix that no
    longer matches."""
    if text is None:
        return None
    for s in _usable(secrets):
        text = text.replace(s, MASK)
    return text


class Redactor(logging.Filter):
    """A set of secrets to redact, and the logging filter that redacts them from records."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set(_usable(secrets))

    def add(self, *values: str | None) -> None:
        """More values that must never appear in a log line or an error (shorter than 4
        characters: ignored)."""
        self.secrets.update(_usable(values))

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        for k, v in record_fields(record).items():
            if isinstance(v, str):
                setattr(record, k, self.redact(v))
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
        return True
