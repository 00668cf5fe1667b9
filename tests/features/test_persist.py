"""Features at rest: stored with each response, and recomputed when the version changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, update

from drift_monitor.cli import main
from drift_monitor.features import FEATURE_SET_VERSION, compute_features
from drift_monitor.storage.engine import normalise_url
from drift_monitor.storage.tables import Response, ResponseFeatures


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", db_url)
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    cfg = tmp_path / "drift-monitor.yaml"
    cfg.write_text(cfg.read_text().replace(
        "[gpt35-coding, gpt35-primes, gpt35-sensitive, gpt35-opinions]", "[gpt35-primes]"))
    r = CliRunner().invoke(main, ["--config", str(cfg), "probe"])
    assert r.exit_code == 0, r.output
    return cfg, db_url


def test_features_are_stored_with_each_response(project: tuple[Path, str]) -> None:
    _, url = project
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        rows = conn.execute(select(Response.text, ResponseFeatures.values,
                                   ResponseFeatures.feature_set_version)
                            .join(ResponseFeatures,
                                  ResponseFeatures.response_id == Response.id)).all()
    engine.dispose()
    assert len(rows) == 200
    assert {r.feature_set_version for r in rows} == {FEATURE_SET_VERSION}
    expect = {"choice": {"pattern": r"\[(Yes|No)\]"}}
    text, values, _ = rows[0]
    # what was stored is what the features code computes for that text and probe
    assert values["answer"] == compute_features(text, expect)["answer"]
    assert values["length_chars"] == len(text)


def test_recompute_rewrites_features_of_another_version(project: tuple[Path, str]) -> None:
    cfg, url = project
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(update(ResponseFeatures).values(feature_set_version="0",
                                                     values={"stale": True}))
    r = CliRunner().invoke(main, ["--config", str(cfg), "features", "recompute"])
    assert r.exit_code == 0, r.output
    assert f"recomputed features for 200 responses (feature set {FEATURE_SET_VERSION})" \
        in r.output
    with engine.connect() as conn:
        stale = conn.execute(select(func.count()).select_from(ResponseFeatures)
                             .where(ResponseFeatures.feature_set_version != FEATURE_SET_VERSION)
                             ).scalar_one()
        sample = conn.execute(select(ResponseFeatures.values).limit(1)).scalar_one()
    engine.dispose()
    assert stale == 0 and "stale" not in sample and "refusal" in sample
    again = CliRunner().invoke(main, ["--config", str(cfg), "features", "recompute"])
    assert "recomputed features for 0 responses" in again.output
