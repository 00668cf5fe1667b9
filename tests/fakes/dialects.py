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


_FILTER_OK = {"hate": {"filtered": False, "severity": "safe"},
              "self_harm": {"filtered": False, "severity": "safe"},
              "sexual": {"filtered": False, "severity": "safe"},
              "violence": {"filtered": False, "severity": "safe"}}


def _azure_openai(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    """OpenAI's answers plus Azure's: apim-request-id, content-filter results, the filters."""
    rid = {"apim-request-id": f"apim-{n}"}
    if fault == "prompt_filtered":
        return 400, rid, {"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                       "content management policy.", "type": None, "param": "prompt",
            "code": "content_filter", "status": 400, "innererror": {
                "code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    **_FILTER_OK, "jailbreak": {"filtered": True, "detected": True}}}}}
    if fault == "auth":
        return 401, rid, {"error": {"code": "401", "message": f"Access denied for {key}: "
                                    "invalid subscription key or wrong API endpoint."}}
    if fault == "not_found":
        return 404, rid, {"error": {"code": "DeploymentNotFound", "message": "The API "
                                    "deployment for this resource does not exist."}}
    status, headers, body = _openai(srv, "safety" if fault == "safety" else fault, prompt, n,
                                    key)
    headers = {**headers, **rid}
    if status == 200 and isinstance(body, dict):
        body["prompt_filter_results"] = [{"prompt_index": 0,
                                          "content_filter_results": _FILTER_OK}]
        for choice in body.get("choices", []):
            results = dict(_FILTER_OK)
            if choice.get("finish_reason") == "content_filter":
                results["violence"] = {"filtered": True, "severity": "high"}
            choice["content_filter_results"] = results
    return status, headers, body


def _bedrock(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    rid = {"x-amzn-RequestId": f"0000-{n}"}

    def err(code: str, status: int, message: str) -> Answer:
        return status, {**rid, "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"
                        "com.amazon.bedrock/"}, {"message": message}

    def converse(content: list[dict[str, Any]] | None, stop: str) -> Answer:
        output = {"message": {"role": "assistant", "content": content}} if content is not None \
            else {}
        return 200, rid, {"output": output, "stopReason": stop,
                          "usage": {"inputTokens": srv.usage[0], "outputTokens": srv.usage[1],
                                    "totalTokens": sum(srv.usage)},
                          "metrics": {"latencyMs": 87}}

    if fault == "ok":
        return converse([{"text": f"answer to: {prompt}"}], "end_turn")
    if fault == "rate_limit":
        return err("ThrottlingException", 429, "Too many requests, please wait before trying "
                   "again.")
    if fault == "not_ready":
        return err("ModelNotReadyException", 429, "Model is not ready for inference. Please "
                   "retry later.")
    if fault == "quota":
        return err("ServiceQuotaExceededException", 400, "Your request exceeds the service "
                   "quota for your account.")
    if fault == "server_error":
        return err("InternalServerException", 500, "The server encountered an error.")
    if fault == "overloaded":
        return err("ServiceUnavailableException", 503, "Bedrock is unable to process your "
                   "request.")
    if fault == "auth":
        # InvalidSignatureException quotes the canonical request, session token included
        return err("InvalidSignatureException", 403, "The request signature we calculated does "
                   f"not match.\nThe Canonical String ...\nx-amz-security-token:{key}\n")
    if fault == "access_denied":
        return err("AccessDeniedException", 403, "You don't have access to the model with the "
                   "specified model ID.")
    if fault == "bad_request":
        return err("ValidationException", 400, "Malformed input request: #/temperature: 3.0 "
                   "is not less or equal to 1.0")
    if fault == "not_found":
        return err("ResourceNotFoundException", 404, "Model not found.")
    if fault == "empty":
        return converse(None, "end_turn")
    if fault == "empty_text":
        return converse([{"text": ""}], "end_turn")
    if fault == "safety":
        return converse([{"text": ""}], "guardrail_intervened")
    raise ValueError(f"fault {fault!r} not supported by the bedrock fake")


def _vertex(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    """The Gemini answers (Vertex speaks the same JSON), with Vertex's auth error."""
    if fault == "auth":
        return 401, {}, {"error": {"code": 401, "message": "Request had invalid authentication "
                                   f"credentials ({key}).", "status": "UNAUTHENTICATED"}}
    return _gemini(srv, fault, prompt, n, key)


def _openai_responses(srv: FakeLLMServer, fault: str, prompt: str, n: int,
                      key: str) -> Answer:
    rid = {"x-request-id": f"req_{n}"}

    def response(message: list[dict[str, Any]] | None, status: str = "completed",
                 incomplete: str | None = None, error: dict[str, Any] | None = None,
                 reasoning: bool = True) -> Answer:
        output: list[dict[str, Any]] = []
        if reasoning:
            output.append({"id": f"rs_{n}", "type": "reasoning", "summary": []})
        if message is not None:
            output.append({"id": f"msg_{n}", "type": "message", "status": "completed",
                           "role": "assistant", "content": message})
        return 200, rid, {
            "id": f"resp_{n}", "object": "response", "created_at": 1_700_000_000,
            "status": status, "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": srv.model, "output": output,
            "usage": {"input_tokens": srv.usage[0], "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": srv.usage[1],
                      "output_tokens_details": {"reasoning_tokens": srv.reasoning_tokens},
                      "total_tokens": sum(srv.usage)}}

    def text(t: str) -> list[dict[str, Any]]:
        return [{"type": "output_text", "text": t, "annotations": []}]

    if fault == "ok":
        return response(text(f"answer to: {prompt}"))
    if fault == "incomplete":
        return response(text(f"answer to: {prompt} (cut"), "incomplete", "max_output_tokens")
    if fault == "reasoning_only":
        return response(None, "incomplete", "max_output_tokens")
    if fault == "failed":
        return response(None, "failed", error={"code": "server_error",
                                               "message": "The model failed."})
    if fault == "refusal":
        return response([{"type": "refusal", "refusal": "I can't help with that."}])
    if fault == "empty":
        return response(None, reasoning=False)
    if fault == "empty_text":
        return response(text(""))
    if fault == "safety":
        return response(None, "incomplete", "content_filter", reasoning=False)
    return _openai(srv, fault, prompt, n, key)


ANSWERS: dict[str, Callable[[FakeLLMServer, str, str, int, str], Answer]] = {
    "openai": _openai, "anthropic": _anthropic, "gemini": _gemini,
    "azure_openai": _azure_openai, "bedrock": _bedrock, "vertex": _vertex,
    "openai_responses": _openai_responses}
