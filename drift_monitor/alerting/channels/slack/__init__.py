"""The ``slack`` channel on slack-sdk: an incoming webhook (``WebhookClient``), or a bot token and a
channel (``WebClient.chat_postMessage``; the digest's chart goes up with ``files_upload_v2``,
upload.py). Its Block Kit messages are built in blocks.py; nothing outside this package knows
Slack's format.

Retries happen at two levels. Inside one send, slack-sdk's retry handlers absorb short blips:
a 429 whose Retry-After is short (waited in-process), 500/503 and refused or reset connections
(a few quick attempts with backoff). What is left becomes a ChannelError for the outbox: 429,
5xx, timeouts and connection errors are temporary (retried later, honouring Retry-After); a 4xx
from a webhook (404 no_service, 403 invalid_token, 410 channel_is_archived...) and Web API errors
such as ``invalid_auth`` or ``channel_not_found`` are permanent.

Secrets: the webhook URL and the token are read from the environment when the channel is built
(at send time) and live only in memory. slack-sdk logs URLs and bodies at debug level, so it is
given a logger of ours whose filter removes them; error details are built from status codes and
Slack's error names, then redacted again.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryIntervalCalculator,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from drift_monitor.alerting.channels._http import Redactor, retry_after
from drift_monitor.alerting.channels.base import Channel, ChannelError
from drift_monitor.alerting.channels.slack import blocks as bk
from drift_monitor.alerting.channels.slack.upload import upload_chart
from drift_monitor.config import Config

log = logging.getLogger(__name__)
SDK_LOGGER = "drift_monitor.alerting.channels.slack.sdk"

DEFAULT_API_BASE_URL = "https://slack.com/api/"
TIMEOUT_S = 10
MAX_IN_PROCESS_RETRY_AFTER_S = 5.0  # longer waits go back to the outbox instead of blocking
# Web API errors that another attempt can fix; every other error name is permanent
RETRYABLE_API_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                        "request_timeout"}


# slack-sdk logs URLs and bodies: its logger gets a redactor of its own
_redactor = Redactor()
_sdk_log = logging.getLogger(SDK_LOGGER)
_sdk_log.addFilter(_redactor)


def _headers(headers: dict[str, Any] | Any) -> httpx.Headers:
    """slack-sdk's response headers as httpx's, for the channels' one Retry-After parser. They
    come as a plain dict, a value a string or a list of them, sometimes with a name twice in
    different case (slack-sdk adds a lower-case copy): the first value of a name counts."""
    first: dict[str, str] = {}
    for k, v in dict(headers or {}).items():
        value = v[0] if isinstance(v, list) and v else v
        first.setdefault(str(k).lower(), str(value))
    return httpx.Headers(first)


class _ShortRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, waiting in-process only for a short Retry-After.

    The stock handler sleeps whatever the server asks; a long wait would stall ``notify``, so it
    is declined here and the outbox schedules the next attempt at Retry-After instead.
    """

    def __init__(self, max_retry_count: int, max_wait: float,
                 sleep: Callable[[float], None]) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait, self.sleep = max_wait, sleep

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after(_headers(response.headers if response else {}))
        return wait is None or wait <= self.max_wait

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        wait = retry_after(_headers(response.headers if response else {}))
        self.sleep((1.0 if wait is None else wait) + random.random() * 0.1)
        state.increment_current_attempt()


