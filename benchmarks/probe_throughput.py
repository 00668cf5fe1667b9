"""Probe-round throughput: N calls against a loopback server that answers after a fixed delay.

    python benchmarks/probe_throughput.py                    # 1,000 calls, concurrency 50
    python benchmarks/probe_throughput.py --transports aiohttp,httpcore --dbs none,sqlite
    python benchmarks/probe_throughput.py --dbs none \
        --provider openai,azure_openai,bedrock,vertex,openai_responses

With 1,000 calls, concurrency 50 and 100 ms per answer the ideal wall time is 2.0 s; the script
prints the achieved time, efficiency = ideal / achieved, and the peak RSS of the process that ran
the round (and the CPU it used per call, which other load on the machine disturbs less than
the wall time). Each measurement runs in a fresh child process (so peak RSS is its own), and the
server runs in another: a raw asyncio protocol that parses just enough HTTP/1.1 and answers from
a timer, so it costs a few microseconds per request and the client is what gets measured.
The clock covers the whole ``probe_round`` (target and probe rows, the run, every call, every
write, the run's summary) in a process that has already imported its modules and, unless
``--cold``, run one 10-call round, as a daemon has: its pool and statement cache are warm.

``--dbs``: ``none`` (bare provider calls, no persistence), ``sqlite`` (a temporary file),
``postgresql`` (a fresh schema at ``--pg``, default DRIFT_MONITOR_TEST_PG_URL or the local
``test`` database). ``--transports``: ``aiohttp`` (httpx with the httpx-aiohttp transport, the
providers' default) and ``httpcore`` (stock httpx). ``--provider``: the provider kinds to
measure (default ``openai``); the server answers in each one's wire format, and the client does
all its per-call work (Bedrock signs every request with SigV4, Vertex checks its OAuth token,
Azure sends its api-version and key). The server checks no credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PG = os.environ.get("DRIFT_MONITOR_TEST_PG_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEY_ENV = "PROBE_THROUGHPUT_KEY"

# --- the server (its own process) -------------------------------------------------------------

_TEXT = "The order shipped on Monday and should arrive within three to five business days. " * 3
_BODIES: dict[str, Any] = {
    "openai": {
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_bench", "usage": {"prompt_tokens": 25, "completion_tokens": 60},
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": _TEXT}}]},
    "openai_responses": {
        "id": "resp_bench", "object": "response", "status": "completed", "model": "gpt-4.1",
        "output": [{"type": "reasoning", "id": "rs_1", "summary": []},
                   {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": _TEXT, "annotations": []}]}],
        "usage": {"input_tokens": 25, "output_tokens": 60,
                  "output_tokens_details": {"reasoning_tokens": 10}}},
    "bedrock": {
        "output": {"message": {"role": "assistant", "content": [{"text": _TEXT}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 25, "outputTokens": 60},
        "metrics": {"latencyMs": 100}},
    "vertex": {
        "candidates": [{"content": {"role": "model", "parts": [{"text": _TEXT}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 25, "candidatesTokenCount": 60},
        "modelVersion": "gemini-1.5-pro-002", "responseId": "bench"},
}
_BODIES["azure_openai"] = {**_BODIES["openai"], "prompt_filter_results": [
    {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False,
                                                            "severity": "safe"}}}]}
PROVIDERS = tuple(_BODIES)


def _response(provider: str) -> bytes:
    body = json.dumps(_BODIES[provider]).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_bench\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


_RESPONSE = _response("openai")


class _Answerer(asyncio.Protocol):
    """HTTP/1.1 keep-alive: for each complete request, answer after ``delay`` seconds."""

    delay = 0.1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buf = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            self.loop.call_later(self.delay, self._answer)

    def _answer(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(_RESPONSE)


async def _serve(delay: float, provider: str) -> None:
    global _RESPONSE
    _RESPONSE = _response(provider)
    _Answerer.delay = delay
    server = await asyncio.get_running_loop().create_server(_Answerer, "127.0.0.1", 0,
                                                            backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


# --- one measurement (its own process) --------------------------------------------------------


def _pg_schema_url(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _target_keys(provider: str, port: int) -> dict[str, Any]:
    """The target keys of ``provider`` pointed at the bench server, and its credentials set up
    offline (AWS keys in the environment, a Google token that stays valid for the run)."""
    base = f"http://127.0.0.1:{port}"
    if provider == "openai":
        return {"model": "gpt-4o", "base_url": base + "/v1", "api_key_env": KEY_ENV}
    if provider == "openai_responses":
        return {"model": "gpt-4.1", "base_url": base + "/v1", "api_key_env": KEY_ENV}
    if provider == "azure_openai":
        return {"model": "gpt-4o", "base_url": base, "deployment": "bench",
                "api_version": "2024-10-21", "api_key_env": KEY_ENV}
    if provider == "bedrock":
        os.environ.update({"AWS_ACCESS_KEY_ID": "AKIABENCH", "AWS_SECRET_ACCESS_KEY": "bench",
                           "AWS_SESSION_TOKEN": "bench-token",
                           "AWS_EC2_METADATA_DISABLED": "true"})
        import botocore.auth  # noqa: F401 - a daemon has it imported after its first round

        return {"model": "anthropic.claude-3-5-sonnet-20240620-v1:0", "base_url": base,
                "region": "us-east-1"}
    if provider == "vertex":
        import datetime as dt

        import google.oauth2.credentials

        from drift_monitor.providers import vertex

        expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
        token = google.oauth2.credentials.Credentials(token="ya29.bench", expiry=expiry)
        vertex._default_credentials = lambda: token  # type: ignore[assignment]
        return {"model": "gemini-1.5-pro-002", "base_url": base + "/v1",
                "project": "bench-project", "location": "us-central1"}
    raise SystemExit(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")


def _measure(port: int, db: str, transport_name: str, calls: int, concurrency: int,
             pg: str, warm: bool, provider: str = "openai") -> dict[str, Any]:
    import httpx

    from drift_monitor.config import Config, Settings
    from drift_monitor.probes import Probe, probe_version
    from drift_monitor.providers.base import ProbeRequest
    from drift_monitor.runner import make_provider, probe_round
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    os.environ[KEY_ENV] = "sk-bench-not-a-real-key"
    samples = 10
    settings = Settings.model_validate({"targets": [{
        "name": "bench", "provider": provider, **_target_keys(provider, port),
        "suites": ["bench"],
        "samples": samples, "params": {"temperature": 0, "max_tokens": 200},
        "limits": {"concurrency": concurrency, "timeout_s": 30, "max_attempts": 1},
        "price": {"input_per_mtok": 2.5, "output_per_mtok": 10}}]})
    tmp = Path(tempfile.mkdtemp(prefix="probe-throughput-"))
    config = Config(settings=settings, path=tmp / "drift-monitor.yaml", lines={},
                    database_url="")
    target = settings.targets[0]
    probes = []
    for i in range(calls // samples):
        messages = [{"role": "system", "content": "Reply in one short paragraph."},
                    {"role": "user", "content": f"Where is my order {1000 + i}?"}]
        probes.append(Probe(suite="bench", id=f"order-{i}", messages=tuple(messages),
                            expect=None, samples=samples, version=probe_version(messages, None),
                            file="<bench>"))
    # a daemon imports these once, before its first round; do it before the clock starts too
    import httpx_aiohttp  # noqa: F401

    from drift_monitor.providers import provider_class

    provider_class(provider)

    transport = None
    if transport_name == "httpcore":
        transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency))

    if db == "none":
        async def bare() -> tuple[float, float, int]:
            provider = make_provider(config, target, transport)
            await provider.open()
            sem = asyncio.Semaphore(concurrency)

            async def one(probe: Probe, i: int) -> bool:
                async with sem:
                    await provider.send(ProbeRequest(probe.messages, target.params, probe.id, i))
                    return True

            start = time.perf_counter()
            cpu_start = time.process_time()
            ok = await asyncio.gather(*(one(p, i) for p in probes for i in range(samples)))
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            await provider.aclose()
            return elapsed, cpu, sum(ok)

        elapsed, cpu, ok = asyncio.run(bare())
    else:
        schema = None
        if db == "sqlite":
            url = f"sqlite:///{tmp / 'bench.db'}"
        else:
            url, schema = _pg_schema_url(pg)
        engine = make_engine(url)
        try:
            ensure_schema(engine)
            store = Store(engine)
            if warm:
                # the daemon's earlier rounds leave its connection pool and SQLAlchemy's
                # statement cache warm; a 10-call round of other probes does the same here
                warmup = [Probe(suite="warmup", id=f"w{i}", messages=p.messages, expect=None,
                                samples=1, version=f"warmup{i:012d}", file="<bench>")
                          for i, p in enumerate(probes[:10])]
                asyncio.run(probe_round(config, target, store, warmup, samples=1,
                                        transport=None if transport is None else
                                        httpx.AsyncHTTPTransport()))
            start = time.perf_counter()
            cpu_start = time.process_time()  # all threads: the writer's work counts too
            summary = asyncio.run(probe_round(config, target, store, probes,
                                              transport=transport))
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            ok = summary.ok
        finally:
            engine.dispose()
            if schema:
                _drop_schema(pg, schema)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"elapsed": elapsed, "ok": ok, "peak_rss_mb": peak_kb / 1024,
            "cpu_us_per_call": cpu / calls * 1e6}


# --- the driver -------------------------------------------------------------------------------


def _pg_reason(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                             connect_timeout=3):
            return None
    except Exception as exc:  # report and skip, whatever the reason
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="server delay in seconds")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration")
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--transports", default="aiohttp")
    parser.add_argument("--provider", default="openai",
                        help=f"comma-separated provider kinds ({', '.join(PROVIDERS)})")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--cold", action="store_true",
                        help="time the first round of a fresh process (no warm-up round)")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=4, metavar=("PORT", "DB", "TRANSPORT", "PROVIDER"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--serve-as", default="openai", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve is not None:
        asyncio.run(_serve(args.serve, args.serve_as))
        return 0
    if args.measure:
        port, db, transport, provider = args.measure
        print(json.dumps(_measure(int(port), db, transport, args.calls, args.concurrency,
                                  args.pg, warm=not args.cold, provider=provider)))
        return 0
    providers = args.provider.split(",")
    unknown = [p for p in providers if p not in PROVIDERS]
    if unknown:
        parser.error(f"unknown provider(s) {', '.join(unknown)} (known: {', '.join(PROVIDERS)})")

    ideal = args.calls / args.concurrency * args.latency
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    print(f"{args.calls} calls, concurrency {args.concurrency}, server delay "
          f"{args.latency * 1000:g} ms: ideal {ideal:.2f} s; median of {args.repeat} runs, "
          + ("first round of a fresh process" if args.cold else "after a 10-call warm-up "
             "round (as in a running daemon)"))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other "
          "work on the machine lowers the figures)")
    print(f"{'provider':<17} {'transport':<10} {'database':<11} {'achieved s':>10} "
          f"{'efficiency':>10} {'best':>6} {'peak RSS MB':>11} {'CPU us/call':>11} {'ok':>6}")
    for provider in providers:
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(args.latency),
                                   "--serve-as", provider],
                                  stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            for transport in args.transports.split(","):
                for db in args.dbs.split(","):
                    label = f"{provider:<17} {transport:<10} {db:<11}"
                    if db == "postgresql" and (reason := _pg_reason(args.pg)):
                        print(f"{label} skipped: {reason}")
                        continue
                    runs = []
                    for _ in range(args.repeat):
                        out = subprocess.run(
                            [sys.executable, __file__, "--measure", str(port), db, transport,
                             provider, "--calls", str(args.calls),
                             "--concurrency", str(args.concurrency), "--pg", args.pg,
                             *(["--cold"] if args.cold else [])],
                            capture_output=True, text=True, env=env, check=True)
                        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                    elapsed = statistics.median(r["elapsed"] for r in runs)
                    best = min(r["elapsed"] for r in runs)
                    rss = max(r["peak_rss_mb"] for r in runs)
                    cpu = statistics.median(r["cpu_us_per_call"] for r in runs)
                    ok = min(r["ok"] for r in runs)
                    print(f"{label} {elapsed:>10.2f} {ideal / elapsed:>10.2f} "
                          f"{ideal / best:>6.2f} {rss:>11.0f} {cpu:>11.0f} {ok:>6}", flush=True)
        finally:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
