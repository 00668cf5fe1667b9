"""Replay: answers from a recorded JSONL file, keyed by prompt. Deterministic; needs no network.

Used by the quickstart, the demo, the tests, and for back-testing on a user's own logs.
Target ``params``:

``recording``  a JSONL path (relative to the config file) or ``builtin:llmdrift-gpt35`` for the
               bundled GPT-3.5 March/June 2023 responses (Apache-2.0, see data/.../README.md)
``snapshot``   keep only records whose ``snapshot`` field equals this (e.g. ``"2023-03"``)
``delay_s``    optional: sleep this long per call (to simulate a slow provider)

Each record needs ``prompt`` and ``response``; optional ``system``, ``model``, ``fingerprint``,
``snapshot``, ``latency_s``, ``response_tokens``, ``prompt_tokens``, ``finish_reason``. Several
records for one prompt are answered in turn by sample index.
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

from drift_monitor.errors import ConfigError, ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest, Provider

BUILTIN_PREFIX = "builtin:"
BUILTIN = {"llmdrift-gpt35": Path(__file__).resolve().parent.parent / "data" / "llmdrift_gpt35"}

Key = tuple[str, str]
# bounds on what a recording may make the process read (README: reliability)
MAX_RECORDING_BYTES = 256 * 1024 * 1024
MAX_LINE_CHARS = 8 * 1024 * 1024
MAX_DELAY_S = 600.0  # a simulated slow provider, not a hung round


def _key(system: str | None, prompt: str) -> Key:
    return (system or "").strip(), prompt.strip()


def recording_files(spec: str, base_dir: Path) -> list[Path]:
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX):]
        if name not in BUILTIN:
            raise ConfigError(f"unknown built-in recording '{name}' (available: "
                              f"{', '.join(sorted(BUILTIN))})", key="params.recording")
        return sorted(BUILTIN[name].glob("*.jsonl"))
    path = Path(spec)
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
    elif not path.exists():
        raise ConfigError(f"recording {path} does not exist", key="params.recording")
    else:
        files = [path]
    for f in files:
        # /dev/zero, a FIFO or a 40 GB log would be read without end
        if not f.is_file():
            raise ConfigError(f"recording {f} is not a regular file", key="params.recording")
        size = f.stat().st_size
        if size > MAX_RECORDING_BYTES:
            raise ConfigError(f"recording {f} is {size:,} bytes, over the "
                              f"{MAX_RECORDING_BYTES // (1024 * 1024)} MB limit (split it into "
                              "several files in one directory)", key="params.recording")
    return files


@functools.lru_cache(maxsize=32)
def load_recording(files: tuple[Path, ...],
                   snapshot: str | None) -> dict[Key, list[dict[str, Any]]]:
    """Index records by (system, prompt). Raises ConfigError naming file and line if broken."""
    index: dict[Key, list[dict[str, Any]]] = {}
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as fh:
            read = 0
            for lineno, line in enumerate(iter(lambda: fh.readline(MAX_LINE_CHARS + 1), ""), 1):
                read += len(line)
                if len(line) > MAX_LINE_CHARS or read > MAX_RECORDING_BYTES:
                    raise ConfigError(f"line is over the {MAX_LINE_CHARS // (1024 * 1024)} MB "
                                      "limit for one record (or the file grew past its limit)",
                                      file=str(path), line=lineno)
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    msg = getattr(exc, "msg", "nested too deeply")
                    raise ConfigError(f"line is not JSON: {msg}", file=str(path),
                                      line=lineno) from None
                if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str) \
                        or not isinstance(rec.get("response"), str):
                    raise ConfigError("a record needs string fields 'prompt' and 'response'",
                                      file=str(path), line=lineno)
                if snapshot is not None and str(rec.get("snapshot")) != snapshot:
                    continue
                index.setdefault(_key(rec.get("system"), rec["prompt"]), []).append(rec)
    return index


class ReplayProvider(Provider):
    name = "replay"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        params = self.target.params
        spec = params.get("recording")
        if not isinstance(spec, str):
            raise ConfigError(f"target '{self.target.name}': the replay provider needs "
                              "params.recording (a JSONL path or builtin:llmdrift-gpt35)",
                              key="params.recording")
        snapshot = params.get("snapshot")
        files = tuple(recording_files(spec, self.base_dir))
        if not files:
            raise ConfigError(f"recording '{spec}' holds no .jsonl files", key="params.recording")
        self.index = load_recording(files, None if snapshot is None else str(snapshot))
        if not self.index:
            raise ConfigError(f"recording '{spec}' has no records for snapshot {snapshot!r}",
                              key="params.snapshot")
        delay = params.get("delay_s", 0) or 0
        if isinstance(delay, bool) or not isinstance(delay, int | float) \
                or not 0 <= delay <= MAX_DELAY_S:
            raise ConfigError(f"target '{self.target.name}': params.delay_s must be a number "
                              f"of seconds from 0 to {MAX_DELAY_S:g}", key="params.delay_s")
        self.delay_s = float(delay)

    async def send(self, request: ProbeRequest) -> CallResult:
        system = next((m["content"] for m in request.messages if m["role"] == "system"), None)
        prompt = next(m["content"] for m in reversed(request.messages) if m["role"] == "user")
        records = self.index.get(_key(system, prompt))
        if records is None:
            records = self.index.get(_key(None, prompt))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not records:
            raise ProviderCallError(ErrorKind.BAD_REQUEST,
                                    f"no recorded response for probe '{request.probe_id}'",
                                    retryable=False)
        rec = records[request.sample_index % len(records)]
        latency = rec.get("latency_s")
        return CallResult(
            text=rec["response"], finish_reason=rec.get("finish_reason", "stop"),
            input_tokens=rec.get("prompt_tokens"), output_tokens=rec.get("response_tokens"),
            latency_ms=float(latency) * 1000 if isinstance(latency, int | float) else None,
            model_returned=rec.get("model", self.target.model),
            fingerprint=rec.get("fingerprint"), request_id=None, http_status=None)
