"""Database engines, migrations, the migration lock and the translation of driver errors.

SQLite runs in WAL mode with foreign keys on; PostgreSQL goes through psycopg 3. The schema is
created and changed only by the Alembic migrations; commands that write call
:func:`ensure_schema`, which migrates an empty database and refuses one that is behind.

SQLAlchemy's exceptions never leave the storage package: ``sql.database_errors`` turns them
into the StorageError tree of ``drift_monitor.errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
)

from drift_monitor.errors import (
    SchemaError,
    StorageError,
    StorageUnavailable,
)
from drift_monitor.storage.queries import Store
from drift_monitor.storage.sql import database_errors
from drift_monitor.storage.urls import safe_url, url_password

MIGRATION_LOCK_KEY = 0x6472696674  # "drift": a PostgreSQL advisory lock key of our own

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The Alembic scripts: inside the installed package, or ``migrations/`` in a checkout."""
    for candidate in (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise StorageError("the Alembic migrations are missing from this installation")


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _scrub(message: str, url: str) -> str:
    password = url_password(url)
    if password:
        message = message.replace(str(password), "***")
    return message


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. Raises StorageError (URL without password) if it is unusable."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"'{safe_url(url)}' is not a database URL (expected "
                           "sqlite:///path.db or postgresql+psycopg://user@host/db)") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(url, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            kwargs.setdefault("pool_pre_ping", True)
            kwargs.setdefault("connect_args", {"connect_timeout": 10})
            engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        hint = " (install the postgres extra: pip install 'drift-monitor[postgres]')" \
            if parsed.get_backend_name() == "postgresql" else ""
        raise StorageError(f"no driver for {safe_url(url)}: {exc}{hint}") from None
    return engine


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the migration lock for the block: daemons started together on an empty
    PostgreSQL database would race to migrate it. A no-op on SQLite (one writer anyway)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with database_errors(), engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()


def check_connection(engine: Engine) -> None:
    """Raise StorageUnavailable naming the URL (without password) if the database is
    unreachable."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect():
            pass
    except (OperationalError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0:2]
        raise StorageUnavailable(_scrub(' '.join(reason), url), url=safe_url(url)) from None


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url",
                        engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision(engine: Engine) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _known_revision(engine: Engine, revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(_alembic_config(engine))
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _newer_revision_message(current: str) -> str:
    return (f"the database is at schema revision {current}, which this version of "
            "drift-monitor does not know (is a newer version writing to it?); nothing was "
            "changed")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Raises StorageError if unreachable."""
    from alembic import command

    check_connection(engine)
    cfg = _alembic_config(engine)
    current = current_revision(engine)
    if current is not None and not _known_revision(engine, current):
        raise SchemaError(_newer_revision_message(current), current=current)
    before = current
    # Alembic narrates every step at INFO ("Context impl", "Will assume transactional DDL",
    # one line per revision): one line of our own says what happened
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        with database_errors(), engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        alembic_log.setLevel(level)
    log.info("database migrated", extra={"from_revision": before or "empty",
                                         "to_revision": current_revision(engine)})


def ensure_schema(engine: Engine) -> None:
    """Migrate an empty database; refuse one whose schema is behind or unknown. Then finish
    as ``abandoned`` the runs a dead process left ``running`` (the stale-run sweep: every
    command that writes comes through here)."""
    with database_errors():
        _ensure_schema(engine)

    swept = Store(engine).sweep_stale_runs()
    if swept:
        log.warning("runs %s were left running by a process that died; finished as abandoned",
                    ", ".join(map(str, swept)))


def _ensure_schema(engine: Engine) -> None:
    check_connection(engine)
    current = current_revision(engine)
    head = head_revision(engine)
    if current == head:
        return
    if current is None:
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if tables:
            raise SchemaError(f"the database {safe_url(str(engine.url))} has tables but no "
                              "drift-monitor schema version; refusing to touch it")
        upgrade(engine)
        return
    if not _known_revision(engine, current):
        raise SchemaError(_newer_revision_message(current), current=current, head=head)
    raise SchemaError(f"the database schema is at revision {current}, older than {head}: run "
                      "'drift-monitor db upgrade'", current=current, head=head)
