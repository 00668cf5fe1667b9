"""The reliability contract of DESIGN.md, one entry per promise, each naming the tests that
hold it to account. ``test_every_promise_names_tests_that_exist`` keeps the map honest: a
renamed or deleted test breaks it. Promise 1's own end-to-end test lives here.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from drift_monitor.storage.tables import Response
from tests.fakes.llm_servers import FakeLLMServer
from tests.fakes.project import API_KEY, KEY_ENV, write_project

TESTS = Path(__file__).resolve().parent

# promise -> (what it says, the tests that check it as "file::test")
PROMISES: dict[int, tuple[str, list[str]]] = {
    1: ("a response is committed before anything analyses it; a crash loses at most the calls "
        "in flight", [
            "test_reliability_contract.py::"
            "test_kill_9_mid_round_loses_only_the_calls_in_flight",
            "storage/test_storage_faults.py::"
            "test_a_postgresql_outage_mid_round_delays_writes_but_loses_no_answer",
            "storage/test_queries.py::test_response_key_is_idempotent",
            "daemon/test_daemon_faults.py::"
            "test_the_database_cut_off_mid_round_delays_the_writes_and_loses_nothing",
        ]),
    2: ("failed calls are stored with a kind and never counted as behaviour samples", [
        "providers/test_faults.py::"
        "test_every_fault_is_stored_with_its_kind_and_attempts_and_the_key_leaks_nowhere",
        "hostile/test_hostile_bodies.py::"
        "test_hostile_answers_are_stored_normalised_or_as_named_failures_and_lose_nothing_else",
        "storage/test_storage_faults.py::"
        "test_a_row_the_database_refuses_is_stored_as_malformed_and_the_batch_survives",
    ]),
    3: ("429/5xx/529/timeouts retried with capped backoff honouring Retry-After; quota, auth "
        "and other 4xx not", [
            "providers/test_limits.py::test_retry_after_is_honoured_with_jitter_and_refused_over_the_cap",
            "providers/test_limits.py::test_permanent_errors_and_the_last_attempt_are_not_retried",
            "providers/test_faults.py::"
            "test_every_fault_is_stored_with_its_kind_and_attempts_and_the_key_leaks_nowhere",
        ]),
    4: ("alerts go through the outbox: an outage delays, never loses; a permanent error is "
        "visible", [
            "alerting/channels/slack/test_slack_delivery.py::test_slack_outage_delays_but_never_loses_the_alert",
            "alerting/channels/slack/test_slack_delivery.py::"
            "test_permanent_errors_are_marked_failed_and_never_retried",
            "alerting/test_incidents.py::"
            "test_a_failed_check_transaction_leaves_no_incident_and_no_notification",
            "alerting/channels/test_channel_secrets.py::"
            "test_a_malformed_webhook_url_fails_permanently_without_quoting_it",
        ]),
    5: ("an incident notifies once when it opens, again after repeat_interval or a change, "
        "once when it resolves", [
            "alerting/test_incidents.py::"
            "test_incident_notifies_when_it_opens_then_only_after_repeat_interval",
            "alerting/test_incidents.py::"
            "test_a_new_suite_or_a_higher_severity_is_a_change_worth_a_message",
            "alerting/test_incidents.py::test_one_clean_check_resolves_and_says_so_once",
        ]),
    6: ("two daemons on one PostgreSQL never probe a slot twice; one carries on if the other "
        "dies", [
            "daemon/test_daemon_ha.py::"
            "test_two_daemons_on_postgresql_run_20_slots_once_each_with_no_gap",
            "daemon/test_daemon_ha.py::"
            "test_sigkill_of_one_daemon_the_other_carries_on_within_two_ticks",
            "daemon/test_daemon_faults.py::"
            "test_a_daemon_killed_mid_round_leaves_an_abandoned_run_no_baseline_takes",
        ]),
    7: ("after downtime at most one catch-up round; missed slots recorded", [
        "daemon/test_daemon_process.py::"
        "test_restart_after_downtime_runs_one_catch_up_round_and_records_missed_slots",
    ]),
    8: ("SIGTERM finishes in-flight writes and exits cleanly", [
        "daemon/test_daemon_process.py::"
        "test_sigterm_mid_round_exits_0_and_leaves_no_half_written_run",
    ]),
    9: ("bad input gets a clear error and never corrupts stored data", [
        "hostile/test_hostile_bodies.py::"
        "test_hostile_answers_are_stored_normalised_or_as_named_failures_and_lose_nothing_else",
        "hostile/test_hostile_bodies.py::"
        "test_hostile_recorded_answers_of_the_replay_provider_are_normalised",
        "hostile/test_hostile_bodies.py::"
        "test_the_cloud_kinds_store_hostile_answers_normalised_or_as_named_failures",
        "test_input_bounds.py::test_validate_refuses_configs_that_would_crash_run",
        "test_input_bounds.py::test_validate_refuses_probes_that_would_crash_a_round",
        "storage/test_storage_faults.py::"
        "test_check_on_a_read_only_database_exits_2_with_one_line",
        "storage/test_storage_faults.py::"
        "test_db_upgrade_on_a_database_from_a_newer_version_says_so",
        "storage/test_stale_runs.py::"
        "test_a_kill_9_probe_leaves_a_run_the_next_command_finishes_as_abandoned",
        "test_config.py::test_unknown_key_is_an_error_with_its_line",
    ]),
    10: ("secrets never appear in the database, logs, reports or alerts", [
        "alerting/channels/slack/test_slack_delivery.py::test_no_secret_reaches_the_database_logs_or_messages",
        "daemon/test_slots_and_logs.py::test_log_lines_are_one_line_and_never_hold_a_secret",
        "test_input_bounds.py::test_cli_debug_logs_never_show_a_key_embedded_in_base_url",
        "alerting/channels/test_channel_secrets.py::"
        "test_a_malformed_webhook_url_fails_permanently_without_quoting_it",
        "test_config.py::test_a_pasted_key_value_is_never_echoed",
    ]),
    11: ("an outage is a finding: all-failing calls page (operational) and resolve; /healthz "
         "and /metrics show it", [
             "app/test_outage.py::"
             "test_an_expired_key_pages_within_three_rounds_and_resolves_when_fixed",
             "app/test_outage.py::"
             "test_two_failed_rounds_make_a_critical_confirmed_operational_finding",
             "app/test_checks.py::test_a_window_of_failed_calls_is_operational",
             "daemon/test_daemon_ha.py::"
             "test_healthz_turns_503_when_the_database_goes_away_and_200_when_it_returns",
             "daemon/test_daemon_process.py::"
             "test_metrics_parse_and_count_calls_tokens_cost_and_outbox",
         ]),
    12: ("input is bounded: alias bombs, huge files, pathological regexes refused", [
        "test_input_bounds.py::test_an_alias_bomb_at_the_top_of_the_config_is_refused",
        "test_input_bounds.py::test_an_alias_bomb_under_params_is_refused",
        "test_input_bounds.py::"
        "test_an_alias_bomb_in_a_probe_file_and_in_a_json_schema_is_refused",
        "test_input_bounds.py::test_a_recursive_alias_and_an_oversized_file_are_refused",
        "test_input_bounds.py::test_a_recording_that_is_not_a_regular_file_is_refused",
        "test_input_bounds.py::test_a_pathological_probe_regex_cannot_freeze_probe",
        "daemon/test_daemon_faults.py::"
        "test_a_pathological_probe_regex_leaves_healthz_and_sigterm_working",
    ]),
    # 13 (the console escapes model output and requires a token beyond loopback) is the web
    # console's (issue 16): its tests join this map when the console lands.
}


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")}


def test_every_promise_names_tests_that_exist() -> None:
    assert sorted(PROMISES) == list(range(1, 13))
    for number, (_, tests) in PROMISES.items():
        assert tests, f"promise {number} has no test"
        for ref in tests:
            file, _, name = ref.partition("::")
            path = TESTS / file
            assert path.exists(), f"promise {number}: {file} is missing"
            assert name in _test_names(path), f"promise {number}: {ref} does not exist"


@pytest.mark.slow  # kill -9 of a probe subprocess
def test_kill_9_mid_round_loses_only_the_calls_in_flight(
        db_url: str, tmp_path: Path, hostile_env: None) -> None:
    """Answers are committed as they arrive: after ``kill -9`` mid-round every answer the
    server had sent is in the database; only the calls still in flight are lost."""
    fast = [f"fast-{i}" for i in range(5)]
    slow = [f"slow-{i}" for i in range(3)]
    with FakeLLMServer("openai") as server:
        for p in slow:
            server.script(p, "slow")  # hangs until the client goes away
        project = write_project(tmp_path, provider="openai", db_url=db_url,
                                base_url=server.base_url, prompts=[*slow, *fast])
        proc = subprocess.Popen(
            [sys.executable, "-m", "drift_monitor", "--config",
             str(project / "drift-monitor.yaml"), "probe"],
            env={**os.environ, KEY_ENV: API_KEY}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        engine = create_engine(db_url)
        try:
            deadline = time.monotonic() + 60
            stored = 0
            while time.monotonic() < deadline:
                try:
                    with engine.connect() as conn:
                        stored = conn.execute(select(func.count()).select_from(Response)
                                              ).scalar_one()
                except Exception:  # tables not migrated yet
                    stored = 0
                if stored >= len(fast):
                    break
                time.sleep(0.05)
            assert stored == len(fast), "answers were not committed as they arrived"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        with engine.connect() as conn:
            rows = conn.execute(select(Response.ok)).all()
        engine.dispose()
    assert len(rows) == len(fast) and all(ok for (ok,) in rows)
