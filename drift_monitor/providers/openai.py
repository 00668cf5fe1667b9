"""OpenAI chat completions; works with any OpenAI-compatible server (vLLM, Ollama, ...)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult, HttpProvider, ProbeRequest, excerpt


class OpenAIProvider(HttpProvider):
    name = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    async def send(self, request: ProbeRequest) -> CallResult:
        body: dict[str, Any] = {**request.params, "model": self.target.model,
                                "messages": list(request.messages)}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        data, resp, latency_ms = await self.post_json("chat/completions", body, headers)
        rid = resp.headers.get(self.request_id_header) or data.get("id")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderCallError(ErrorKind.MALFORMED, f"no choices in the answer: "
                                    f"{excerpt(str(data))}", retryable=False,
                                    status=resp.status_code, request_id=rid)
        choice = choices[0]
        message = choice.get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        finish = choice.get("finish_reason")
        if not isinstance(text, str) or (not text.strip() and finish != "content_filter"):
            raise ProviderCallError(ErrorKind.MALFORMED, f"empty or missing message content "
                                    f"(finish_reason={finish!r})", retryable=False,
                                    status=resp.status_code, request_id=rid)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return CallResult(
            text=text, finish_reason=finish,
            input_tokens=_int(usage.get("prompt_tokens")),
            output_tokens=_int(usage.get("completion_tokens")),
            latency_ms=latency_ms, model_returned=data.get("model"),
            fingerprint=data.get("system_fingerprint"), request_id=rid,
            http_status=resp.status_code)

    def classify_error(self, resp: httpx.Response, raw: bytes) -> ProviderCallError:
        err = super().classify_error(resp, raw)
        if resp.status_code == 429 and b"insufficient_quota" in raw:
            # out of credit: waiting does not help
            return ProviderCallError(ErrorKind.QUOTA, err.detail, retryable=False,
                                     status=429, request_id=err.request_id)
        return err


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
