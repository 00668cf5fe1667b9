"""SQL helpers every part of Store shares: the one insert helper, and the translation of
SQLAlchemy's exceptions into the StorageError tree of ``drift_monitor.errors``
(StorageUnavailable when another attempt may succeed, StatementRejected when it cannot).
SQLAlchemy's exceptions never leave the storage package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from drift_monitor.errors import StatementRejected, StorageError, StorageUnavailable


def insert(bind: Engine | Connection, table: Any) -> Any:
    """An INSERT for ``table`` in the bind's dialect, so that ``on_conflict_do_nothing`` and
    ``returning`` work on SQLite and PostgreSQL alike (the one insert helper of the package)."""
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def db_error_reason(exc: BaseException) -> str:
    """The first line of a database error: the driver's message without the SQL statement,
    its parameters (which may hold an answer's text) or a password."""
    orig = getattr(exc, "orig", None) or exc
    line = (str(orig).strip().splitlines() or [""])[0][:300]
    return f"{type(orig).__name__}: {line}"


def transient(exc: BaseException) -> bool:
    """True when another attempt may succeed: the database is away, the connection dropped,
    a lock or a read-only file (OperationalError), or the pool saw the connection die."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated))


def translate(exc: SQLAlchemyError) -> StorageError:
    """The StorageError for one of SQLAlchemy's: one line, no SQL, parameters or password."""
    reason = db_error_reason(exc)
    if transient(exc):
        return StorageUnavailable(reason)
    return StatementRejected(reason)


def as_storage_error(exc: BaseException) -> StorageError | None:
    """``exc`` translated when it is one of SQLAlchemy's, else None."""
    return translate(exc) if isinstance(exc, SQLAlchemyError) else None


@contextmanager
def database_errors() -> Iterator[None]:
    """Run the block with SQLAlchemy's exceptions translated (see :func:`translate`)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise translate(exc) from None
