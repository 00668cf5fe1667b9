"""The one redaction and the one Retry-After parser the providers and channels share."""

from __future__ import annotations

import logging

import httpx

from drift_monitor.httputil import retry_after
from drift_monitor.redaction import Redactor, redact


def test_redact_replaces_longest_secret_first_and_ignores_short_values() -> None:
    assert redact("key=abcd1234 and abcd", ["abcd", "abcd1234", "pw", None]) \
        == "key=*** and ***"
    assert redact("pw stays", ["pw"]) == "pw stays"
    assert redact(None, ["abcd"]) is None


def test_redactor_filter_cleans_message_arguments_and_extra_fields() -> None:
    r = Redactor(["s3cret-value"])
    r.add("tok-12345", "no")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", ("s3cret-value",),
                               None)
    record.url = "https://h/?t=tok-12345"
    assert r.filter(record)
    assert record.getMessage() == "got ***" and record.url == "https://h/?t=***"
    assert r.secrets == {"s3cret-value", "tok-12345"}


def test_retry_after_reads_seconds_milliseconds_dates_and_any_header_case() -> None:
    assert retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after({"Retry-After": ["3"]}) == 3.0  # slack-sdk's header lists
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}),
                       now=lambda: 1445412480.0) == 10.0
    assert retry_after({"retry-after": "-5"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None and retry_after(None) is None
