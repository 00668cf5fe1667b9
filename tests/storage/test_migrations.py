"""The schema exists only through Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from drift_monitor.errors import StorageError
from drift_monitor.storage import engine as eng
from drift_monitor.storage.tables import Base

EXPECTED_TABLES = {"targets", "probe_versions", "runs", "responses", "baselines",
                   "baseline_runs"}


def revisions() -> list[str]:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(eng.migrations_dir()))
    script = ScriptDirectory.from_config(cfg)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_migrating_an_empty_database_creates_every_table(db_url: str) -> None:
    engine = eng.make_engine(db_url)
    eng.ensure_schema(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    assert eng.current_revision(engine) == eng.head_revision(engine)
    engine.dispose()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations and tables.py agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = eng.make_engine(db_url)
    eng.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


@pytest.mark.parametrize("start", revisions())
def test_upgrade_from_every_earlier_revision(db_url: str, start: str) -> None:
    engine = eng.make_engine(db_url)
    eng.upgrade(engine, start)
    assert eng.current_revision(engine) == start
    eng.upgrade(engine)
    assert eng.current_revision(engine) == eng.head_revision(engine)
    engine.dispose()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    from alembic import command

    engine = eng.make_engine(db_url)
    eng.upgrade(engine)
    cfg = eng._alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert not (EXPECTED_TABLES & set(inspect(engine).get_table_names()))
    eng.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = eng.make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    eng.ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_a_foreign_database_is_never_touched(db_url: str) -> None:
    engine = eng.make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY)"))
    with pytest.raises(StorageError, match="no drift-monitor schema version"):
        eng.ensure_schema(engine)
    assert set(inspect(engine).get_table_names()) == {"customers"}
    engine.dispose()


def test_a_schema_from_the_future_is_refused(db_url: str) -> None:
    engine = eng.make_engine(db_url)
    eng.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(StorageError, match="does not know"):
        eng.ensure_schema(engine)
    engine.dispose()


def test_unreachable_database_hides_the_password() -> None:
    engine = eng.make_engine("postgresql://alice:hunter2pass@127.0.0.1:1/nodb")
    with pytest.raises(StorageError) as e:
        eng.ensure_schema(engine)
    assert "hunter2pass" not in str(e.value)
    assert "alice:***@127.0.0.1:1/nodb" in str(e.value)


def test_not_a_url() -> None:
    with pytest.raises(StorageError, match="is not a database URL"):
        eng.make_engine("definitely not a url")
