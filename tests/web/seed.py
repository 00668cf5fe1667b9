"""A console database with real content: the demo's story (three baseline rounds of recorded
gpt-3.5-turbo answers from March 2023, then the same model name answering as in June 2023, a
check that confirms the drift and opens incidents), on any database URL."""

from __future__ import annotations

import asyncio
import shutil
from importlib import resources
from pathlib import Path

from drift_monitor.app.checks import run_check
from drift_monitor.app.rounds import confirm_round
from drift_monitor.config import Config, load_config
from drift_monitor.detection.result import CheckResult
from drift_monitor.runner import probe_round
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store

SUITES = ["gpt35-coding", "gpt35-primes"]
CONFIG = """\
database: "{database}"
targets:
  - name: gpt35
    provider: replay
    model: gpt-3.5-turbo
    suites: [{suites}]
    samples: 1
    schedule: "every 1h"
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{snapshot}"}}
  - name: quiet-bot
    provider: replay
    model: gpt-3.5-turbo-0301
    suites: [gpt35-primes]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "2023-03"}}
baseline: {{min_runs: 3}}
detection: {{window_runs: 1, confirm: true}}
notify: {{repeat_interval: 1s}}
server: {{host: 127.0.0.1, port: 0{server}}}
"""


def write_config(directory: Path, database: str, snapshot: str, server: str = "") -> Config:
    probes = directory / "probes"
    probes.mkdir(parents=True, exist_ok=True)
    for item in (resources.files("drift_monitor") / "templates" / "probes").iterdir():
        if item.name.endswith(".yaml"):
            with resources.as_file(item) as src:
                shutil.copyfile(src, probes / item.name)
    path = directory / "drift-monitor.yaml"
    path.write_text(CONFIG.format(database=database, suites=", ".join(SUITES),
                                  snapshot=snapshot, server=server))
    return load_config(path)


def seed(directory: Path, database: str, server: str = "") -> tuple[Config, Store, CheckResult]:
    """The demo's story in ``database``; returns the June config, its store and the check."""
    config = write_config(directory, database, "2023-03", server)
    library = config.load_probes()
    engine = make_engine(config.database_url)
    ensure_schema(engine)
    store = Store(engine)
    target = config.target("gpt35")
    probes = library.select(target.suites)
    for _ in range(3):
        asyncio.run(probe_round(config, target, store, probes))
    quiet = config.target("quiet-bot")
    asyncio.run(probe_round(config, quiet, store, library.select(quiet.suites)))
    config = write_config(directory, database, "2023-06", server)
    target = config.target("gpt35")
    asyncio.run(probe_round(config, target, store, probes))
    result = run_check(config, target, store,
                       confirm=confirm_round(config, target, store, probes))
    return config, store, result


def drift_round(config: Config, store: Store) -> CheckResult:
    """One more June round and its check (the next page, unless something holds it back)."""
    library = config.load_probes()
    target = config.target("gpt35")
    asyncio.run(probe_round(config, target, store, library.select(target.suites)))
    return run_check(config, target, store,
                     confirm=confirm_round(config, target, store, library.select(target.suites)))
