"""Retention (`retention: {responses: 90d, runs: 400d}`): `db prune [--dry-run]` and the
daemon delete old data in small batches and never touch a baseline's runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from drift_monitor.app.retention import prune
from drift_monitor.cli import main
from drift_monitor.config import load_config
from drift_monitor.errors import ConfigError
from drift_monitor.storage.engine import make_engine
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Response, ResponseFeatures, Run
from tests.daemon.conftest import write_project

RETENTION = "retention: {responses: 90d, runs: 400d}\n"


def cli(config: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["--config", str(config), *args])
    return res.exit_code, res.output


def age(store: Store, run_id: int, days: float) -> None:
    """Make a run and its responses ``days`` old."""
    then = datetime.now(UTC) - timedelta(days=days)
    with store.engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == run_id).values(started_at=then,
                                                                finished_at=then))
        conn.execute(update(Response).where(Response.run_id == run_id)
                     .values(created_at=then))


def counts(store: Store) -> tuple[list[int], int, int]:
    with store.engine.connect() as conn:
        runs = list(conn.execute(select(Run.id).order_by(Run.id)).scalars())
        responses = conn.execute(select(func.count()).select_from(Response)).scalar_one()
        features = conn.execute(select(func.count()).select_from(ResponseFeatures)).scalar_one()
    return runs, int(responses), int(features)


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Iterator[tuple[Path, Store]]:
    config = write_project(tmp_path, db_url, samples=2, extra=RETENTION)
    for _ in range(6):
        assert cli(config, "probe")[0] == 0
    store = Store(make_engine(db_url))
    tid = store.target_id("alpha")
    assert tid is not None
    store.pin_baseline(tid, [1, 2], reason="set")  # old, and held by a baseline
    for run_id, days in ((1, 500), (2, 500), (3, 500), (4, 120), (5, 10)):
        age(store, run_id, days)
    yield config, store
    store.engine.dispose()


def test_prune_keeps_baseline_runs_and_recent_data(project: tuple[Path, Store]) -> None:
    config, store = project
    assert counts(store) == ([1, 2, 3, 4, 5, 6], 24, 24)
    code, out = cli(config, "db", "prune", "--dry-run")
    assert code == 0 and "would delete 8 responses and 1 runs" in out, out
    assert "2 old runs kept because a baseline holds them" in out
    assert counts(store)[1] == 24  # a dry run deletes nothing
    code, out = cli(config, "db", "prune", "--json")
    assert json.loads(out)["runs"] == 1 and json.loads(out)["responses"] == 8
    runs, responses, features = counts(store)
    # run 3 (500 days, no baseline) is gone with its responses; run 4 (120 days) keeps the
    # run row but loses its responses; the baseline's runs 1 and 2 keep everything
    assert runs == [1, 2, 4, 5, 6] and responses == 16 and features == 16
    assert {r["run_id"] for r in store.load_responses([1, 2, 4, 5, 6])} == {1, 2, 5, 6}
    assert cli(config, "db", "prune", "--json")[1].count('"runs": 0') == 1  # idempotent


def test_prune_works_in_small_batches_and_max_batches_bounds_one_pass(
        project: tuple[Path, Store]) -> None:
    config_path, store = project
    config = load_config(config_path)
    first = store.prune(responses_before=datetime.now(UTC) - timedelta(days=90),
                        runs_before=None, batch=3, max_batches=1)
    assert first.responses == 3
    rest = prune(config, store)
    assert rest.responses == 8 - 3 + 0 and rest.runs == 1


def test_no_retention_configured_prunes_nothing(tmp_path: Path) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    assert cli(config, "probe")[0] == 0
    code, out = cli(config, "db", "prune")
    assert code == 0 and "no retention configured" in out


@pytest.mark.parametrize(("retention", "message"), [
    ("retention: {responses: 1h}\n", "shorter than a day"),
    ("retention: {responses: 90d, runs: 30d}\n", "at least as long as responses"),
    ("retention: {responses: forever}\n", "not a duration"),
    ("retention: {reponses: 90d}\n", "reponses"),
])
def test_bad_retention_is_a_config_error_naming_the_key(tmp_path: Path, retention: str,
                                                        message: str) -> None:
    config = write_project(tmp_path, "sqlite:///x.db", extra=retention)
    with pytest.raises(ConfigError, match=message) as exc:
        load_config(config)
    assert "retention" in str(exc.value)
