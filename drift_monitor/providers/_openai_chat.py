"""The OpenAI chat completions wire format, shared by the provider plugins that speak it.

Private plumbing: ``openai.py``, ``azure_openai.py`` and ``openai_responses.py`` subclass
:class:`OpenAIChatProvider` here, so no provider plugin imports another.

Wire format: ``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>`` and
``{model, messages, ...params}``; the target's params (``temperature``, ``max_tokens``, ``seed``,
``top_p``, ...) are sent as they are written. The answer's ``choices[0].message.content``,
``finish_reason``, ``usage``, ``model``, ``system_fingerprint`` and the ``x-request-id`` header
are kept.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.finishes import is_safety_stop
from drift_monitor.providers._http import HttpProvider, Reply
from drift_monitor.providers.base import (
    CallResult,
    ProbeRequest,
    as_dict,
    as_int,
    as_str,
    error_json,
)

# 429 codes that mean the money or the plan ran out: waiting does not help
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached",
                          "billing_not_active", "credit_balance_exhausted"})


class OpenAIChatProvider(HttpProvider):
    """The chat completions wire format, shared by the providers that speak it (``openai``,
    ``azure_openai``; ``openai_responses`` reuses its auth and error reading). A subclass sets
    ``name`` and may change the path, the body, the headers or the error reading."""

    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    chat_path: str = "chat/completions"

    def chat_body(self, request: ProbeRequest) -> dict[str, Any]:
        return {**request.params, "model": self.target.model, "messages": list(request.messages)}

    async def send(self, request: ProbeRequest) -> CallResult:
        """One chat completion. Raises ProviderCallError (see providers.base)."""
        reply = await self.post_json(self.chat_path, self.chat_body(request))
        return self.completion_result(reply)

    def completion_result(self, reply: Reply) -> CallResult:
        """The CallResult of a 2xx chat completion; ProviderCallError(malformed) otherwise."""
        data = reply.data
        rid = reply.headers.get(self.request_id_header) or as_str(data.get("id"))
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.error(ErrorKind.MALFORMED, "no choices in the answer: "
                             f"{self.body_excerpt(reply.raw)}", status=reply.status,
                             request_id=rid)
        choice = choices[0]
        message = as_dict(choice.get("message"))
        text = message.get("content")
        finish = as_str(choice.get("finish_reason"))
        refusal = message.get("refusal")
        if not (isinstance(text, str) and text) and isinstance(refusal, str) and refusal:
            # structured-output refusals come in their own field, with no content
            text, finish = refusal, "refusal"
        if text is None and is_safety_stop(finish):
            text = ""
        if not isinstance(text, str) or (not text.strip() and not is_safety_stop(finish)):
            raise self.error(ErrorKind.MALFORMED, "empty or missing message content "
                             f"(finish_reason={finish!r})", status=reply.status, request_id=rid)
        usage = as_dict(data.get("usage"))
        return CallResult(
            text=text, finish_reason=finish,
            input_tokens=as_int(usage.get("prompt_tokens")),
            output_tokens=as_int(usage.get("completion_tokens")),
            latency_ms=reply.latency_ms, model_returned=as_str(data.get("model")),
            fingerprint=as_str(data.get("system_fingerprint")), request_id=rid,
            http_status=reply.status)

    def classify_error(self, resp: httpx.Response, raw: bytes | bytearray) -> ProviderCallError:
        err = super().classify_error(resp, raw)
        if resp.status_code == 429:
            info = error_json(raw)
            if info.get("code") in _QUOTA_CODES or info.get("type") in _QUOTA_CODES:
                return self.error(ErrorKind.QUOTA, err.detail, status=429,
                                  request_id=err.request_id)
        return err
