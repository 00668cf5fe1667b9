"""The OpenAI Responses API, which newer models and the reasoning models are served through.

Wire format: ``POST {base_url}/responses`` (default ``https://api.openai.com/v1``) with
``Authorization: Bearer <key>`` and ``{model, input, store: false, ...params}``: the probe's
messages are the ``input`` list as they are (system messages included, which the API reads as
instructions); ``max_tokens`` -> ``max_output_tokens``, ``reasoning_effort`` -> ``reasoning:
{effort}``; ``seed`` and ``stop`` are dropped (the API has neither); anything else is sent as
written. ``store`` is false unless the target sets it, so probes are not kept for 30 days.

The answer's ``output`` items of type ``message`` give the text (``output_text`` parts joined;
a ``refusal`` part is the answer with finish reason ``refusal``); reasoning items are skipped.
``status`` is the finish reason when ``completed``; an ``incomplete`` answer's finish reason is
``incomplete_details.reason`` (``max_output_tokens``, ``content_filter``). ``usage`` is kept with
reasoning tokens inside ``output_tokens`` (billed so) and apart in ``reasoning_tokens``;
``model`` (the dated snapshot) and ``id`` too. A ``failed`` response is an error of the kind its
``error.code`` says (``server_error`` and ``rate_limit_exceeded`` retried); an answer whose
reasoning used every output token is ``malformed`` and says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drift_monitor.errors import ErrorKind
from drift_monitor.finishes import is_safety_stop
from drift_monitor.providers._openai_chat import OpenAIChatProvider
from drift_monitor.providers.base import (
    CallResult,
    ProbeRequest,
    as_dict,
    as_int,
    as_list,
    as_str,
)

_RENAMED = {"max_tokens": "max_output_tokens", "max_completion_tokens": "max_output_tokens"}
_DROPPED = frozenset({"seed", "stop"})
_FAILED_KINDS = {"server_error": (ErrorKind.SERVER_ERROR, True),
                 "rate_limit_exceeded": (ErrorKind.RATE_LIMITED, True),
                 "invalid_prompt": (ErrorKind.BAD_REQUEST, False)}


def build_body(model: str, request: ProbeRequest) -> dict[str, Any]:
    """The Responses API body for ``request`` (see the module docstring for the mapping)."""
    body: dict[str, Any] = {"store": False}
    for key, value in request.params.items():
        if key in _DROPPED:
            continue
        if key == "reasoning_effort":
            body.setdefault("reasoning", {})["effort"] = value
            continue
        body[_RENAMED.get(key, key)] = value
    body["model"] = model
    body["input"] = [{"role": m["role"], "content": m["content"]} for m in request.messages]
    return body


class OpenAIResponsesProvider(OpenAIChatProvider):
    name = "openai_responses"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    async def send(self, request: ProbeRequest) -> CallResult:
        """One Responses API call. Raises ProviderCallError (see providers.base)."""
        reply = await self.post_json("responses", build_body(self.target.model, request))
        data = reply.data
        rid = reply.headers.get(self.request_id_header) or as_str(data.get("id"))
        status = as_str(data.get("status"))
        if status == "failed":
            info = as_dict(data.get("error"))
            code = as_str(info.get("code")) or "server_error"
            kind, retryable = _FAILED_KINDS.get(code, (ErrorKind.SERVER_ERROR, False))
            raise self.error(kind, f"response failed: {code}: "
                             f"{self.body_excerpt(str(info.get('message', '')))}",
                             retryable=retryable, status=reply.status, request_id=rid)
        if status not in ("completed", "incomplete"):
            raise self.error(ErrorKind.MALFORMED, f"response status {status!r} (neither "
                             f"completed nor incomplete): {self.body_excerpt(reply.raw)}",
                             status=reply.status, request_id=rid)
        output = data.get("output")
        if not isinstance(output, list):
            raise self.error(ErrorKind.MALFORMED, "no output list in the answer: "
                             f"{self.body_excerpt(reply.raw)}", status=reply.status,
                             request_id=rid)
        finish = status if status == "completed" else \
            as_str(as_dict(data.get("incomplete_details")).get("reason")) or "incomplete"
        texts: list[str] = []
        refusal: str | None = None
        for item in output:
            if not isinstance(item, dict) or item.get("type") != "message":
                continue  # reasoning, tool calls
            for part in as_list(item.get("content")):
                part = as_dict(part)
                if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refusal = part["refusal"]
        text = "".join(texts)
        if not text.strip() and refusal:
            text, finish = refusal, "refusal"
        usage = as_dict(data.get("usage"))
        reasoning = as_int(as_dict(usage.get("output_tokens_details")).get("reasoning_tokens"))
        if not text.strip() and not is_safety_stop(finish):
            raise self.error(ErrorKind.MALFORMED, f"no text in the answer (status={status!r}, "
                             f"finish={finish!r}, {len(output)} output items, reasoning tokens "
                             f"{reasoning})", status=reply.status, request_id=rid)
        return CallResult(
            text=text, finish_reason=finish, input_tokens=as_int(usage.get("input_tokens")),
            output_tokens=as_int(usage.get("output_tokens")), latency_ms=reply.latency_ms,
            model_returned=as_str(data.get("model")), fingerprint=None, request_id=rid,
            http_status=reply.status, reasoning_tokens=reasoning)
