"""Anthropic Messages API.

Wire format: ``POST {base_url}/messages`` (default ``https://api.anthropic.com/v1``) with headers
``x-api-key`` and ``anthropic-version: 2023-06-01`` and a body ``{model, max_tokens, system,
messages, ...}``. System messages of a probe become the top-level ``system``; user and assistant
messages keep their order. ``max_tokens`` is required by the API: the target's, else 1024.
Params map as written (``temperature``, ``top_p``, ``top_k``, ``stop`` -> ``stop_sequences``,
anything else is passed through); ``seed`` is dropped because the API has none.

The answer's text blocks are joined; ``stop_reason`` (``end_turn``, ``max_tokens``,
``refusal``, ...), ``usage``, ``model``, ``id`` and the ``request-id`` header are kept.
Errors: 429 ``rate_limit_error`` and 529 ``overloaded_error`` are retried; a 429 with
``enforced_spend_limit_reached``, a 400 spend-limit or low-credit message and 402
``billing_error`` are ``quota``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.finishes import is_safety_stop
from drift_monitor.providers._http import HttpProvider
from drift_monitor.providers.base import (
    CallResult,
    ProbeRequest,
    as_dict,
    as_int,
    as_str,
    error_json,
    json_head,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024

_RENAMED = {"stop": "stop_sequences"}
_DROPPED = frozenset({"seed"})
_SPEND_LIMIT_MESSAGES = ("usage limits", "credit balance", "spend limit")


def build_body(model: str, request: ProbeRequest) -> dict[str, Any]:
    """The Messages API body for ``request`` (see the module docstring for the mapping)."""
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    messages = [{"role": m["role"], "content": m["content"]}
                for m in request.messages if m["role"] != "system"]
    body: dict[str, Any] = {}
    for key, value in request.params.items():
        if key in _DROPPED:
            continue
        if key == "stop" and isinstance(value, str):
            value = [value]
        body[_RENAMED.get(key, key)] = value
    body["model"] = model
    body.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    if system:
        body["system"] = system
    body["messages"] = messages
    return body


class AnthropicProvider(HttpProvider):
    name = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com/v1"
    request_id_header: ClassVar[str] = "request-id"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    async def send(self, request: ProbeRequest) -> CallResult:
        """One Messages API call. Raises ProviderCallError (see providers.base)."""
        reply = await self.post_json("messages", build_body(self.target.model, request))
        data = reply.data
        rid = reply.headers.get(self.request_id_header) or as_str(data.get("id"))
        blocks = data.get("content")
        stop = as_str(data.get("stop_reason"))
        if not isinstance(blocks, list):
            raise self.error(ErrorKind.MALFORMED, "no content blocks in the answer: "
                             f"{self.body_excerpt(reply.raw)}", status=reply.status,
                             request_id=rid)
        # thinking and tool_use blocks are not the answer's text
        text = "".join(b["text"] for b in blocks
                       if isinstance(b, dict) and b.get("type") == "text"
                       and isinstance(b.get("text"), str))
        if not text.strip() and not is_safety_stop(stop):
            raise self.error(ErrorKind.MALFORMED, f"no text in the answer (stop_reason={stop!r}, "
                             f"{len(blocks)} content blocks)", status=reply.status,
                             request_id=rid)
        usage = as_dict(data.get("usage"))
        return CallResult(
            text=text, finish_reason=stop, input_tokens=_input_tokens(usage),
            output_tokens=as_int(usage.get("output_tokens")), latency_ms=reply.latency_ms,
            model_returned=as_str(data.get("model")), fingerprint=None, request_id=rid,
            http_status=reply.status)

    def classify_error(self, resp: httpx.Response, raw: bytes | bytearray) -> ProviderCallError:
        err = super().classify_error(resp, raw)
        info = error_json(raw)
        details = as_dict(info.get("details"))
        message = str(info.get("message", "")).lower()
        status = resp.status_code
        # the error body carries the request id when the header was stripped by a proxy
        rid = err.request_id or as_str(json_head(raw).get("request_id"))
        quota = (status == 402 or info.get("type") == "billing_error"
                 or details.get("error_code") == "enforced_spend_limit_reached"
                 or (status == 400 and any(m in message for m in _SPEND_LIMIT_MESSAGES)))
        if quota:
            return self.error(ErrorKind.QUOTA, err.detail, status=status, request_id=rid)
        if status == 409:  # documented as safe to retry
            return self.error(ErrorKind.SERVER_ERROR, err.detail, retryable=True, status=status,
                              retry_after=err.retry_after, request_id=rid)
        if rid != err.request_id:
            return self.error(err.kind, err.detail, retryable=err.retryable, status=status,
                              retry_after=err.retry_after, request_id=rid)
        return err


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """All prompt tokens: the API counts cache reads and writes apart from ``input_tokens``."""
    base = as_int(usage.get("input_tokens"))
    if base is None:
        return None
    return base + sum(as_int(usage.get(k)) or 0
                      for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))

