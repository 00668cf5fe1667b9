"""Fixtures for the console: a store with an incident whose evidence is hostile model output,
and Starlette test clients with and without a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from drift_monitor.config import Config, load_config
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from drift_monitor.web.app import create_app
from tests.alerting.conftest import Clock, finding, make_config, record_check

XSS_SCRIPT = "<script>window.__xss = 1; alert('xss')</script>"
XSS_IMG = "<img src=x onerror=\"window.__xss = 2\">"
XSS_LINK = "<a href=\"javascript:window.__xss = 3\">click me</a>"
HOSTILE = f"Sure! {XSS_SCRIPT} then {XSS_IMG} and {XSS_LINK}"
TOKEN = "s3cret-console-token-0123456789"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def with_server(config: Config, server: str) -> Config:
    config.path.write_text(config.path.read_text() + f"server: {server}\n")
    return load_config(config.path)


@pytest.fixture
def hostile(config: Config, store: Store, clock: Clock) -> int:
    """An open incident whose summary and before/after examples are hostile model output;
    returns its id."""
    f = finding(examples=[{"probe": "coding/two-sum@abc", "before": "class Solution: pass",
                           "after": HOSTILE}])
    object.__setattr__(f, "summary", f"answers now say {XSS_SCRIPT}")
    record_check(config, store, [f], clock)
    (incident,) = store.incidents()
    return int(incident.id)


Client = Callable[..., TestClient]


@pytest.fixture
def client(config: Config, store: Store, clock: Clock) -> Client:
    def make(*, token: str | None = None, actions: bool = True, cfg: Config | None = None,
             **kw: Any) -> TestClient:
        app = create_app(cfg or config, store, actions=actions, token=token, now=clock, **kw)
        return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)

    return make


def csrf_of(c: TestClient, path: str = "/silences") -> str:
    """Load a page so the CSRF cookie is set; returns it."""
    c.get(path)
    value = c.cookies.get("dm_csrf")
    assert value
    return str(value)