class SlackChannel(Channel):
    """Posts Block Kit messages to Slack. Built per delivery run from ``notify.slack``."""

    name = "slack"

    def __init__(self, config: Config, *, timeout: float = TIMEOUT_S,
                 retry_interval: RetryIntervalCalculator | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 max_retry_after: float = MAX_IN_PROCESS_RETRY_AFTER_S) -> None:
        """Reads the webhook URL or token from the environment now. Raises ConfigError naming
        the env var when it is unset.

        ``retry_interval`` paces the quick in-process retries of 5xx and connection errors
        (default: slack-sdk's exponential backoff with jitter); ``sleep`` is what waits out a
        short Retry-After.
        """
        slack = config.settings.notify.slack
        if slack is None:
            raise ChannelError(self.name, "notify.slack is not configured", permanent=True)
        key = ("notify", "slack")
        self._webhook_url = config.secret(slack.webhook_url_env, (*key, "webhook_url_env"))
        self._token = (None if self._webhook_url else
                       config.secret(slack.bot_token_env, (*key, "bot_token_env")))
        self.channel = slack.channel
        self.api_base_url = slack.api_base_url or DEFAULT_API_BASE_URL
        _redactor.secrets.update(s for s in (self._webhook_url, self._token) if s)
        if self._webhook_url and "/services/" in self._webhook_url:
            _redactor.secrets.add(self._webhook_url.split("/services/", 1)[1])
        # slack-sdk formats debug lines (URLs, bodies) whenever its logger lets them through:
        # keep its chatter (including its own error lines, which we log better) out unless the
        # user asked for debug output; the redacting filter guards what does get through
        debugging = log.getEffectiveLevel() <= logging.DEBUG
        _sdk_log.setLevel(logging.DEBUG if debugging else logging.CRITICAL)
        self.timeout = timeout
        calc = retry_interval or BackoffRetryIntervalCalculator(backoff_factor=0.5)
        self._handlers: list[RetryHandler] = [
            ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=calc),
            _ShortRateLimitHandler(2, max_retry_after, sleep),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=calc),
        ]

    def __repr__(self) -> str:  # never show the secret, even in a debugger or traceback
        return f"SlackChannel({'webhook' if self._webhook_url else 'web api'})"

    def send(self, payload: dict[str, Any]) -> None:
        """Post one message. Raises ChannelError(permanent=...) when Slack did not take it."""
        kind = payload.get("kind")
        if kind == "alert":
            blocks = bk.alert_blocks(payload)
        elif kind == "digest":
            blocks = bk.digest_blocks(payload)
        else:
            blocks = bk.closed_blocks(payload)
        text = bk.fallback_text(payload)
        try:
            if self._webhook_url:
                self._send_webhook(text, blocks)
            else:
                response = self._send_api(text, blocks)
                if kind == "digest":
                    self._upload_chart(payload, response)
        except ChannelError:
            raise
        except SlackRequestError as exc:  # e.g. a webhook URL that is not http(s)
            raise ChannelError(self.name, self._redact(str(exc)), permanent=True) from None
        except ValueError:
            # urllib's "unknown url type: '<the URL>'" quotes the secret: never pass it on.
            # A malformed URL will not mend itself, so this is permanent.
            raise ChannelError(self.name, "the webhook URL (or api_base_url) is malformed: "
                               "not an http(s) URL", permanent=True) from None
        except (URLError, OSError, http.client.HTTPException) as exc:
            # refused, reset, timed out, or the server closed the connection mid-answer
            reason = getattr(exc, "reason", exc)
            raise ChannelError(self.name, self._redact(f"{type(exc).__name__}: {reason}"),
                               permanent=False) from None

    def _redact(self, text: str) -> str:
        return _redactor.redact(text)

    def _send_webhook(self, text: str, blocks: list[dict[str, Any]]) -> None:
        client = WebhookClient(self._webhook_url or "", timeout=int(max(1, self.timeout)),
                               logger=_sdk_log, retry_handlers=self._handlers)
        response = client.send(text=text, blocks=blocks, unfurl_links=False,
                               unfurl_media=False)
        if response.status_code == 200:
            return
        status, body = response.status_code, self._redact(str(response.body or ""))[:200]
        detail = f"incoming webhook answered {status} {body!r}"
        if status == 429:
            raise ChannelError(self.name, detail, permanent=False, status=status,
                               retry_after=retry_after(_headers(response.headers)))
        raise ChannelError(self.name, detail, permanent=400 <= status < 500, status=status)

    def _client(self) -> WebClient:
        return WebClient(token=self._token, base_url=self.api_base_url,
                         timeout=int(max(1, self.timeout)), logger=_sdk_log,
                         retry_handlers=self._handlers)

    def _send_api(self, text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            response = self._client().chat_postMessage(
                channel=self.channel or "", text=text, blocks=blocks, unfurl_links=False,
                unfurl_media=False)
        except SlackApiError as exc:
            raise self._api_error("chat.postMessage", exc) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _api_error(self, method: str, exc: SlackApiError) -> ChannelError:
        response = exc.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or "no error name")
        detail = self._redact(f"{method} failed: {error}")
        if status == 429 or error == "ratelimited":
            return ChannelError(self.name, detail, permanent=False, status=status,
                                retry_after=retry_after(_headers(response.headers)))
        retryable = status >= 500 or error in RETRYABLE_API_ERRORS
        return ChannelError(self.name, detail, permanent=not retryable, status=status)

    def _upload_chart(self, payload: dict[str, Any], posted: dict[str, Any]) -> None:
        """Upload the digest's chart as a reply to the posted digest.

        The digest itself is already delivered, so a failed upload is logged, not raised:
        retrying would post the digest twice.
        """
        if not posted.get("channel"):
            return
        try:
            upload_chart(self._client(), payload, posted)
        except SlackApiError as exc:
            log.warning("slack: digest posted, chart upload failed: %s",
                        self._api_error("files_upload_v2", exc).detail)
        except (SlackRequestError, URLError, OSError, http.client.HTTPException) as exc:
            log.warning("slack: digest posted, chart upload failed: %s",
                        self._redact(f"{type(exc).__name__}: {exc}"))
