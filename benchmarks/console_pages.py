"""Console page time at scale: 50 targets and a year of hourly runs, SQLite and PostgreSQL.

    python benchmarks/console_pages.py                       # both databases, 50 x 8,760 runs
    python benchmarks/console_pages.py --db sqlite --days 30 # quicker, smaller
    python benchmarks/console_pages.py --rss-only            # the console's memory only

Data (written directly with bulk inserts, not through probe rounds): per target one run an hour
for ``--days`` days (50 x 8,760 = 438,000 runs), a check after every run (438,000 checks), a
drift finding on every 40th check, two incidents per target, and the responses of the last 30
days of runs only (20 probes each, 720,000 rows) - nothing on the pages reads older responses,
and a year of them (8.8 million rows) would only make the write slower; 30 days keep "today" a
small share of the table, as it is with the default 90 d retention, so the planners choose as
they would there (with a few days only, PostgreSQL rightly prefers a sequential scan).

Measured, per database: server time of ``/`` (the overview of all 50 targets) and of a target's
page, in-process through Starlette's ASGI stack (what uvicorn would spend, without the socket),
median, min and max of ``--repeat`` requests after one warm-up, with the console process's CPU
time per request (on SQLite that includes the queries) and, on PostgreSQL, the database's own
planning + execution time of the page's statements (EXPLAIN ANALYZE); every SQL statement a
page issues, with its plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL) and whether
any of them scans a large table (runs, checks, findings, responses) instead of using an index.

RSS: a subprocess loads what the daemon loads (detection stack, scheduler, store), measures
VmRSS, then builds and starts the console (Starlette, Jinja2, uvicorn on loopback), renders
every page five times and measures VmRSS again; the difference is what the console adds.

Goals (issue 16): each page <= 100 ms server time on both databases; the console adds <= 15 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get("DRIFT_MONITOR_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BIG_TABLES = ("runs", "checks", "findings", "responses", "incidents", "incident_events")
PROBES = 20
RESPONSE_HOURS = 30 * 24  # responses are written for the last 30 days of runs only
CHUNK = 20_000


def config_text(database: str, n_targets: int) -> str:
    targets = "".join(
        f"  - {{name: t-{i:02d}, provider: replay, model: gpt-4o-{i % 3}, suites: [gpt35-primes],"
        f" schedule: 'every 1h', params: {{recording: 'builtin:llmdrift-gpt35'}}}}\n"
        for i in range(n_targets))
    return f"database: '{database}'\ntargets:\n{targets}"


def generate(store: Any, n_targets: int, days: int, now: datetime) -> dict[str, int]:
    """Bulk-write the data set; returns row counts."""
    from sqlalchemy import insert, select

    from drift_monitor.storage.tables import (
        Check,
        FindingRow,
        Incident,
        IncidentEvent,
        ProbeVersion,
        Response,
        Run,
        Target,
    )

    engine = store.engine
    hours = days * 24
    start = now - timedelta(hours=hours)
    counts = dict.fromkeys(("runs", "checks", "findings", "responses", "incidents"), 0)
    with engine.begin() as conn:
        conn.execute(insert(Target), [{"name": f"t-{i:02d}", "provider": "replay",
                                       "model": f"gpt-4o-{i % 3}", "created_at": start}
                                      for i in range(n_targets)])
        tids = dict(conn.execute(select(Target.name, Target.id)).all())
        conn.execute(insert(ProbeVersion), [
            {"suite": "gpt35-primes", "probe_id": f"p-{k:02d}", "version": f"{k:064x}",
             "content": {"prompt": f"probe {k}"}, "created_at": start} for k in range(PROBES)])
        pvs = list(conn.execute(select(ProbeVersion.id)).scalars())
    run_id = 0
    check_id = 0
    for _name, tid in sorted(tids.items()):
        runs, checks, findings, responses = [], [], [], []
        for h in range(hours):
            run_id += 1
            check_id += 1
            at = start + timedelta(hours=h + 1)
            failed = 20 if h % 500 == 7 else (1 if h % 17 == 0 else 0)
            runs.append({"id": run_id, "target_id": tid, "status": "failed" if failed == 20
                         else "complete", "trigger": "schedule", "started_at": at,
                         "finished_at": at + timedelta(seconds=20), "scheduled_for": at,
                         "expected_count": PROBES, "ok_count": PROBES - failed,
                         "failed_count": failed})
            drift = h % 40 == 0
            checks.append({"id": check_id, "target_id": tid, "created_at": at
                           + timedelta(seconds=30), "status": "drift" if drift else "ok",
                           "drift": drift, "window_run_ids": [run_id],
                           "baseline_run_ids": [1, 2, 3], "baseline_responses": 60,
                           "window_responses": 20, "tests_run": 40, "notes": []})
            if drift:
                for dim, effect in (("formatting", 0.4), ("tone", 0.15)):
                    findings.append({"check_id": check_id, "target_id": tid,
                                     "dimension": dim, "metric": "code_fence_rate",
                                     "suite": "gpt35-primes", "baseline_value": 0.1,
                                     "current_value": 0.1 + effect, "effect": effect,
                                     "q_value": 1e-4, "severity": "warning",
                                     "summary": "fences moved", "examples": [],
                                     "direction": 1, "confirmed": True, "details": {}})
            if h >= hours - RESPONSE_HOURS:
                for k, pv in enumerate(pvs):
                    ok = k >= failed
                    responses.append({"run_id": run_id, "probe_version_id": pv,
                                      "sample_index": 0, "ok": ok,
                                      "error_kind": None if ok else "server_error",
                                      "text": "The answer is [Yes]." if ok else None,
                                      "model_returned": f"gpt-4o-{tid % 3}-2024-08-06"
                                      if ok else None, "latency_ms": 800.0,
                                      "input_tokens": 40, "output_tokens": 12,
                                      "cost_usd": 0.0002 if ok else None, "attempts": 1,
                                      "created_at": at})
        with engine.begin() as conn:
            for table, rows in ((Run, runs), (Check, checks), (FindingRow, findings),
                                (Response, responses)):
                for i in range(0, len(rows), CHUNK):
                    conn.execute(insert(table), rows[i:i + CHUNK])
            for dim, status in (("formatting", "open"), ("tone", "resolved")):
                iid = conn.execute(insert(Incident).values(
                    target_id=tid, dimension=dim, status=status, severity="warning",
                    summary=f"{dim} drifted", finding_keys=[], notified_keys=[],
                    opened_at=now - timedelta(days=3), updated_at=now,
                    closed_at=None if status == "open" else now, notifications=1,
                    first_check_id=max(check_id - 72, check_id - hours + 1), last_check_id=check_id)
                    .returning(Incident.id)).scalar_one()
                conn.execute(insert(IncidentEvent).values(
                    incident_id=iid, check_id=max(check_id - 72, check_id - hours + 1),
                    at=now - timedelta(days=3),
                    action="open", reason="first_notification", notified=True))
        counts["runs"] += len(runs)
        counts["checks"] += len(checks)
        counts["findings"] += len(findings)
        counts["responses"] += len(responses)
        counts["incidents"] += 2
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return counts


def explain(engine: Any, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Each distinct statement with its plan, and the large tables it scans whole."""
    out, seen = [], set()
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for sql, params in statements:
            if sql in seen or not sql.lstrip().upper().startswith("SELECT"):
                continue
            seen.add(sql)
            cur = raw.cursor()
            if engine.dialect.name == "postgresql":
                cur.execute("EXPLAIN " + sql, params)
                plan = [r[0] for r in cur.fetchall()]
                scans = [t for t in BIG_TABLES
                         if any(f"Seq Scan on {t} " in line or line.rstrip().endswith(
                             f"Seq Scan on {t}") for line in plan)]
            else:
                cur.execute("EXPLAIN QUERY PLAN " + sql, params)
                plan = [r[-1] for r in cur.fetchall()]
                scans = [t for t in BIG_TABLES if any(
                    line.startswith(f"SCAN {t}") and "INDEX" not in line for line in plan)]
            cur.close()
            out.append({"sql": " ".join(sql.split())[:160], "plan": plan, "full_scans": scans})
    return out


