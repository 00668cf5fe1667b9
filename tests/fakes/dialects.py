"""What each fake server answers, per wire format and named fault (see llm_servers)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.llm_servers import FakeLLMServer

Answer = tuple[int, dict[str, str], Any]


def _retry_headers(srv: FakeLLMServer) -> dict[str, str]:
    return {"retry-after": str(math.ceil(srv.retry_after_s))}


def _openai(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    rid = {"x-request-id": f"req_{n}"}

    def err(status: int, message: str, type_: str, code: str | None = None) -> Answer:
        return status, rid, {"error": {"message": message, "type": type_, "param": None,
                                       "code": code}}

    def completion(content: str | None, finish: str, choices: bool = True) -> Answer:
        return 200, rid, {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1_700_000_000,
            "model": srv.model, "system_fingerprint": srv.fingerprint,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}] if choices else [],
            "usage": {"prompt_tokens": srv.usage[0], "completion_tokens": srv.usage[1],
                      "total_tokens": sum(srv.usage)}}

    if fault == "ok":
        return completion(f"answer to: {prompt}", "stop")
    if fault == "rate_limit":
        status, headers, body = err(429, "Rate limit reached for requests", "requests",
                                    "rate_limit_exceeded")
        return status, {**headers, **_retry_headers(srv),
                        "retry-after-ms": str(int(srv.retry_after_s * 1000))}, body
    if fault == "quota":
        return err(429, "You exceeded your current quota, please check your plan and billing "
                   "details.", "insufficient_quota", "insufficient_quota")
    if fault == "server_error":
        return err(500, "The server had an error while processing your request.", "server_error")
    if fault == "overloaded":
        return err(503, "The engine is currently overloaded, please try again later.",
                   "server_error")
    if fault == "auth":
        return err(401, f"Incorrect API key provided: {key.removeprefix('Bearer ')}. You can "
                   "find your API key at https://platform.openai.com/account/api-keys.",
                   "invalid_request_error", "invalid_api_key")
    if fault == "bad_request":
        return err(400, "Invalid value for 'temperature'.", "invalid_request_error")
    if fault == "not_found":
        return err(404, "The model does not exist.", "invalid_request_error", "model_not_found")
    if fault == "empty":
        return completion("unused", "stop", choices=False)
    if fault == "empty_text":
        return completion("", "stop")
    if fault == "safety":
        return completion(None, "content_filter")
    raise ValueError(f"fault {fault!r} not supported by the openai fake")


def _anthropic(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    rid = {"request-id": f"req_{n}"}

    def err(status: int, type_: str, message: str, **extra: Any) -> Answer:
        return status, rid, {"type": "error", "error": {"type": type_, "message": message,
                                                        **extra}, "request_id": f"req_{n}"}

    def message(blocks: list[dict[str, Any]], stop: str) -> Answer:
        return 200, rid, {
            "id": f"msg_{n}", "type": "message", "role": "assistant", "model": srv.model,
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": srv.usage[0], "output_tokens": srv.usage[1]}}

    if fault == "ok":
        return message([{"type": "text", "text": f"answer to: {prompt}"}], "end_turn")
    if fault == "rate_limit":
        status, headers, body = err(429, "rate_limit_error",
                                    "Number of request tokens has exceeded your rate limit.")
        return status, {**headers, **_retry_headers(srv)}, body
    if fault == "quota":
        return err(429, "rate_limit_error", "You have reached your API usage limits: your "
                   "organization has crossed its monthly API usage threshold.",
                   details={"error_code": "enforced_spend_limit_reached"})
    if fault == "server_error":
        return err(500, "api_error", "Internal server error")
    if fault == "overloaded":
        return err(529, "overloaded_error", "Overloaded")
    if fault == "auth":
        return err(401, "authentication_error", f"invalid x-api-key: {key}")
    if fault == "bad_request":
        return err(400, "invalid_request_error", "max_tokens: Field required")
    if fault == "not_found":
        return err(404, "not_found_error", "model: claude-nonexistent")
    if fault == "empty":
        return message([], "end_turn")
    if fault == "empty_text":
        return message([{"type": "text", "text": ""}], "end_turn")
    if fault == "safety":
        return message([], "refusal")
    raise ValueError(f"fault {fault!r} not supported by the anthropic fake")


def _gemini(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    def err(status: int, state: str, message: str, details: list[Any] | None = None) -> Answer:
        return status, {}, {"error": {"code": status, "message": message, "status": state,
                                      **({"details": details} if details else {})}}

    def generated(parts: list[dict[str, Any]] | None, finish: str | None,
                  candidates: bool = True, **extra: Any) -> Answer:
        candidate: dict[str, Any] = {"index": 0, "finishReason": finish}
        if parts is not None:
            candidate["content"] = {"role": "model", "parts": parts}
        return 200, {}, {
            "candidates": [candidate] if candidates else [],
            "usageMetadata": {"promptTokenCount": srv.usage[0],
                              "candidatesTokenCount": srv.usage[1],
                              "totalTokenCount": sum(srv.usage)},
            "modelVersion": srv.model, "responseId": f"resp_{n}", **extra}

    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                  "retryDelay": f"{srv.retry_after_s:g}s"}
    if fault == "ok":
        return generated([{"text": f"answer to: {prompt}"}], "STOP")
    if fault == "rate_limit":
        return err(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check "
                   "your plan and billing details.", [
                       {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                           {"quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                       retry_info])
    if fault == "quota":
        return err(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check "
                   "your plan and billing details.", [
                       {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                           {"quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                       retry_info])
    if fault == "server_error":
        return err(500, "INTERNAL", "An internal error has occurred.")
    if fault == "overloaded":
        return err(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fault == "auth":
        return err(400, "INVALID_ARGUMENT", f"API key not valid ({key}). Please pass a valid "
                   "API key.", [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "API_KEY_INVALID",
                                 "domain": "googleapis.com"}])
    if fault == "bad_request":
        return err(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if fault == "not_found":
        return err(404, "NOT_FOUND", "models/gemini-nonexistent is not found for API version "
                   "v1beta.")
    if fault == "empty":
        return generated(None, None, candidates=False)
    if fault == "empty_text":
        return generated([{"text": ""}], "STOP")
    if fault == "safety":
        return generated(None, "SAFETY")
    if fault == "blocked":
        return generated(None, None, candidates=False,
                         promptFeedback={"blockReason": "SAFETY"})
    raise ValueError(f"fault {fault!r} not supported by the gemini fake")


ANSWERS: dict[str, Callable[[FakeLLMServer, str, str, int, str], Answer]] = {
    "openai": _openai, "anthropic": _anthropic, "gemini": _gemini}
