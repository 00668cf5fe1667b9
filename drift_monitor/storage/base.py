"""What every part of Store shares: the engine and connections whose errors are translated.

Store's methods open their connections through :meth:`StoreBase._read` and
:meth:`StoreBase._write`, so no SQLAlchemy exception reaches a caller (see
``sql.database_errors``); a caller sees only the StorageError tree of ``drift_monitor.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from drift_monitor.storage.sql import database_errors


class StoreBase:
    """The engine, and short transactions on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reading (rolled back at the end)."""
        with database_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction, committed when the block ends without an exception."""
        with database_errors(), self.engine.begin() as conn:
            yield conn
