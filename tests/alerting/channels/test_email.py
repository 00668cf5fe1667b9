"""The email channel against a real SMTP server on loopback (aiosmtpd) that requires STARTTLS
and a login, with a certificate the test's own CA signed: mails arrive with a readable
plain-text and HTML body, SMTP's 4xx and 5xx replies are told apart, and the login never
appears in a mail, the database or the logs."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from drift_monitor.alerting.channels.email import EmailChannel, html_body
from drift_monitor.alerting.outbox import deliver
from drift_monitor.app.digest import build_digest, queue_digest
from drift_monitor.config import Config
from drift_monitor.errors import ConfigError
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, db_dump, finding, free_port, make_config, record_check
from tests.fakes.smtp import SMTP_PASSWORD, SMTP_USER, FakeSMTP

EMAIL = ("  email: {{host: 127.0.0.1, port: {port}, from: drift@example.com, "
         "to: [oncall@example.com, ml-team@example.com], username_env: TEST_SMTP_USER, "
         "password_env: TEST_SMTP_PASSWORD, ca_file: {ca}, timeout_s: 5}}\n")
HOSTILE = "<script>alert('pwned')</script> & <b>bold</b>"


@pytest.fixture
def smtp(tmp_path: Path) -> FakeSMTP:
    server = FakeSMTP(tmp_path).start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def config(tmp_path: Path, smtp: FakeSMTP, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    return make_config(tmp_path, EMAIL.format(port=smtp.port, ca=smtp.ca_file))


def bodies(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()  # type: ignore[attr-defined]


def test_an_alert_arrives_over_tls_with_readable_plain_text_and_html(
        config: Config, store: Store, smtp: FakeSMTP, clock: Clock) -> None:
    examples = [{"probe": "coding/two-sum@abc", "before": "class Solution: ...",
                 "after": HOSTILE}]
    record_check(config, store, [finding(examples=examples)], clock)
    assert deliver(config, store, now=clock).delivered == 1
    (msg,) = smtp.messages
    (envelope,) = smtp.envelopes
    assert envelope["tls"] and envelope["to"] == ["oncall@example.com", "ml-team@example.com"]
    assert smtp.logins == [(SMTP_USER, True)]
    assert msg["Subject"].startswith("[drift-monitor] DRIFT on support-bot: formatting changed "
                                     "(critical)")
    assert msg["From"] == "drift@example.com" and msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = bodies(msg)
    for expected in ("code_fence_rate", "2% -> 81%", "q = 4.0e-08",
                     "did not change: this is a silent update",
                     "drift-monitor baseline accept --target support-bot"):
        assert expected in plain, expected
    assert HOSTILE in plain, "the plain text shows the model's answer as it was"
    assert "<h2>Drift on support-bot: formatting changed (critical)</h2>" in html
    assert "2% -&gt; 81%" in html and "<code>drift-monitor baseline accept" in html
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;pwned&#x27;)" in html


def test_resolution_threads_with_its_alert_and_the_digest_arrives(
        config: Config, sqlite_store: Store, smtp: FakeSMTP, clock: Clock) -> None:
    record_check(config, sqlite_store, [finding()], clock)
    clock.advance(hours=1)
    record_check(config, sqlite_store, [], clock)
    queue_digest(config, sqlite_store, build_digest(config, sqlite_store, now=clock), now=clock)
    assert deliver(config, sqlite_store, now=clock).delivered == 3
    alert, resolved, digest = smtp.messages
    assert resolved["Subject"].startswith("[drift-monitor] RESOLVED on support-bot: formatting")
    assert alert["References"] == resolved["References"]
    assert alert["Message-ID"] != resolved["Message-ID"]
    plain, html = bodies(resolved)
    assert "a clean check found no drift" in plain and "<h2>Resolved on support-bot" in html
    plain, html = bodies(digest)
    assert plain.startswith("Drift digest") and "<h3>support-bot (replay gpt-3.5-turbo" in html
    assert digest["References"] is None


def test_a_temporary_smtp_reply_is_retried_and_the_retry_is_the_same_mail(
        config: Config, sqlite_store: Store, smtp: FakeSMTP, clock: Clock) -> None:
    record_check(config, sqlite_store, [finding()], clock)
    smtp.fail_next("451 4.3.0 Mail server temporarily rejected message")
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry" and "451 4.3.0" in (a.error or "")
    clock.advance(seconds=30)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    (msg,) = smtp.messages
    assert msg["Message-ID"].endswith("@example.com>")


@pytest.mark.parametrize(("case", "expected"), [
    ("wrong password", "535"), ("rejected data", "554 5.6.0"),
    ("all recipients refused", "550 5.1.1")])
def test_permanent_smtp_replies_fail_visibly_and_are_not_retried(
        case: str, expected: str, tmp_path: Path, sqlite_store: Store, smtp: FakeSMTP,
        clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "not-the-password" if case == "wrong password"
                       else SMTP_PASSWORD)
    config = make_config(tmp_path, EMAIL.format(port=smtp.port, ca=smtp.ca_file))
    if case == "rejected data":
        smtp.fail_next("554 5.6.0 Message content rejected")
    if case == "all recipients refused":
        smtp.refuse = {a: "550 5.1.1 No such user" for a in ("oncall@example.com",
                                                            "ml-team@example.com")}
    record_check(config, sqlite_store, [finding()], clock)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "failed" and expected in (a.error or ""), a.error
    assert deliver(config, sqlite_store, now=clock).attempts == []
    assert smtp.messages == []
    (failed,) = sqlite_store.notifications(status="failed")
    assert failed.channel == "email"


def test_a_recipient_refused_while_others_got_it_is_named(
        config: Config, sqlite_store: Store, smtp: FakeSMTP, clock: Clock) -> None:
    smtp.refuse = {"ml-team@example.com": "550 5.1.1 No such user"}
    record_check(config, sqlite_store, [finding()], clock)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "failed"
    assert "delivered to 1 of 2 recipients; refused: ml-team@example.com (550" in (a.error or "")
    assert len(smtp.messages) == 1


def test_a_certificate_from_an_unknown_ca_is_refused(
        tmp_path: Path, sqlite_store: Store, smtp: FakeSMTP, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    other = FakeSMTP(tmp_path / "..")  # another CA, never started: only its CA file is used
    config = make_config(tmp_path, EMAIL.format(port=smtp.port, ca=other.ca_file))
    record_check(config, sqlite_store, [finding()], clock)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "failed" and "certificate does not verify" in (a.error or "")
    assert smtp.logins == [], "the password is never sent to an unverified server"


def test_a_server_without_starttls_never_gets_the_password(
        tmp_path: Path, sqlite_store: Store, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    plain = FakeSMTP(tmp_path, offer_starttls=False).start()
    try:
        config = make_config(tmp_path, EMAIL.format(port=plain.port, ca=plain.ca_file))
        record_check(config, sqlite_store, [finding()], clock)
        (a,) = deliver(config, sqlite_store, now=clock).attempts
        assert a.outcome == "failed" and "does not offer STARTTLS" in (a.error or "")
        assert plain.logins == [] and plain.messages == []
    finally:
        plain.stop()


def test_a_server_that_is_down_delays_but_never_loses_the_mail(
        tmp_path: Path, sqlite_store: Store, smtp: FakeSMTP, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    config = make_config(tmp_path, EMAIL.format(port=free_port(), ca=smtp.ca_file))
    record_check(config, sqlite_store, [finding()], clock)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry" and "Connection refused" in (a.error or "")


def test_a_login_without_tls_is_refused_by_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs starttls: true"):
        make_config(tmp_path, "  email: {host: h, from: a@b.c, to: [d@e.f], starttls: false, "
                              "username_env: U, password_env: P}\n")
    with pytest.raises(ConfigError, match="key 'notify.email.to.0'.*not an email address"):
        make_config(tmp_path, "  email: {host: h, from: a@b.c, to: [nobody]}\n")


def test_the_login_never_reaches_a_mail_the_database_or_the_logs(
        config: Config, sqlite_store: Store, smtp: FakeSMTP, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    record_check(config, sqlite_store, [finding()], clock)
    smtp.fail_next("451 4.7.0 try again")
    deliver(config, sqlite_store, now=clock)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    raw = b"\n".join(e["raw"] for e in smtp.envelopes).decode()
    assert SMTP_PASSWORD not in raw and SMTP_USER not in raw, "login in a mail"
    assert SMTP_PASSWORD not in db_dump(sqlite_store), "password in the database"
    assert SMTP_PASSWORD not in caplog.text, "password in the logs"
    assert SMTP_PASSWORD not in repr(EmailChannel(config))
    assert "<script>" not in html_body({"kind": "resolved", "reason": "resolved",
                                        "target": "t", "dimensions": ["tone"],
                                        "incidents": [{"incident_id": 1, "dimension": "tone",
                                                       "summary": HOSTILE, "opened_at": None}]})
