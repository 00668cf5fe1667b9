"""Routes: first match wins by target glob, dimension and severity, else notify.default; the
resolution of an incident goes where its alert went; the digest takes its own route; and
`validate` names every route problem with its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor.alerting.outbox import deliver
from drift_monitor.alerting.routes import make_router, route_problems, router_for
from drift_monitor.app.digest import build_digest, queue_digest
from drift_monitor.cli import main
from drift_monitor.config import Config, load_config
from drift_monitor.errors import ConfigError
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, finding, record_check
from tests.fakes.receivers import PD_ROUTING_KEY, FakePagerDuty
from tests.fakes.slack import FakeSlack

TARGETS = """\
targets:
  - {name: support-bot, provider: replay, model: m, suites: [coding],
     params: {recording: "builtin:llmdrift-gpt35"}}
  - {name: support-eu, provider: replay, model: m, suites: [coding],
     params: {recording: "builtin:llmdrift-gpt35"}}
  - {name: coder, provider: replay, model: m, suites: [coding],
     params: {recording: "builtin:llmdrift-gpt35"}}
"""
CHANNELS = """\
notify:
  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}
  pagerduty: {routing_key_env: TEST_PD_KEY, api_base_url: "PD_URL"}
"""


def write(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "drift-monitor.yaml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture
def pagerduty() -> FakePagerDuty:
    server = FakePagerDuty().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def env(slack: FakeSlack, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.webhook_url)
    monkeypatch.setenv("TEST_PD_KEY", PD_ROUTING_KEY)
    return CHANNELS.replace("PD_URL", pagerduty.api_base_url)


def routed(tmp_path: Path, channels: str, routes: str, tail: str = "") -> Config:
    return write(tmp_path, TARGETS + channels + routes + tail)


CRITICAL_TO_PAGERDUTY = """\
  routes:
    - {targets: "support-*", min_severity: critical, channel: pagerduty}
  default: slack
"""


def slack_dimensions(slack: FakeSlack) -> list[str]:
    return [m["text"].split("\n")[0] for m in slack.messages]


def test_critical_pages_pagerduty_warning_goes_to_slack_and_resolutions_follow(
        tmp_path: Path, env: str, store: Store, slack: FakeSlack, pagerduty: FakePagerDuty,
        clock: Clock) -> None:
    config = routed(tmp_path, env, CRITICAL_TO_PAGERDUTY)
    record_check(config, store, [
        finding(),  # formatting, critical
        finding(dimension="tone", metric="sentiment_mean", severity="warning")], clock)
    assert deliver(config, store, now=clock).delivered == 2
    channels = {n.channel: n.payload["dimensions"] for n in store.notifications()}
    assert channels == {"pagerduty": ["formatting"], "slack": ["tone"]}
    (page,) = pagerduty.events
    assert page["event_action"] == "trigger" and page["payload"]["severity"] == "critical"
    assert page["payload"]["group"] == "formatting"
    (message,) = slack.messages
    assert message["text"].startswith("DRIFT on support-bot: tone changed (warning)")

    clock.advance(hours=1)
    record_check(config, store, [], clock)  # clean: both incidents resolve
    assert deliver(config, store, now=clock).delivered == 2
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "resolve"]
    assert pagerduty.events[1]["dedup_key"] == page["dedup_key"]
    assert list(pagerduty.incidents.values())[0]["status"] == "resolved"
    assert len(slack.messages) == 2
    assert slack.messages[1]["text"].startswith("RESOLVED on support-bot: tone")


def test_a_resolution_goes_where_the_alert_went_even_after_the_routes_change(
        tmp_path: Path, env: str, sqlite_store: Store, slack: FakeSlack,
        pagerduty: FakePagerDuty, clock: Clock) -> None:
    config = routed(tmp_path, env, CRITICAL_TO_PAGERDUTY)
    record_check(config, sqlite_store, [finding()], clock)
    deliver(config, sqlite_store, now=clock)
    everything_to_slack = routed(tmp_path, env, "  default: slack\n")
    clock.advance(hours=1)
    record_check(everything_to_slack, sqlite_store, [], clock)
    assert deliver(everything_to_slack, sqlite_store, now=clock).delivered == 1
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "resolve"]
    assert slack.messages == []


def test_an_escalated_incident_resolves_everywhere_it_was_announced(
        tmp_path: Path, env: str, sqlite_store: Store, slack: FakeSlack,
        pagerduty: FakePagerDuty, clock: Clock) -> None:
    config = routed(tmp_path, env, CRITICAL_TO_PAGERDUTY)
    record_check(config, sqlite_store, [finding(severity="warning")], clock)
    clock.advance(minutes=10)
    record_check(config, sqlite_store, [finding(severity="critical")], clock)  # changed
    clock.advance(minutes=10)
    record_check(config, sqlite_store, [], clock)
    assert deliver(config, sqlite_store, now=clock).delivered == 4
    (incident,) = sqlite_store.incidents()
    assert incident.notified_channels == ["slack", "pagerduty"]
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "resolve"]
    assert [m["text"].split(" on ")[0] for m in slack.messages] == ["DRIFT", "RESOLVED"]


def test_first_match_wins_by_target_glob_and_dimension(tmp_path: Path, env: str) -> None:
    config = routed(tmp_path, env, """\
  routes:
    - {targets: [coder], dimensions: [answers], channel: pagerduty}
    - {dimensions: [operational, metadata], channel: console}
    - {targets: "support-*", min_severity: critical, channel: pagerduty}
  default: slack
