"""Provider finish reasons grouped by what they mean for the analysis.

The raw value is stored with each answer; these sets let the providers tell a safety stop from a
malformed answer and let detection compare truncation or refusal rates across providers. One
copy for both, low in the layers, so the two can never disagree on what counts as truncated.
"""

from __future__ import annotations

SAFETY_FINISHES = frozenset({
    "content_filter", "refusal",                                   # OpenAI, Anthropic
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT",     # Gemini
    "SPII", "IMAGE_SAFETY", "LANGUAGE",
    "content_filtered", "guardrail_intervened",                    # Bedrock Converse
})
# the answer was cut off (output limit or context window)
LENGTH_FINISHES = frozenset({"length", "max_tokens", "MAX_TOKENS",
                             "model_context_window_exceeded", "max_output_tokens"})
STOP_FINISHES = frozenset({"stop", "end_turn", "stop_sequence", "STOP", "completed"})
TOOL_FINISHES = frozenset({"tool_calls", "function_call", "tool_use", "pause_turn",
                           "MALFORMED_FUNCTION_CALL"})
PROMPT_BLOCKED_PREFIX = "prompt_blocked:"


def finish_category(finish_reason: str | None) -> str:
    """``stop``, ``length``, ``safety``, ``tool`` or ``other`` for any provider's finish reason."""
    if finish_reason is None:
        return "other"
    if finish_reason in SAFETY_FINISHES or finish_reason.startswith(PROMPT_BLOCKED_PREFIX):
        return "safety"
    if finish_reason in LENGTH_FINISHES:
        return "length"
    if finish_reason in STOP_FINISHES:
        return "stop"
    if finish_reason in TOOL_FINISHES:
        return "tool"
    return "other"


def is_safety_stop(finish_reason: str | None) -> bool:
    return finish_category(finish_reason) == "safety"
