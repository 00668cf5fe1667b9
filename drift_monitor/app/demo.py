"""`drift-monitor demo`: baseline, silent update, detection and alert on recorded data.

Replays real gpt-3.5-turbo responses (LLMDrift, Apache-2.0): three rounds from March 2023 become
the baseline; then the same model name starts answering as it did in June 2023. The check finds
what changed, confirms it with an immediate round, and prints the alert that would be sent.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from drift_monitor.alerting.channels.console import ConsoleChannel
from drift_monitor.alerting.outbox import deliver
from drift_monitor.alerting.render import finding_lines
from drift_monitor.app.checks import run_check
from drift_monitor.app.rounds import confirm_round, run_round
from drift_monitor.config import load_config
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store

SUITES = ["gpt35-coding", "gpt35-primes", "gpt35-sensitive", "gpt35-opinions"]
CONFIG = """\
database: sqlite:///demo.db
targets:
  - name: gpt35
    provider: replay
    model: gpt-3.5-turbo
    suites: [{suites}]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{snapshot}"}}
baseline: {{min_runs: 3}}
detection: {{window_runs: 1, confirm: true}}
"""


def _write(directory: Path, snapshot: str) -> Path:
    path = directory / "drift-monitor.yaml"
    path.write_text(CONFIG.format(suites=", ".join(SUITES), snapshot=snapshot))
    return path


def run_demo(directory: Path | None, *, echo: Callable[[str], None] = print) -> int:
    """Run the demo; returns the number of confirmed page-worthy findings."""
    tmp = None
    if directory is None:
        tmp = tempfile.mkdtemp(prefix="drift-monitor-demo-")
        directory = Path(tmp)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        probes_dir = directory / "probes"
        probes_dir.mkdir(exist_ok=True)
        for item in (resources.files("drift_monitor") / "templates" / "probes").iterdir():
            if item.name.endswith(".yaml"):
                with resources.as_file(item) as src:
                    shutil.copyfile(src, probes_dir / item.name)
        config = load_config(_write(directory, "2023-03"))
        library = config.load_probes()
        target = config.target("gpt35")
        probes = library.select(target.suites)
        engine = make_engine(config.database_url)
        ensure_schema(engine)
        store = Store(engine)
        echo(f"drift-monitor demo in {directory}")
        echo(f"1. baseline: 3 rounds of {len(probes)} probes answered as gpt-3.5-turbo did in "
             "March 2023")
        for _ in range(3):
            s = run_round(config, target, store, probes)
            echo(f"   run {s.id}: {s.status}, {s.ok} responses")
        echo("2. silent update: the same model name now answers as it did in June 2023")
        config = load_config(_write(directory, "2023-06"))
        target = config.target("gpt35")
        s = run_round(config, target, store, probes)
        echo(f"   run {s.id}: {s.status}, {s.ok} responses")
        echo("3. check against the baseline (with an immediate confirmation round)")
        result = run_check(config, target, store,
                           confirm=confirm_round(config, target, store, probes))
        if result.error:
            echo(f"   error: {result.error}")
            return 0
        echo(f"   {len(result.findings)} findings; drift: {result.drift}")
        for f in result.findings:
            echo("\n".join(finding_lines(f, examples=0)))
        echo("4. the alert, as the console channel delivers it (with notify.slack set, the same "
             "message goes to Slack as Block Kit):")
        echo("")
        buffer = io.StringIO()
        report = deliver(config, store, channels={"console": ConsoleChannel(stream=buffer)})
        echo(buffer.getvalue().rstrip() if report.delivered else "   (none: nothing confirmed)")
        engine.dispose()
        return sum(1 for f in result.findings if f.confirmed and f.severity != "info")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
