"""Start-up time of the command line: `--help` and `validate`, each in fresh processes.

    python benchmarks/startup.py [--runs 15] [--top 15] [--no-importtime] [--before CHECKOUT]

Runs, round-robin so a burst of load on a shared machine hits every command alike:

- ``python -c pass`` (the interpreter alone: the floor, and the yardstick for the ratios),
- ``python -m drift_monitor --help`` and the ``drift-monitor --help`` console script,
- ``drift-monitor validate`` in a temporary directory holding what ``drift-monitor init``
  writes (the replay target: no key, no network).

Each line gives the median and the minimum wall time, the median less the bare interpreter's
(what drift-monitor itself costs), the ratio to the bare interpreter, which stays meaningful
when the machine is busy, and the median CPU time of the process (user + system), which a busy
machine inflates far less than wall time. Then, from ``python -X importtime``, the modules
with the largest cumulative import time on each path, and which of the heavy libraries each
path loaded (none should be: they are imported where they are used).

Goals (issue 12): ``--help`` <= 0.25 s, ``validate`` <= 0.5 s.

Figures on this machine, 2 December 2026, 9 runs each, load average 0.4-0.8, before and after
interleaved in one run (`python benchmarks/startup.py --runs 9 --before /work/wt-before`, the
checkout of cf0bd35, the last commit before issue 12):

                                      wall median     CPU median
    python -c pass                       0.090 s        0.088 s
    before  python -m drift_monitor --help     0.560 s        0.558 s
    after   python -m drift_monitor --help     0.172 s        0.169 s   (goal 0.25 s: met)
    before  python -m drift_monitor validate   2.220 s        2.206 s
    after   python -m drift_monitor validate   1.007 s        0.999 s   (goal 0.5 s: missed)

`--help` imports 143 modules and no heavy library. `validate` still spends ~0.3 s importing
drift_monitor.config (pydantic building the settings and probe models), ~0.09 s in jsonschema
(the default library's JSON Schema probes are checked) and ~0.3 s loading and validating the
652 probes.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the libraries neither `--help` nor `validate` needs (tests/test_cli_startup.py checks it)
HEAVY = ("sqlalchemy", "alembic", "scipy", "sklearn", "numpy", "matplotlib", "httpx",
         "slack_sdk", "apscheduler", "starlette", "uvicorn", "prometheus_client", "jinja2",
         "aiohttp", "markdown_it", "jsonschema", "tqdm")

GOALS = {"--help": 0.25, "validate": 0.5}


def console_script() -> str | None:
    """The ``drift-monitor`` script of this interpreter's environment, if installed."""
    beside = Path(sys.executable).parent / "drift-monitor"
    return str(beside) if beside.exists() else shutil.which("drift-monitor")


def environment(root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DRIFT_MONITOR_CONFIG", None)
    # an installed package has its .pyc files: compiling drift_monitor's sources on every run
    # would time the compiler (the warm-up run writes them)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("DRIFT_MONITOR_DATABASE_URL", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return elapsed, _children_cpu() - cpu


def import_times(argv: list[str], cwd: str, env: dict[str, str]) -> list[tuple[int, int, str]]:
    """(cumulative us, depth, module) for every import of one run under ``-X importtime``."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    rows = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command")
    parser.add_argument("--top", type=int, default=15, help="modules shown per path")
    parser.add_argument("--no-importtime", action="store_true")
    parser.add_argument("--before", type=Path, metavar="CHECKOUT",
                        help="a checkout of an earlier revision (git worktree add DIR REV): "
                             "its --help and validate run interleaved with these, so before "
                             "and after are measured under the same load")
    args = parser.parse_args()

    env = environment()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="dm-startup-") as tmp:
        subprocess.run([py, "-m", "drift_monitor", "init", tmp], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        commands: dict[str, list[str]] = {
            "python -c pass": [py, "-c", "pass"],
            "python -m drift_monitor --help": [py, "-m", "drift_monitor", "--help"],
        }
        script = console_script()
        if script:
            commands["drift-monitor --help"] = [script, "--help"]
        commands["python -m drift_monitor validate"] = [py, "-m", "drift_monitor", "validate"]
        if script:
            commands["drift-monitor validate"] = [script, "validate"]
        envs = {name: env for name in commands}
        if args.before:
            before_env = environment(args.before.resolve())
            for what in ("--help", "validate"):
                name = f"before: python -m drift_monitor {what}"
                commands[name] = [py, "-m", "drift_monitor", what]
                envs[name] = before_env

        for name, argv in commands.items():  # warm the disk cache and the .pyc files
            time_once(argv, tmp, envs[name])
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, cpu = time_once(argv, tmp, envs[name])
                times[name].append(wall)
                cpus[name].append(cpu)

        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
              f"{load:.2f}, {args.runs} runs each")
        bare = statistics.median(times["python -c pass"])
        print(f"{'command':34} {'median':>7} {'min':>7} {'- bare':>7} {'x bare':>6} "
              f"{'cpu':>6}  goal (median wall)")
        for name, ts in times.items():
            med = statistics.median(ts)
            goal = next((g for key, g in GOALS.items()
                         if name.endswith(key) and not name.startswith("before")), None)
            verdict = "" if goal is None else f"<= {goal:.2f} s " + (
                "ok" if med <= goal else "MISSED")
            print(f"{name:34} {med:7.3f} {min(ts):7.3f} {med - bare:7.3f} {med / bare:6.1f} "
                  f"{statistics.median(cpus[name]):6.3f}  {verdict}")

        if args.no_importtime:
            return
        paths = {"--help": ["-m", "drift_monitor", "--help"],
                 "validate": ["-m", "drift_monitor", "validate"]}
        for name, argv in paths.items():
            rows = import_times(argv, tmp, env)
            ours = sum(c for c, depth, _ in rows if depth == 0)
            print(f"\n{name}: {len(rows)} modules imported, {ours / 1e6:.3f} s cumulative at "
                  f"top level; largest cumulative import times:")
            for cum, depth, module in sorted(rows, reverse=True)[: args.top]:
                print(f"  {cum / 1e6:7.3f} s  {'  ' * depth}{module}")
            loaded = sorted({m.split('.')[0] for _, _, m in rows} & set(HEAVY))
            print(f"  heavy libraries loaded: {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
