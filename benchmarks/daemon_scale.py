"""Scale of the daemon pool: 100 targets x 20 probes every 5 minutes, one daemon vs three on one
PostgreSQL database, against a loopback OpenAI-compatible server.

    python benchmarks/daemon_scale.py                       # both phases, ~8 minutes
    python benchmarks/daemon_scale.py --phases 3 --seconds 120
    DRIFT_MONITOR_TEST_PG_URL=postgresql+psycopg://... python benchmarks/daemon_scale.py

The clock is compressed by ``--compress`` (default 5): the schedule is ``every 300/k s`` and the
fake server answers each call after ``--latency / k`` seconds (default 1 s real, so 0.2 s), so
the share of an interval a round spends waiting for answers is the same as in real time. CPU work
(feature extraction, checks) cannot be compressed: at k = 5 each daemon does five times the
checks per wall-clock second that it would in production, so the figures are pessimistic by up
to that factor for anything CPU-bound.

Each phase starts from an empty PostgreSQL schema, starts N daemons (real subprocesses of
``drift-monitor run``), lets them run for ``--seconds``, stops them with SIGTERM and reads the
database:

- slot lag: ``slot_claims.claimed_at - scheduled_for`` of every claimed slot (p50, p99, max);
- missed slots: claims recorded ``missed``; slots run twice: schedule runs sharing (target,
  slot) (must be 0);
- share of the slots each daemon ran;
- rounds and checks done (from the daemons' log events), and checks skipped because the
  target's previous check still ran;
- CPU: user + system seconds of each daemon (/proc) per round done; CPU per round alone and per
  check alone measured in this process afterwards (``time.process_time`` around ``probe_round``
  and ``run_check`` on a few targets of the phase's database; the fake server runs in a
  subprocess, so its work is not counted);
- peak RSS of each daemon (VmHWM).

Linux only (/proc). Needs PostgreSQL (the test server at DRIFT_MONITOR_TEST_PG_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_URL = os.environ.get("DRIFT_MONITOR_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")

SERVER = """\
import sys, time
from tests.fakes.llm_servers import FakeLLMServer
s = FakeLLMServer("openai", latency_s=float(sys.argv[1])).start()
print(s.base_url, flush=True)
while True:
    time.sleep(3600)
"""
TARGET = """\
  - name: t{i:03d}
    provider: openai
    model: gpt-4o
    base_url: {base_url}
    api_key_env: SCALE_KEY
    suites: [scale]
    samples: 1
    schedule: "every {interval:g}s"
    params: {{temperature: 0, max_tokens: 200}}
    limits: {{concurrency: 8}}
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
"""
TOPICS = ["a JSON object with keys name and age", "three bullet points about tea",
          "a Python function that reverses a string", "a polite refusal to share a password",
          "the capital of France", "whether 17077 is prime", "a haiku about rain",
          "an apology for a late delivery", "the sum of 2 and 2", "a one-line summary of HTTP"]


def probes_yaml(n: int) -> str:
    lines = ["suite: scale", "probes:"]
    for i in range(n):
        lines += [f"  - id: p{i:02d}", f"    prompt: Write {TOPICS[i % len(TOPICS)]} (#{i})."]
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    ys = sorted(xs)
    k = (len(ys) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ys) - 1)
    return ys[lo] + (ys[hi] - ys[lo]) * (k - lo)


class Schema:
    """A PostgreSQL schema of its own, dropped afterwards."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"scale_{uuid.uuid4().hex[:10]}"
        self.conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        sep = "&" if "?" in PG_URL else "?"
        self.url = f"{PG_URL}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.name}" CASCADE')


def measure_cpu(config_path: Path, url: str, samples: int = 4) -> dict[str, float | None]:
    """CPU seconds of one round and of one check, in this process."""
    os.environ["DRIFT_MONITOR_DATABASE_URL"] = url
    os.environ["SCALE_KEY"] = "sk-scale-benchmark-key"
    from drift_monitor.app.checks import run_check
    from drift_monitor.config import load_config
    from drift_monitor.runner import probe_round
    from drift_monitor.storage.engine import make_engine
    from drift_monitor.storage.queries import Store

    config = load_config(config_path)
    library = config.load_probes()
    store = Store(make_engine(url))
    rounds, checks = [], []
    try:
        for t in config.targets()[:samples]:
            probes = library.select(t.suites)
            c0 = time.process_time()
            asyncio.run(probe_round(config, t, store, probes, trigger="manual"))
            rounds.append(time.process_time() - c0)
            c0 = time.process_time()
            result = run_check(config, t, store, notify=False)
            if result.error is None:
                checks.append(time.process_time() - c0)
    finally:
        store.engine.dispose()
    return {"cpu_s_per_round": round(statistics.median(rounds), 3) if rounds else None,
            "cpu_s_per_check": round(statistics.median(checks), 3) if checks else None}


