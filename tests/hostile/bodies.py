"""The table of hostile answers, built for each wire format: valid bodies carrying hostile
field values (NUL, lone surrogates, huge numbers, over-long strings, wrong types) and broken
bodies (HTML, truncated JSON, nesting 100,000 deep, a gzip bomb, nothing at all).

Each case says what must become of it: ``ok`` (stored as an answer, normalised) or the
failure kind it must be stored as.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

from tests.fakes.llm_servers import Canned

LONG = "L" * 5000
BIG_TEXT = "word " * 600_000  # 3 MB: under the 4 MB body limit, so it is an answer


@dataclass(frozen=True)
class Fields:
    text: Any = "a normal answer"
    model: Any = "m-returned"
    finish: Any = None  # None: the dialect's normal stop
    usage: Any = (10, 20)
    rid: Any = "req-1"
    fingerprint: Any = "fp_1"


def body(dialect: str, f: Fields) -> dict[str, Any]:
    """A well-formed answer of ``dialect`` with the fields of ``f``."""
    inp, out = f.usage if isinstance(f.usage, tuple) else (f.usage, f.usage)
    if dialect == "openai":
        return {"id": f.rid, "object": "chat.completion", "model": f.model,
                "system_fingerprint": f.fingerprint,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f.text},
                             "finish_reason": f.finish or "stop"}],
                "usage": {"prompt_tokens": inp, "completion_tokens": out}}
    if dialect == "anthropic":
        return {"id": f.rid, "type": "message", "role": "assistant", "model": f.model,
                "content": [{"type": "text", "text": f.text}],
                "stop_reason": f.finish or "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": out}}
    if dialect == "azure_openai":
        return body("openai", f)
    if dialect == "vertex":
        return body("gemini", f)
    if dialect == "bedrock":  # Converse names no model and no request id in its body
        return {"output": {"message": {"role": "assistant", "content": [{"text": f.text}]}},
                "stopReason": f.finish or "end_turn",
                "usage": {"inputTokens": inp, "outputTokens": out, "totalTokens": 0}}
    if dialect == "openai_responses":
        return {"id": f.rid, "object": "response", "status": "completed", "model": f.model,
                "output": [{"id": "msg_1", "type": "message", "status": "completed",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": f.text,
                                         "annotations": []}]}],
                "usage": {"input_tokens": inp, "output_tokens": out}}
    if dialect == "gemini":
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": f.text}]},
                                "finishReason": f.finish or "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": inp, "candidatesTokenCount": out},
                "modelVersion": f.model, "responseId": f.rid}
    raise ValueError(dialect)


def _gzip_bomb() -> bytes:
    return gzip.compress(b"{" + b" " * (64 * 1024 * 1024) + b"}", compresslevel=9)


_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    global _BOMB
    if _BOMB is None:
        _BOMB = _gzip_bomb()
    return _BOMB


# case name -> (how the body is made, expected outcome: "ok" or an error kind)
FIELD_CASES: dict[str, tuple[Fields, str]] = {
    "nul-in-text": (Fields(text="bad \x00 nul"), "ok"),
    "nul-in-model": (Fields(model="gpt\x00-4o"), "ok"),
    "surrogate-in-text": (Fields(text="bad \ud800 surrogate"), "ok"),
    "surrogate-in-model": (Fields(model="m-\udfff"), "ok"),
    "long-model": (Fields(model=LONG), "ok"),
    "long-request-id": (Fields(rid=LONG), "ok"),
    "long-fingerprint": (Fields(fingerprint=LONG), "ok"),
    "long-finish-reason": (Fields(finish="F" * 500), "ok"),
    "tokens-2-31": (Fields(usage=(2**31, 2**31 + 5)), "ok"),
    "tokens-10-30": (Fields(usage=(10**30, 10**30)), "ok"),
    "tokens-negative": (Fields(usage=(-5, -7)), "ok"),
    "tokens-wrong-type": (Fields(usage=("lots", [1])), "ok"),
    "model-wrong-type": (Fields(model={"a": 1}), "ok"),
    "big-text": (Fields(text=BIG_TEXT), "ok"),
    "text-wrong-type": (Fields(text=12345), "malformed"),
    "text-deeply-nested-json": (Fields(text="[" * 50_000 + "]" * 50_000), "ok"),
}
RAW_CASES: dict[str, tuple[Canned, str]] = {
    "html": (Canned(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                    (("Content-Type", "text/html"),)), "malformed"),
    "truncated-json": (Canned(200, b'{"choices": [{"message": {"content": "hal',
                              (("Content-Type", "application/json"),)), "malformed"),
    "nested-100000": (Canned(200, b"[" * 100_000 + b"]" * 100_000,
                             (("Content-Type", "application/json"),)), "malformed"),
    "empty-body": (Canned(200, b"", (("Content-Type", "application/json"),)), "malformed"),
    "json-array": (Canned(200, b"[1, 2, 3]", (("Content-Type", "application/json"),)),
                   "malformed"),
    "json-string": (Canned(200, b'"just a string"', (("Content-Type", "application/json"),)),
                    "malformed"),
    "invalid-utf8": (Canned(200, b'{"x": "\xff\xfe"}', (("Content-Type", "application/json"),)),
                     "malformed"),
}


def gzip_case() -> tuple[Canned, str]:
    return (Canned(200, gzip_bomb(), (("Content-Type", "application/json"),
                                      ("Content-Encoding", "gzip"))), "malformed")


def wrong_shape(dialect: str) -> dict[str, Any]:
    """A JSON object of the right kind with the answer list replaced by a string."""
    b = body(dialect, Fields())
    key = {"openai": "choices", "anthropic": "content", "gemini": "candidates",
           "azure_openai": "choices", "vertex": "candidates", "bedrock": "output",
           "openai_responses": "output"}[dialect]
    b[key] = "not a list"
    return b
