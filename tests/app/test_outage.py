"""Outage as drift (issue 14, finding 1): a target whose calls keep failing pages as an
operational incident within three rounds, naming the error kind and the provider's (redacted)
message, and resolves when calls succeed again; auth, quota and not-found errors stop a round
after a few identical failures."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from drift_monitor.alerting.channels.slack.blocks import alert_blocks
from drift_monitor.alerting.incidents import check_saver
from drift_monitor.alerting.render import render_payload
from drift_monitor.app.stored import finding_row as _finding_row
from drift_monitor.cli import main
from drift_monitor.detection.outage import RoundOutcome, outage_finding, recovered
from drift_monitor.detection.result import CheckResult
from drift_monitor.runner import STOP_AFTER_IDENTICAL
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, finding, make_config, record_check
from tests.fakes.llm_servers import FakeLLMServer


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield Store(engine)
    engine.dispose()

KEY = "sk-outage-test-0123456789abcdefXYZ"
PROBES = "suite: s\nprobes:\n" + "".join(
    f"  - id: p{i}\n    prompt: question number {i}?\n" for i in range(8))


def r(run_id: int, sent: int, failed: int, kind: str | None = "auth") -> RoundOutcome:
    return RoundOutcome(run_id=run_id, sent=sent, failed=failed,
                        kinds={kind: failed} if kind and failed else {},
                        error_kind=kind if failed else None,
                        http_status=401 if failed else None,
                        message="Incorrect API key provided: ***" if failed else None)


# --- the pure rule --------------------------------------------------------------------------

def test_two_failed_rounds_make_a_critical_confirmed_operational_finding() -> None:
    f = outage_finding([r(9, 40, 40), r(8, 40, 40), r(7, 40, 0)], rounds_needed=2,
                       error_rate=0.5)
    assert f is not None
    assert (f.dimension, f.metric, f.severity, f.confirmed, f.confirmed_by) == (
        "operational", "outage", "critical", True, "consecutive_rounds")
    assert "auth (HTTP 401)" in f.summary and "Incorrect API key provided: ***" in f.summary
    assert f.details["runs"] == [9, 8] and f.details["failures_by_kind"] == {"auth": 80}


def test_the_provider_message_is_read_out_of_a_json_error_body() -> None:
    from drift_monitor.detection.outage import provider_message

    body = ('{"error": {"message": "Incorrect API key provided: ***.", "type": '
            '"invalid_request_error", "code": "invalid_api_key"}}')
    assert provider_message(body) == "Incorrect API key provided: ***."
    assert provider_message('{"type": "error", "error": {"type": "authentication_error", '
                            '"message": "invalid x-api-key"}}') == "invalid x-api-key"
    assert provider_message('[{"error": {"code": 404, "message": "model not found"}}]') == \
        "model not found"
    assert provider_message("upstream\nconnect error") == "upstream connect error"
    assert provider_message(None) is None


def test_one_failed_round_or_a_good_round_between_is_not_an_outage() -> None:
    assert outage_finding([r(9, 40, 40), r(8, 40, 0)], rounds_needed=2, error_rate=0.5) is None
    assert outage_finding([r(9, 40, 40)], rounds_needed=2, error_rate=0.5) is None
    assert outage_finding([r(9, 40, 10), r(8, 40, 10)], rounds_needed=2,
                          error_rate=0.5) is None


def test_a_high_error_rate_is_an_outage_at_warning_and_rounds_that_sent_nothing_are_skipped(
        ) -> None:
    budget_only = RoundOutcome(run_id=10, sent=0, failed=0)
    f = outage_finding([budget_only, r(9, 40, 30, "server_error"), r(8, 40, 25, "timeout")],
                       rounds_needed=2, error_rate=0.5)
    assert f is not None and f.severity == "warning"
    assert recovered([budget_only, r(9, 40, 0)], error_rate=0.5)
    assert not recovered([r(9, 40, 40)], error_rate=0.5)


# --- end to end through the CLI, against a loopback OpenAI-compatible server ---------------

@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as s:
        yield s


def project(tmp_path: Path, db_url: str, server: FakeLLMServer) -> Path:
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "s.yaml").write_text(PROBES)
    config = tmp_path / "drift-monitor.yaml"
    config.write_text(
        f"database: {db_url}\ntargets:\n  - name: bot\n    provider: openai\n"
        f"    model: gpt-4o\n    base_url: {server.base_url}\n    api_key_env: TEST_OUTAGE_KEY\n"
        "    suites: [s]\n    samples: 2\n    limits: {concurrency: 1, max_attempts: 1}\n"
        "baseline: {min_runs: 2}\n")
    return config


def cli(config: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["--config", str(config), *args])
    return res.exit_code, res.output


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_an_expired_key_pages_within_three_rounds_and_resolves_when_fixed(
        tmp_path: Path, db_url: str, server: FakeLLMServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OUTAGE_KEY", KEY)
    config = project(tmp_path, db_url, server)
    for _ in range(3):
        assert cli(config, "probe")[0] == 0
    assert cli(config, "check")[0] == 0

    server.default = "auth"  # the key expired: every call is a 401
    pages = []
    for round_no in range(1, 4):
        before = len(server.seen)
        code, out = cli(config, "probe")
        assert code == 1, out  # every call of the round failed
        # the provider's own message is shown, redacted
        assert "most common error: auth (HTTP 401): Incorrect API key provided: ***" in out
        assert KEY not in out
        # the round stopped after a few identical 401s instead of sending all 16 calls
        assert len(server.seen) - before == STOP_AFTER_IDENTICAL
        code, out = cli(config, "check", "--json")
        checks = json.loads(out)["checks"]
        outage = [f for c in checks for f in c["findings"] if f["metric"] == "outage"]
        if outage:
            pages.append(round_no)
            assert code == 1 and checks[0]["drift"] is True
            assert outage[0]["dimension"] == "operational"
            assert outage[0]["severity"] == "critical"
            assert "auth (HTTP 401)" in outage[0]["summary"]
            assert "Incorrect API key provided: ***" in outage[0]["summary"]
            assert KEY not in out
            # the same failing rounds checked again: the stored result, nothing new stored
            code, again = cli(config, "check", "--json")
            (c,) = json.loads(again)["checks"]
            assert code == 1 and any("already checked" in n for n in c["notes"])
    assert pages and pages[0] <= 3

    code, out = cli(config, "notify")
    assert code == 0, out
    assert "operational" in out and "auth (HTTP 401)" in out and "outage" in out
    assert KEY not in out

    store = Store(make_engine(db_url))
    (incident,) = [i for i in store.incidents(status="open")]
    assert incident.dimension == "operational"
    run = store.runs("bot", limit=1)[0]
    assert run.status == "failed" and run.failures_by_kind == {"auth": 16}

    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM findings WHERE metric = 'outage'"))
        assert stored.scalar_one() == len(pages)  # one per new failing round, not per check

    server.default = "ok"  # a new key
    assert cli(config, "probe")[0] == 0
    code, out = cli(config, "check", "--json")
    (c,) = json.loads(out)["checks"]
    # the recovered round is checked for drift as usual, not taken for an old window
    assert not any("already checked" in n for n in c["notes"]), c
    assert c["window"]["runs"] == [store.runs("bot", limit=1)[0].id]
    assert store.incidents(status="open") == [], c["findings"]
    (closed,) = store.incidents()
    assert closed.status == "resolved"
    code, out = cli(config, "notify")
    assert "RESOLVED on bot: operational" in out
    store.engine.dispose()


def test_not_found_and_quota_stop_the_round_too(tmp_path: Path, server: FakeLLMServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OUTAGE_KEY", KEY)
    config = project(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", server)
    for fault in ("not_found", "quota"):
        server.default = fault
        before = len(server.seen)
        code, out = cli(config, "probe")
        assert code == 1 and len(server.seen) - before == STOP_AFTER_IDENTICAL, out
    # a server error is not the same for every call: the round sends everything
    server.default = "server_error"
    before = len(server.seen)
    assert cli(config, "probe")[0] == 1
    assert len(server.seen) - before == 16


def test_an_outage_check_never_resolves_or_repeats_another_dimensions_incident(
        tmp_path: Path, store: Store) -> None:
    """The outage check measures only operational: an open formatting incident stays open."""
    clock = Clock()
    config = make_config(tmp_path)
    record_check(config, store, [finding()], clock)

    f = outage_finding([r(9, 40, 40), r(8, 40, 40)], rounds_needed=2, error_rate=0.5)
    assert f is not None
    tid = store.upsert_target("support-bot", "replay", "gpt-3.5-turbo")
    result = CheckResult(target="support-bot", findings=[f], drift=True, window_runs=[8, 9],
                         scope=("operational",))
    row = {"target_id": tid, "baseline_id": None, "status": "drift", "drift": True,
           "window_run_ids": [8, 9], "baseline_run_ids": [], "baseline_responses": 0,
           "window_responses": 0, "confirmation_run_id": None, "model_string_changed": False,
           "tests_run": 0, "notes": []}
    clock.advance(minutes=5)
    check_saver(config, store, now=clock)(row, [_finding_row(f)], result)
    open_dims = sorted(i.dimension for i in store.incidents(status="open"))
    assert open_dims == ["formatting", "operational"]
    alert = store.notifications(limit=1)[0].payload
    assert alert["dimensions"] == ["operational"] and alert["outage"] is True
    text = render_payload(alert)
    assert "an outage, not a behaviour change" in text
    assert re.search(r"n/a -> 100%", text)
    assert "baseline accept" not in text  # an outage is fixed, not accepted
    blocks = json.dumps(alert_blocks(alert))
    assert "resolves once calls succeed" in blocks and "baseline accept" not in blocks