def read_results(url: str) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        claims = conn.execute(text(
            "SELECT daemon_id, status, EXTRACT(EPOCH FROM claimed_at - scheduled_for) AS lag "
            "FROM slot_claims WHERE target <> '(digest)'")).all()
        twice = conn.execute(text(
            "SELECT count(*) FROM (SELECT target_id, scheduled_for FROM runs WHERE "
            "scheduled_for IS NOT NULL GROUP BY target_id, scheduled_for "
            "HAVING count(*) > 1) d")).scalar_one()
        runs = conn.execute(text("SELECT status, count(*) FROM runs WHERE trigger IN "
                                 "('schedule', 'catch_up') GROUP BY status")).all()
        checks = conn.execute(text("SELECT count(*) FROM checks")).scalar_one()
    engine.dispose()
    ran = [c for c in claims if c.status != "missed"]
    lags = [float(c.lag) for c in ran]
    by_daemon: dict[str, int] = {}
    for c in ran:
        by_daemon[c.daemon_id] = by_daemon.get(c.daemon_id, 0) + 1
    return {"slots_claimed": len(ran), "missed": sum(c.status == "missed" for c in claims),
            "run_twice": int(twice), "lag_p50_s": pct(lags, 50), "lag_p99_s": pct(lags, 99),
            "lag_max_s": max(lags) if lags else None,
            "share": sorted((round(n / len(ran), 3) for n in by_daemon.values()), reverse=True)
            if ran else [],
            "runs_by_status": {s: int(n) for s, n in runs}, "checks_stored": int(checks)}


def phase(daemons: int, args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    interval = 300 / args.compress
    schema = Schema()
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "probes").mkdir()
            (root / "probes" / "scale.yaml").write_text(probes_yaml(args.probes))
            body = "".join(TARGET.format(i=i, base_url=base_url, interval=interval)
                           for i in range(args.targets))
            config = root / "drift-monitor.yaml"
            config.write_text(f"database: sqlite:///unused.db\ntargets:\n{body}"
                              "baseline: {min_runs: 2}\n"
                              "server: {host: 127.0.0.1, port: 0}\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
            env.update(PYTHONPATH=str(REPO), SCALE_KEY="sk-scale-benchmark-key",
                       DRIFT_MONITOR_DATABASE_URL=schema.url, MALLOC_ARENA_MAX="2")
            # the first daemon migrates the empty schema; the others start on a migrated one
            for i in range(daemons):
                log = root / f"daemon{i}.log"
                logs.append(log)
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "drift_monitor", "--config", str(config), "run",
                     "--log-json"], stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env,
                    cwd=root))
                deadline = time.monotonic() + 120
                while "scheduler started" not in log.read_text(errors="replace"):
                    if procs[-1].poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"daemon {i} did not start:\n"
                                         f"{log.read_text()[-3000:]}")
                    time.sleep(0.2)
            cpu0 = [cpu_seconds(p.pid) for p in procs]
            t0 = time.monotonic()
            time.sleep(args.seconds)
            wall = time.monotonic() - t0
            cpu = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
            rss = [peak_rss_mb(p.pid) for p in procs]
            for p in procs:
                p.send_signal(signal.SIGTERM)
            codes = [p.wait(timeout=30) for p in procs]
            events = []
            for log in logs:
                for line in log.read_text(errors="replace").splitlines():
                    if line.startswith("{"):
                        events.append(json.loads(line))
            out = read_results(schema.url)
            rounds = sum(e.get("event") == "round finished" for e in events)
            out.update({
                "daemons": daemons, "targets": args.targets, "probes": args.probes,
                "interval_s": interval, "compress": args.compress,
                "call_latency_s": args.latency / args.compress, "seconds": round(wall, 1),
                "rounds_done": rounds,
                "checks_done": sum(e.get("event") == "check finished" for e in events),
                "checks_skipped_busy": sum(e.get("event") == "check skipped: the previous "
                                           "check still runs" for e in events),
                "daemon_cpu_percent": [round(100 * c / wall, 1) for c in cpu],
                "daemon_cpu_s_per_round": round(sum(cpu) / rounds, 3) if rounds else None,
                "peak_rss_mb": [round(r) for r in rss], "exit_codes": codes,
                "errors": sum(e.get("level") == "error" for e in events),
            })
            out.update(measure_cpu(config, schema.url))
            return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        schema.drop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--probes", type=int, default=20)
    ap.add_argument("--compress", type=float, default=5.0)
    ap.add_argument("--latency", type=float, default=1.0, help="real seconds per call")
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--phases", default="1,3", help="daemon counts, comma-separated")
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency / args.compress)],
                              stdout=subprocess.PIPE, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        for n in (int(x) for x in args.phases.split(",")):
            print(json.dumps(phase(n, args, base_url)), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
