"""Storage, sealed behind ``Store`` (queries.py, with its parts in *_queries.py).

``engine.py`` makes engines, migrates and holds the migration lock; ``tables.py`` is the schema
(changed only by Alembic migrations); ``rows.py`` the typed rows Store returns;
``transaction.py`` the unit of work (``with store.transaction() as tx:``); ``sql.py`` the one
insert helper and the translation of SQLAlchemy's errors into ``drift_monitor.errors``'
StorageError tree. Nothing outside this package imports SQLAlchemy.
"""