def db_time(engine: Any, statements: list[tuple[str, Any]]) -> float | None:
    """PostgreSQL's own execution time of the page's statements (EXPLAIN ANALYZE), in ms;
    None on SQLite, whose time is inside the process's CPU time."""
    if engine.dialect.name != "postgresql":
        return None
    total = 0.0
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cur = raw.cursor()
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0][0]
            total += plan["Planning Time"] + plan["Execution Time"]
            cur.close()
    return round(total, 1)


def measure(url: str, n_targets: int, days: int, repeat: int) -> dict[str, Any]:
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from drift_monitor.config import load_config
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store
    from drift_monitor.web.app import create_app

    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drift-monitor.yaml"
        path.write_text(config_text(url, n_targets))
        config = load_config(path)
        engine = make_engine(config.database_url)
        ensure_schema(engine)
        store = Store(engine)
        t0 = time.perf_counter()
        counts = generate(store, n_targets, days, now)
        write_s = time.perf_counter() - t0
        app = create_app(config, store, actions=True, token=None, now=lambda: now)
        client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=True)
        result: dict[str, Any] = {"database": engine.dialect.name, "rows": counts,
                                  "write_s": round(write_s, 1), "pages": {}}
        one = f"t-{min(7, n_targets - 1):02d}"
        for name, page in (("overview", "/"), ("target", f"/targets/{one}"),
                           ("target_year", f"/targets/{one}?days=365")):
            warm = client.get(page)
            assert warm.status_code == 200, (page, warm.status_code, warm.text[:300])
            statements: list[tuple[str, Any]] = []

            def record(conn: Any, cursor: Any, statement: str, parameters: Any,
                       context: Any, executemany: bool, sink: list = statements) -> None:
                sink.append((statement, parameters))

            event.listen(engine, "before_cursor_execute", record)
            r = client.get(page)
            event.remove(engine, "before_cursor_execute", record)
            assert r.status_code == 200, r.text[:300]
            times, cpu = [], []
            for _ in range(repeat):
                t, c = time.perf_counter(), time.process_time()
                client.get(page)
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            plans = explain(engine, statements)
            result["pages"][name] = {
                "path": page, "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1), "min_ms": round(min(times), 1),
                "cpu_median_ms": round(statistics.median(cpu), 1),
                "db_ms": db_time(engine, statements), "statements": len(statements),
                "full_scans": sorted({t for p in plans for t in p["full_scans"]}),
                "plans": plans}
        engine.dispose()
    return result


