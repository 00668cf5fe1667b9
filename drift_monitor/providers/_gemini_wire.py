"""The Google Gemini ``generateContent`` wire format, shared by ``gemini`` and ``vertex``.

Private plumbing: both provider plugins subclass :class:`GeminiWireProvider`, so neither imports
the other.

Wire format: ``POST {base_url}/models/{model}:generateContent`` (default base
``https://generativelanguage.googleapis.com/v1beta``) with the key in the ``x-goog-api-key``
header, never in the URL (URLs end up in logs). Body: ``contents`` (user -> ``user``, assistant
-> ``model``, each ``{parts: [{text}]}``), ``systemInstruction`` from the probe's system
messages, and ``generationConfig`` from the target's params: ``temperature``, ``max_tokens`` ->
``maxOutputTokens``, ``seed``, ``top_p`` -> ``topP``, ``top_k`` -> ``topK``, ``stop`` ->
``stopSequences`` and the other names below; ``safety_settings``/``tools``/``tool_config`` go
to the top level; any other key is put in ``generationConfig`` as written.

The answer's ``candidates[0].content.parts[].text`` (thought parts skipped) is joined;
``finishReason``, ``usageMetadata`` (thinking tokens count as output: they are billed so),
``modelVersion`` and ``responseId`` are kept. A prompt blocked before any candidate is an answer
with finish reason ``prompt_blocked:<blockReason>``. A 429 ``RESOURCE_EXHAUSTED`` is a retryable
rate limit (honouring ``RetryInfo.retryDelay``) unless it is a per-day quota or a zero limit,
which is ``quota``; an invalid key (400 ``API_KEY_INVALID``) is ``auth``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.finishes import PROMPT_BLOCKED_PREFIX, is_safety_stop
from drift_monitor.providers._http import HttpProvider
from drift_monitor.providers.base import (
    CallResult,
    ProbeRequest,
    as_dict,
    as_int,
    as_list,
    as_str,
    error_json,
)

_GENERATION_CONFIG = {
    "temperature": "temperature", "max_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens", "seed": "seed", "top_p": "topP", "top_k": "topK",
    "stop": "stopSequences", "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty", "candidate_count": "candidateCount",
    "response_mime_type": "responseMimeType", "response_schema": "responseSchema",
    "thinking_config": "thinkingConfig",
}
_TOP_LEVEL = {"safety_settings": "safetySettings", "safetySettings": "safetySettings",
              "tools": "tools", "tool_config": "toolConfig", "toolConfig": "toolConfig"}
_ROLES = {"user": "user", "assistant": "model"}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def build_body(request: ProbeRequest) -> dict[str, Any]:
    """The generateContent body for ``request`` (see the module docstring for the mapping)."""
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    body: dict[str, Any] = {"contents": [
        {"role": _ROLES[m["role"]], "parts": [{"text": m["content"]}]}
        for m in request.messages if m["role"] in _ROLES]}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = {}
    for key, value in request.params.items():
        if key in _TOP_LEVEL:
            body[_TOP_LEVEL[key]] = value
        elif key == "generationConfig" and isinstance(value, dict):
            config.update(value)
        else:
            if key == "stop" and isinstance(value, str):
                value = [value]
            config[_GENERATION_CONFIG.get(key, key)] = value
    if config:
        body["generationConfig"] = config
    return body


class GeminiWireProvider(HttpProvider):
    """Body, answer and error reading of ``generateContent`` (key auth by default); a subclass
    sets ``name`` and may change the path and the auth (Vertex AI's OAuth token)."""

    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key} if self._api_key else {}

    def generate_path(self) -> str:
        return f"models/{self.target.model.removeprefix('models/')}:generateContent"

    async def send(self, request: ProbeRequest) -> CallResult:
        """One generateContent call. Raises ProviderCallError (see providers.base)."""
        reply = await self.post_json(self.generate_path(), build_body(request))
        data = reply.data
        rid = as_str(data.get("responseId")) or reply.headers.get(self.request_id_header)
        usage = data.get("usageMetadata") if isinstance(data.get("usageMetadata"), dict) else None
        common: dict[str, Any] = {
            "input_tokens": (as_int(usage.get("promptTokenCount")) or 0) if usage else None,
            "output_tokens": _output_tokens(usage), "latency_ms": reply.latency_ms,
            "model_returned": as_str(data.get("modelVersion")), "request_id": rid,
            "http_status": reply.status}
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates \
                or not isinstance(candidates[0], dict):
            feedback = data.get("promptFeedback")
            block = as_str(feedback.get("blockReason")) if isinstance(feedback, dict) else None
            if block:
                return CallResult(text="", finish_reason=PROMPT_BLOCKED_PREFIX + block, **common)
            raise self.error(ErrorKind.MALFORMED, "no candidates in the answer: "
                             f"{self.body_excerpt(reply.raw)}", status=reply.status,
                             request_id=rid)
        candidate = candidates[0]
        finish = as_str(candidate.get("finishReason"))
        parts = as_list(as_dict(candidate.get("content")).get("parts"))
        text = "".join(p["text"] for p in parts
                       if isinstance(p, dict) and isinstance(p.get("text"), str)
                       and not p.get("thought"))
        if not text.strip() and not is_safety_stop(finish):
            raise self.error(ErrorKind.MALFORMED, f"no text in the answer (finishReason="
                             f"{finish!r}, {len(parts)} parts)", status=reply.status,
                             request_id=rid)
        return CallResult(text=text, finish_reason=finish, fingerprint=None, **common)

    def classify_error(self, resp: httpx.Response, raw: bytes | bytearray) -> ProviderCallError:
        err = super().classify_error(resp, raw)
        info = error_json(raw)
        details = [d for d in as_list(info.get("details")) if isinstance(d, dict)]
        message = str(info.get("message", ""))
        status = resp.status_code
        if status == 429:
            if _is_lasting_quota(message, details):
                return self.error(ErrorKind.QUOTA, err.detail, status=status,
                                  request_id=err.request_id)
            retry_after = err.retry_after if err.retry_after is not None \
                else _retry_delay(details)
            return self.error(ErrorKind.RATE_LIMITED, err.detail, retryable=True, status=status,
                              retry_after=retry_after, request_id=err.request_id)
        if status == 400 and ("API key not valid" in message or any(
                d.get("reason") == "API_KEY_INVALID" for d in details)):
            return self.error(ErrorKind.AUTH, err.detail, status=status,
                              request_id=err.request_id)
        return err


def _output_tokens(usage: dict[str, Any] | None) -> int | None:
    # proto3 JSON leaves zero counts out, so a missing count in a present usage block is 0
    if usage is None:
        return None
    return (as_int(usage.get("candidatesTokenCount")) or 0) \
        + (as_int(usage.get("thoughtsTokenCount")) or 0)


def _is_lasting_quota(message: str, details: list[dict[str, Any]]) -> bool:
    """A per-day quota or a zero limit: retrying within the round cannot succeed."""
    lowered = message.lower()
    if "per day" in lowered or "limit: 0" in lowered:
        return True
    for d in details:
        for v in as_list(d.get("violations")):
            if "PerDay" in str(as_dict(v).get("quotaId", "")):
                return True
        if "PerDay" in str(as_dict(d.get("metadata")).get("quota_limit", "")):
            return True
    return False


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "26s"``), if any."""
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DELAY.match(str(d.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None
