"""Footprint of `drift-monitor run`: 10 targets on the replay provider, peak RSS and CPU share.

    python benchmarks/daemon_footprint.py                 # 60 s busy, then 60 s idle
    python benchmarks/daemon_footprint.py --seconds 30 --phases idle

Each phase starts a fresh daemon (a real subprocess, SQLite in a temporary directory) with 10
targets answering from the bundled GPT-3.5 recording (suite gpt35-sensitive: 98 probes, one
sample each):

- ``busy``: every target on ``every 10s``: 60 rounds of 98 calls and a check after each (the
  first three rounds of a target become its baseline, the later ones are compared with it).
- ``idle``: every target on ``every 1h``: no round falls in the window; what is left is the
  scheduler, the heartbeat, the outbox loop and the HTTP server.

Measured from the daemon's "scheduler started" event for ``--seconds``: CPU share (user +
system time of the process / wall time, in % of one core) from /proc, and peak RSS (VmHWM, the
whole run including start-up). Goals (issue 7): RSS <= 200 MB, idle CPU <= 2 %. Linux only.

``--arena-max`` (default 2, as docker/Dockerfile sets) is glibc's MALLOC_ARENA_MAX for the
daemon: glibc gives each thread that allocates its own arena, and a daemon with a thread per
target keeps the freed memory of every one of them; ``--arena-max 0`` leaves glibc's default.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "drift_monitor" / "templates" / "probes"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

TARGET = """\
  - name: t{i}
    provider: replay
    model: gpt-3.5-turbo
    suites: [gpt35-sensitive]
    samples: 1
    schedule: "{schedule}"
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "2023-03"}}
    limits: {{concurrency: 8}}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase(name: str, schedule: str, seconds: float, targets: int,
          arena_max: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "probes").mkdir()
        (root / "probes" / "gpt35-sensitive.yaml").write_text(
            (TEMPLATES / "gpt35-sensitive.yaml").read_text())
        body = "".join(TARGET.format(i=i, schedule=schedule) for i in range(targets))
        config = root / "drift-monitor.yaml"
        config.write_text(f"database: sqlite:///dm.db\ntargets:\n{body}"
                          "server: {host: 127.0.0.1, port: 0}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("MALLOC_ARENA_MAX", None)
        if arena_max:
            env["MALLOC_ARENA_MAX"] = str(arena_max)
        log = root / "daemon.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "drift_monitor", "--config",
                                     str(config), "run", "--log-json"], stderr=fh,
                                    stdout=subprocess.DEVNULL, env=env)
            try:
                deadline = time.monotonic() + 120
                while "scheduler started" not in log.read_text(errors="replace"):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"daemon did not start:\n{log.read_text()[-2000:]}")
                    time.sleep(0.1)
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                time.sleep(seconds)
                cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
                rss = peak_rss_mb(proc.pid)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=15)
        events = [json.loads(line) for line in log.read_text().splitlines()
                  if line.startswith("{")]
        rounds = sum(e.get("event") == "round finished" for e in events)
        checks = sum(e.get("event") == "check finished" for e in events)
        return {"phase": name, "schedule": schedule, "targets": targets,
                "seconds": round(t1 - t0, 1), "cpu_percent": round(100 * (cpu1 - cpu0)
                                                                   / (t1 - t0), 2),
                "peak_rss_mb": round(rss, 1), "malloc_arena_max": arena_max or "default",
                "rounds": rounds, "checks": checks,
                "exit_code": code}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--phases", default="busy,idle")
    ap.add_argument("--arena-max", type=int, default=2)
    args = ap.parse_args()
    schedules = {"busy": "every 10s", "idle": "every 1h"}
    for name in args.phases.split(","):
        result = phase(name, schedules[name], args.seconds, args.targets, args.arena_max)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
