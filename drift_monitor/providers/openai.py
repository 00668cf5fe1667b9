"""OpenAI chat completions; works with any OpenAI-compatible server (vLLM, Ollama, ...).

The wire format (``POST {base_url}/chat/completions``, the answer's content, finish reason, usage,
model, fingerprint and request id; quota 429s as ``quota``) lives in ``_openai_chat.py``, shared
with ``azure_openai``.
"""

from __future__ import annotations

from drift_monitor.providers._openai_chat import OpenAIChatProvider


class OpenAIProvider(OpenAIChatProvider):
    name = "openai"