""")
    router = make_router(config)
    assert router.alert_channels("coder", "answers", "warning") == ["pagerduty"]
    assert router.alert_channels("coder", "formatting", "critical") == ["slack"]
    assert router.alert_channels("support-eu", "operational", "critical") == ["console"]
    assert router.alert_channels("support-eu", "tone", "critical") == ["pagerduty"]
    assert router.alert_channels("support-eu", "tone", "warning") == ["slack"]
    assert router.alert_channels("Support-eu", "tone", "critical") == ["slack"], \
        "globs are case-sensitive, like target names"
    assert route_problems(config) == []


def test_without_a_default_every_configured_channel_hears_unrouted_incidents(
        tmp_path: Path, env: str) -> None:
    router = make_router(routed(tmp_path, env, ""))
    assert router.alert_channels("coder", "tone", "warning") == ["slack", "pagerduty"]
    assert router.digest == ("slack",), "PagerDuty does not carry the digest"
    bare = write(tmp_path, TARGETS)
    assert make_router(bare).alert_channels("coder", "tone", "warning") == ["console"]


def test_the_digest_takes_its_own_route(tmp_path: Path, env: str, sqlite_store: Store,
                                        clock: Clock) -> None:
    config = routed(tmp_path, env, CRITICAL_TO_PAGERDUTY, "digest: {channel: console}\n")
    assert router_for(config).digest == ("console",)
    keys = queue_digest(config, sqlite_store, build_digest(config, sqlite_store, now=clock),
                        now=clock)
    assert [k.rsplit("/", 1)[-1] for k in keys] == ["console"]
    assert router_for(routed(tmp_path, env, CRITICAL_TO_PAGERDUTY)).digest == ("slack",)


BROKEN = """\
  routes:
    - {targets: "support-*", channel: pagerduty}
    - {targets: "support-bot", dimensions: [tone], channel: slack}
    - {targets: "nobody-*", channel: slack}
    - {dimensions: [tone], channel: pagerdutty}
    - {min_severity: critical, channel: email}
  default: webhook
digest: {channel: pagerduty}
"""


def test_every_route_problem_is_named_with_its_key_and_line(tmp_path: Path, env: str) -> None:
    config = routed(tmp_path, env, BROKEN)
    lines = [str(p) for p in route_problems(config)]
    base = TARGETS.count("\n") + CHANNELS.count("\n") + 2  # the line of routes.0
    file = str(config.path)
    assert lines == [
        f"{file}:{base + 1}, key 'notify.routes.1': this route can never match: every "
        f"incident it matches is taken first by notify.routes.0 (line {base})",
        f"{file}:{base + 2}, key 'notify.routes.2': this route can never match: its targets "
        "'nobody-*' match no target (targets: support-bot, support-eu, coder)",
        f"{file}:{base + 3}, key 'notify.routes.3.channel': unknown channel 'pagerdutty' "
        "(channels: console, email, pagerduty, slack, webhook)",
        f"{file}:{base + 4}, key 'notify.routes.4.channel': channel 'email' has no settings: "
        "add notify.email",
        f"{file}:{base + 5}, key 'notify.default': channel 'webhook' has no settings: add "
        "notify.webhook",
        f"{file}:{base + 6}, key 'digest.channel': channel 'pagerduty' takes incidents, not "
        "the digest"]
    with pytest.raises(ConfigError, match="unknown channel 'pagerdutty'"):
        make_router(config)  # a check refuses to queue for a channel that cannot deliver


def test_a_route_shadowed_only_partly_is_fine(tmp_path: Path, env: str) -> None:
    config = routed(tmp_path, env, """\
  routes:
    - {targets: "support-*", min_severity: critical, channel: pagerduty}
    - {targets: "support-bot", channel: slack}