RSS_SCRIPT = r"""
import json, sys, tempfile, time, urllib.request
from pathlib import Path
sys.path.insert(0, sys.argv[1])
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
import drift_monitor.alerting.incidents, drift_monitor.app.checks  # what start() loads
import drift_monitor.daemon.service, drift_monitor.digest
from apscheduler.schedulers.background import BackgroundScheduler
from drift_monitor.config import load_config
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
tmp = tempfile.mkdtemp()
path = Path(tmp) / 'drift-monitor.yaml'
path.write_text(sys.argv[2].replace('DB', f'sqlite:///{tmp}/c.db'))
config = load_config(path)
engine = make_engine(config.database_url); ensure_schema(engine); store = Store(engine)
store.incidents(); store.notifications()
before = rss()
from drift_monitor.web.app import create_app
from drift_monitor.web.server import ConsoleServer
server = ConsoleServer('127.0.0.1', 0, create_app(config, Store(make_engine(config.database_url)),
                                                  actions=True, token=None))
server.start()
for _ in range(5):
    for page in ('/', '/targets/t-00', '/silences', '/digest', '/static/console.css'):
        urllib.request.urlopen(server.url + page).read()
after = rss()
server.stop()
print(json.dumps({'before_mb': round(before, 1), 'after_mb': round(after, 1),
                  'console_mb': round(after - before, 1)}))
"""


def rss_delta() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(REPO), config_text("DB", 50)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def pg_schema_url() -> tuple[str, Any]:
    import psycopg

    schema = f"bench_console_{uuid.uuid4().hex[:8]}"
    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rss-only", action="store_true")
    parser.add_argument("--plans", action="store_true", help="Print every query plan.")
    args = parser.parse_args()
    report: dict[str, Any] = {"targets": args.targets, "days": args.days,
                              "runs": args.targets * args.days * 24}
    if not args.rss_only:
        for db in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
            if db == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    report[db] = measure(f"sqlite:///{tmp}/bench.db", args.targets,
                                         args.days, args.repeat)
            else:
                url, drop = pg_schema_url()
                try:
                    report[db] = measure(url, args.targets, args.days, args.repeat)
                finally:
                    drop()
            r = report[db]
            print(f"{db}: {r['rows']} written in {r['write_s']} s", file=sys.stderr)
            for name, p in r["pages"].items():
                print(f"  {name:12s} {p['path']:26s} wall median {p['median_ms']:6.1f} ms "
                      f"(min {p['min_ms']:.1f}, max {p['max_ms']:.1f}), console CPU "
                      f"{p['cpu_median_ms']:.1f} ms, database {p['db_ms']} ms, "
                      f"{p['statements']} statements, full scans of large tables: "
                      f"{p['full_scans'] or 'none'}", file=sys.stderr)
                if args.plans:
                    for plan in p["plans"]:
                        print(f"    {plan['sql']}", file=sys.stderr)
                        for line in plan["plan"]:
                            print(f"        {line}", file=sys.stderr)
    report["rss"] = rss_delta()
    print(f"console RSS: {report['rss']}", file=sys.stderr)
    if not args.plans:
        for db in ("sqlite", "postgresql"):
            for p in report.get(db, {}).get("pages", {}).values():
                p["plans"] = [{"sql": x["sql"], "plan": x["plan"]} for x in p["plans"]]
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
