"""Google Gemini API ``generateContent``, with the key in the ``x-goog-api-key`` header (never in
the URL: URLs end up in logs).

The wire format (the body from the probe and the target's params, the answer, the quota and
rate-limit reading) lives in ``_gemini_wire.py``, shared with ``vertex``.
"""

from __future__ import annotations

from drift_monitor.providers._gemini_wire import GeminiWireProvider


class GeminiProvider(GeminiWireProvider):
    name = "gemini"