""")
    assert route_problems(config) == []


def test_validate_prints_each_problem_on_its_own_line_and_exits_2(
        tmp_path: Path, env: str) -> None:
    config = routed(tmp_path, env, BROKEN)
    result = CliRunner().invoke(main, ["--config", str(config.path), "validate"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 6 and all("key 'notify." in e or "key 'digest." in e for e in errors)


def test_validate_summarises_valid_routes(tmp_path: Path, env: str) -> None:
    import shutil

    config = routed(tmp_path, env, CRITICAL_TO_PAGERDUTY)
    shutil.copytree(Path(__file__).parents[2] / "drift_monitor" / "templates" / "probes",
                    tmp_path / "probes")
    text = config.path.read_text().replace("[coding]", "[gpt35-coding]")
    config.path.write_text(text)
    result = CliRunner().invoke(main, ["--config", str(config.path), "validate"])
    assert result.exit_code == 0, result.output
    assert "notify: 1 routes, default slack, digest to slack" in result.output


E2E = """\
targets:
  - name: gpt35
    provider: replay
    model: gpt-3.5-turbo
    suites: [gpt35-coding]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{snapshot}"}}
notify:
  slack: {{webhook_url_env: E2E_SLACK_WEBHOOK}}
  pagerduty: {{routing_key_env: E2E_PD_KEY, api_base_url: "{pd}"}}
  routes:
    - {{targets: "gpt*", dimensions: [formatting], channel: pagerduty}}
  default: slack
"""


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_the_recorded_silent_update_pages_formatting_and_posts_answers_via_the_cli(
        tmp_path: Path, slack: FakeSlack, pagerduty: FakePagerDuty,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end on the real GPT-3.5 recordings: `check` routes the formatting incident to
    PagerDuty and the answers one to Slack; `notify` delivers to Slack and shows PagerDuty's
    refusal of a revoked key as a permanent failure, in this run and the next."""
    for var in ("DRIFT_MONITOR_DATABASE_URL", "DRIFT_MONITOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("E2E_SLACK_WEBHOOK", slack.webhook_url)
    monkeypatch.setenv("E2E_PD_KEY", "revoked-key-0000000000000000000")
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    path = tmp_path / "drift-monitor.yaml"

    def cli(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(main, ["--config", str(path), *args])
        return r.exit_code, r.output

    path.write_text(E2E.format(snapshot="2023-03", pd=pagerduty.api_base_url))
    for _ in range(3):
        assert cli("probe")[0] == 0
    path.write_text(E2E.format(snapshot="2023-06", pd=pagerduty.api_base_url))
    assert cli("probe")[0] == 0
    code, out = cli("check")
    assert code == 1, out
    code, out = cli("notify")
    assert code == 1, out  # a permanent failure is not a delivery (issue 13, finding 9)
    assert "delivered: alert (first_notification) for gpt35 via slack" in out
    assert ("failed permanently: alert (first_notification) for gpt35 via pagerduty: "
            "pagerduty: permanent failure (HTTP 400)") in out
    assert "'routing_key' is invalid" in out
    (message,) = slack.messages
    assert message["text"].startswith("DRIFT on gpt35: answers changed")
    assert pagerduty.events == [] and len(pagerduty.received) == 1
    code, out = cli("notify")  # the failure stays visible until someone acts on it
    assert "1 failed permanently in total" in out and "via pagerduty" in out


@pytest.mark.parametrize(("route", "key", "message"), [
    ("{dimensions: [formating], channel: slack}", "notify.routes.0.dimensions.0",
     "Input should be 'formatting'"),
    ("{min_severity: high, channel: slack}", "notify.routes.0.min_severity", "'critical'"),
    ("{targets: x, channel: slack, chanel: y}", "notify.routes.0.chanel",
     "unknown key 'chanel'"),
    ("{targets: x}", "notify.routes.0.channel", "")])
def test_a_malformed_route_fails_to_load_naming_its_key_and_line(
        route: str, key: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        write(tmp_path, TARGETS + f"notify:\n  routes:\n    - {route}\n")
    assert e.value.key == key and message in str(e.value)
    assert e.value.line == TARGETS.count("\n") + 3
