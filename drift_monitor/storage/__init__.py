"""Storage: engine and migrations (engine.py), typed tables (tables.py), queries (queries.py)."""
