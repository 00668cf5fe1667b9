"""The console over HTTP (Starlette's test client, real database): pages, escaping, the token,
CSRF, read-only mode, and that no secret is ever rendered. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from drift_monitor.config import Config
from drift_monitor.errors import ConfigError
from drift_monitor.storage.queries import Store
from drift_monitor.web.auth import console_token, session_value
from tests.alerting.conftest import Clock, finding, record_check
from tests.web.conftest import TOKEN, Client, csrf_of, with_server

HTML = {"Accept": "text/html"}


def test_every_page_renders(client: Client, hostile: int) -> None:
    c = client()
    pages = {"/": "support-bot", "/targets/support-bot": "Drift effect per dimension",
             f"/incidents/{hostile}": "Event history", "/silences": "New silence",
             "/digest": "Drift digest", "/static/console.css": "font"}
    for path, text in pages.items():
        r = c.get(path)
        assert r.status_code == 200, path
        assert text in r.text, path
    assert "<svg" in c.get("/targets/support-bot").text  # the digest's charts


def test_unknown_pages_are_404(client: Client, hostile: int) -> None:
    c = client()
    assert c.get("/targets/nope").status_code == 404
    assert c.get("/incidents/99999").status_code == 404
    assert "no target named" in c.get("/targets/nope").text


def test_model_output_is_escaped_everywhere(client: Client, hostile: int) -> None:
    c = client()
    for path in ("/", "/targets/support-bot", f"/incidents/{hostile}", "/digest"):
        html = c.get(path).text
        assert "<script" not in html.lower(), path
        assert "<img" not in html.lower(), path
        assert 'href="javascript:' not in html.lower(), path
    page = c.get(f"/incidents/{hostile}").text
    assert "&lt;script&gt;window.__xss = 1" in page
    text = re.sub(r"</?(ins|del)>", "", page)  # the diff highlight splits the text
    assert "&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;" in text
    assert "&lt;a href=&#34;javascript:window.__xss = 3&#34;&gt;click me&lt;/a&gt;" in text


def test_every_response_forbids_scripts(client: Client, hostile: int) -> None:
    c = client()
    for path in ("/", f"/incidents/{hostile}", "/digest", "/nope"):
        csp = c.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp, path


def test_beyond_loopback_a_token_is_required(config: Config,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert console_token(config, "127.0.0.1") is None
    assert console_token(config, "::1") is None
    with pytest.raises(ConfigError, match="not a loopback address") as e:
        console_token(config, "0.0.0.0")
    assert "server.host" in str(e.value) and str(config.path) in str(e.value)
    cfg = with_server(config, "{host: 0.0.0.0, auth_token_env: TEST_CONSOLE_TOKEN}")
    monkeypatch.delenv("TEST_CONSOLE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="TEST_CONSOLE_TOKEN is not set"):
        console_token(cfg, "0.0.0.0")
    monkeypatch.setenv("TEST_CONSOLE_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        console_token(cfg, "0.0.0.0")
    monkeypatch.setenv("TEST_CONSOLE_TOKEN", TOKEN)
    assert console_token(cfg, "0.0.0.0") == TOKEN


def test_with_a_token_every_page_needs_it(client: Client, hostile: int) -> None:
    c = client(token=TOKEN)
    r = c.get(f"/incidents/{hostile}", headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/incidents/{hostile}"
    assert c.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert c.get("/login").status_code == 200  # open, so one can sign in
    assert c.get("/static/console.css").status_code == 200


def test_login_form_sets_an_httponly_cookie_that_is_not_the_token(client: Client,
                                                                   hostile: int) -> None:
    c = client(token=TOKEN)
    csrf = csrf_of(c, "/login")
    bad = c.post("/login", data={"token": "nope", "csrf": csrf, "next": "/"})
    assert bad.status_code == 401 and "not the console" in bad.text
    assert c.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 403  # no csrf
    ok = c.post("/login", data={"token": TOKEN, "csrf": csrf, "next": "//evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never an open redirect
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie and session_value(TOKEN) in cookie
    assert c.get(f"/incidents/{hostile}").status_code == 200
    out = c.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303
    c.cookies.delete("dm_session")
    assert c.get("/", headers=HTML).status_code == 303


def test_actions_need_a_matching_csrf_token(client: Client, store: Store, hostile: int) -> None:
    c = client()
    form = {"actor": "alice", "note": "on it"}
    assert c.post(f"/incidents/{hostile}/ack", data=form).status_code == 403
    csrf = csrf_of(c)
    assert c.post(f"/incidents/{hostile}/ack",
                  data={**form, "csrf": "forged"}).status_code == 403
    assert c.post(f"/incidents/{hostile}/ack", data={**form, "csrf": csrf},
                  headers={"Origin": "https://evil.example"}).status_code == 403
    assert store.incident(hostile).acked_at is None
    ok = c.post(f"/incidents/{hostile}/ack", data={**form, "csrf": csrf},
                headers={"Origin": "http://127.0.0.1"})
    assert ok.status_code == 303 and ok.headers["location"].startswith(f"/incidents/{hostile}")
    row = store.incident(hostile)
    assert row.acked_by == "alice" and row.ack_note == "on it"
    assert store.operator_actions()[0].action == "ack"


def test_bearer_clients_need_no_csrf(client: Client, store: Store, hostile: int) -> None:
    c = client(token=TOKEN)
    r = c.post("/silences", data={"target": "support-bot", "for": "1h", "reason": "deploy",
                                  "actor": "ci"},
               headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 303
    (s,) = store.silences(now=store.incident(hostile).opened_at)
    assert s.created_by == "ci"


def test_get_never_changes_anything(client: Client, store: Store, hostile: int) -> None:
    c = client()
    assert c.get(f"/incidents/{hostile}/ack").status_code == 405
    assert c.get("/silences/1/expire").status_code == 405
    assert store.operator_actions() == []


def test_read_only_console_refuses_actions_and_shows_no_forms(client: Client, store: Store,
                                                              hostile: int) -> None:
    c = client(actions=False)
    page = c.get(f"/incidents/{hostile}").text
    assert "ack-form" not in page and "read-only" in page
    csrf = csrf_of(c)
    r = c.post(f"/incidents/{hostile}/ack", data={"csrf": csrf, "actor": "a"})
    assert r.status_code == 403 and "read-only" in r.text
    assert store.operator_actions() == []


def test_refused_actions_say_why(client: Client, hostile: int) -> None:
    c = client()
    csrf = csrf_of(c)
    r = c.post("/silences", data={"csrf": csrf, "target": "support-bot", "for": "4h",
                                  "reason": "", "actor": "a"})
    assert r.status_code == 400 and "reason is required" in r.text
    r = c.post("/silences", data={"csrf": csrf, "target": "ghost", "for": "4h",
                                  "reason": "x", "actor": "a"})
    assert r.status_code == 400 and "unknown target" in r.text
    r = c.post("/silences/42/expire", data={"csrf": csrf, "actor": "a"})
    assert r.status_code == 409 and "no silence 42" in r.text


def test_a_page_from_another_host_name_is_refused_without_a_token(client: Client,
                                                                   hostile: int) -> None:
    c = client()
    r = c.get("/", headers={"Host": "attacker.example"})  # DNS rebinding to 127.0.0.1
    assert r.status_code == 421
    assert c.get("/", headers={"Host": "localhost:9464"}).status_code == 200


def test_a_console_silence_ends_by_itself(client: Client, config: Config,
                                                            store: Store, clock: Clock,
                                                            hostile: int) -> None:
    c = client()
    csrf = csrf_of(c)
    r = c.post(f"/silences?next=/incidents/{hostile}",
               data={"csrf": csrf, "target": "support-bot", "dimension": "formatting",
                     "for": "4h", "reason": "provider incident", "actor": "alice"})
    assert r.status_code == 303
    assert "silenced" in c.get(f"/incidents/{hostile}").text
    before = len(store.notifications())
    clock.advance(hours=4, seconds=1)  # the silence is over
    decisions = record_check(config, store, [finding(suite="support")], clock)
    assert decisions[0].reason.value == "changed"  # the silence ended: it pages
    assert len(store.notifications()) == before + 1


def test_silence_in_force_stops_the_next_page(client: Client, config: Config, store: Store,
                                              clock: Clock, hostile: int) -> None:
    c = client()
    csrf = csrf_of(c)
    c.post("/silences", data={"csrf": csrf, "target": "support-bot", "dimension": "",
                              "for": "4h", "reason": "provider incident", "actor": "alice"})
    before = len(store.notifications())
    clock.advance(hours=1)
    decisions = record_check(config, store, [finding(suite="support")], clock)
    assert decisions[0].reason.value == "silenced"
    assert len(store.notifications()) == before
    assert "silenced" in c.get("/").text


def test_no_secret_is_ever_rendered(client: Client, config: Config, hostile: int,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    webhook = "https://hooks.slack.test/services/T000/B000/SECRETSECRETSECRET"
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", webhook)
    monkeypatch.setenv("TEST_CONSOLE_TOKEN", TOKEN)
    cfg = with_server(config, "{auth_token_env: TEST_CONSOLE_TOKEN}")
    c = client(token=TOKEN, cfg=cfg)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/targets/support-bot", f"/incidents/{hostile}", "/silences", "/digest",
                 "/login", "/nope"):
        r = c.get(path, headers=auth)
        assert TOKEN not in r.text and "SECRETSECRET" not in r.text, path
        assert TOKEN not in str(r.headers), path


def test_overview_filters_and_sorts(client: Client, hostile: int) -> None:
    c = client()
    assert "support-bot" in c.get("/?state=drifting").text
    assert "no target in this state" in c.get("/?state=ok").text
    for key in ("name", "state", "last_run", "errors", "cost", "bogus"):
        assert c.get(f"/?sort={key}").status_code == 200


def test_the_token_and_the_slack_signing_secret_are_redacted_from_logs(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from drift_monitor.config import load_config
    from drift_monitor.daemon.logs import secret_values

    monkeypatch.setenv("TEST_CONSOLE_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_SIGNING", "signing-secret-value-123")
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", "https://hooks.slack.test/x")
    text = config.path.read_text().replace(
        "notify:\n", "notify:\n  slack: {webhook_url_env: TEST_SLACK_WEBHOOK, "
        "signing_secret_env: TEST_SIGNING}\n")
    config.path.write_text(text + "server: {auth_token_env: TEST_CONSOLE_TOKEN}\n")
    values = secret_values(load_config(config.path))
    assert TOKEN in values and "signing-secret-value-123" in values


def test_compare_from_the_console_never_probes(client: Client, hostile: int) -> None:
    c = client()
    r = c.get("/compare?pinned=support-bot&candidate=support-bot")
    assert r.status_code == 409 and "two different targets" in r.text
    r = c.get("/compare?pinned=ghost&candidate=support-bot")
    assert r.status_code == 409 and "unknown target" in r.text
