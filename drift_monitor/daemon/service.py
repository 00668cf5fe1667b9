"""The always-on daemon: APScheduler jobs for every target's slots, the outbox and the digest;
a heartbeat; the web console with ``/healthz`` and ``/metrics``; a clean stop on SIGTERM/SIGINT.

Several daemons may share one PostgreSQL database: every slot (target, scheduled time) is
claimed by exactly one of them through the unique key of ``slot_claims``, and each renews a
lease (its heartbeat) so the others can tell a dead daemon's round from a live one. SQLite
allows one daemon: a second one is refused at start.

Stopping: the scheduler stops taking work at once; rounds in flight get ``stop_grace_s`` to
finish, then are cancelled (their responses so far are committed and the run finished with a
note). The whole stop is bounded by ``stop_deadline_s``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from drift_monitor.clock import utc_now
from drift_monitor.config import Config, parse_schedule
from drift_monitor.daemon.metrics import Metrics
from drift_monitor.daemon.rounds import RoundRunner, TargetJobs
from drift_monitor.daemon.server import HealthCache, StatusServer
from drift_monitor.digest.charts import warm as warm_charts
from drift_monitor.errors import DaemonError, DriftMonitorError
from drift_monitor.probes import ProbeLibrary
from drift_monitor.redaction import Redactor
from drift_monitor.slots import SlotClock
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import SlotClaimRow
from drift_monitor.web.server import ConsoleServer

log = logging.getLogger("drift_monitor.daemon")

DIGEST_SLOT = "(digest)"
# checks load two windows of responses and fit a classifier: one at a time keeps the peak RSS
# of a daemon with many targets near that of one check (benchmarks/daemon_footprint.py)
MAX_CONCURRENT_CHECKS = 1


def _first_line(exc: BaseException) -> str:
    """A short, one-line reason (a database error's first line, not its SQL and parameters)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Daemon:
    """``start()`` then ``serve()`` until ``request_stop()``; ``serve`` returns after the stop."""

    def __init__(self, config: Config, *, heartbeat_s: float = 1.0, delivery_s: float = 5.0,
                 stop_grace_s: float = 5.0, stop_deadline_s: float = 9.0) -> None:
        self.config = config
        self.heartbeat_s, self.delivery_s = heartbeat_s, delivery_s
        self.lease_s = 3 * heartbeat_s
        self.stop_grace_s, self.stop_deadline_s = stop_grace_s, stop_deadline_s
        self.daemon_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.metrics = Metrics()
        self.runner = RoundRunner()
        self.stopping = threading.Event()
        self.jobs: dict[str, TargetJobs] = {}
        self.check_slots = threading.BoundedSemaphore(MAX_CONCURRENT_CHECKS)
        self.last_beat: float | None = None
        self.last_beat_ok: datetime | None = None
        self.server: ConsoleServer | StatusServer | None = None
        self._registered = False
        self._beat_failing = False
        self._reload = threading.Event()
        self._retired: list[TargetJobs] = []  # jobs of removed targets, until idle

    # --- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the database (migrating an empty one), check the config and the probes, take
        the lease, start the scheduler and the HTTP server. Raises DriftMonitorError with a
        clear message when any of that is impossible (nothing is left running then)."""
        # the detection stack (scipy, scikit-learn) loads now, not inside the first slot
        import drift_monitor.alerting.incidents  # noqa: F401
        import drift_monitor.app.checks  # noqa: F401
        from drift_monitor.storage.engine import ensure_schema, make_engine, migration_lock

        config = self.config
        library = config.load_probes()
        config.check_suites(library)
        for t in config.targets():
            config.api_key(t)  # a missing key fails now, not at the first slot
        from drift_monitor.alerting.routes import make_router

        make_router(config)  # so does a route to a channel that cannot deliver
        self.engine = make_engine(config.database_url)
        # daemons started together on an empty database would race to migrate it
        with migration_lock(self.engine):
            ensure_schema(self.engine)
        self.store = Store(self.engine)
        # health has its own engine: a slow database must not block rounds' connections
        # and the other way round; a short connect timeout keeps /healthz responsive
        kwargs: dict[str, Any] = {}
        if self.engine.dialect.name == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 3}
        self.health_store = Store(make_engine(config.database_url, **kwargs))
        self._take_lease()
        try:
            self._start_server()
            self.jobs = self._make_jobs(config, library)
            self._start_scheduler()
        except BaseException:
            self._release()
            raise

    def _make_jobs(self, config: Config, library: ProbeLibrary) -> dict[str, TargetJobs]:
        jobs = {}
        for t in config.targets():
            jobs[t.name] = TargetJobs(config, t, self.store, library,
                                      daemon_id=self.daemon_id, metrics=self.metrics,
                                      runner=self.runner, lease_s=self.lease_s,
                                      stopping=self.stopping, submit_check=self._submit_check,
                                      check_slots=self.check_slots)
            old = self.jobs.get(t.name)
            if old is not None:
                # the same locks: a round of the old settings still running keeps the new
                # schedule from starting a second round of this target beside it
                jobs[t.name].round_lock, jobs[t.name].check_lock = (old.round_lock,
                                                                     old.check_lock)
        return jobs

    def _take_lease(self) -> None:
        now = utc_now()
        host = socket.gethostname()
        live = [d for d in self.store.live_daemons(now - timedelta(seconds=self.lease_s))
                if not (d.host == host and not _pid_alive(d.pid))]
        if live and self.engine.dialect.name == "sqlite":
            other = live[0]
            raise DaemonError(
                f"another drift-monitor daemon (pid {other.pid} on {other.host}, "
                f"heartbeat {other.heartbeat_at:%H:%M:%S} UTC) is using this SQLite "
                "database; SQLite supports one daemon: stop it, or use PostgreSQL to run "
                "several")
        self.store.register_daemon(self.daemon_id, host, os.getpid(), now)
        self._registered = True
        log.info("daemon registered", extra={"daemon": self.daemon_id,
                                             "database": self.engine.dialect.name,
                                             "other_daemons": len(live)})

    def _start_server(self) -> None:
        """The console (web/) with /healthz and /metrics on server.host:server.port."""
        from drift_monitor.storage.engine import make_engine
        from drift_monitor.web.app import create_app
        from drift_monitor.web.auth import console_token

        server = self.config.settings.server
        token = console_token(self.config, server.host)  # no token beyond loopback: refuse
        # the console's own engine: a slow page must not hold /healthz's or the rounds'
        self.console_store = Store(make_engine(self.config.database_url))
        app = create_app(self.config, self.console_store, actions=True, token=token,
                         health=HealthCache(self.snapshot), render_metrics=self.metrics.render,
                         host=server.host)
        try:
            self.server = ConsoleServer(server.host, server.port, app)
        except OSError as exc:
            raise DaemonError(f"cannot listen on {server.host}:{server.port} (server.host/"
                              f"server.port): {exc.strerror or exc}") from None
        self.server.start()
        host, port = self.server.address
        log.info("http server listening", extra={"host": host, "port": port})
        # the charts' matplotlib costs seconds to load on a busy machine: pay it now, off the
        # request path (a failure here only means the first chart page loads it itself)
        threading.Thread(target=_warm_charts, name="warm-charts", daemon=True).start()

    def _start_scheduler(self) -> None:
        n = len(self.jobs)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # a thread per target so one slow round never delays another target's slot,
            # plus checks running beside rounds, the outbox, the digest and the heartbeat
            executors={"default": ThreadPoolExecutor(2 * n + 3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        now = utc_now()
        catch_up = []
        for name, jobs in self.jobs.items():
            self.scheduler.add_job(jobs.scheduled, jobs.clock.trigger(), id=f"round:{name}",
                                   name=f"round {name}")
            slot = jobs.catch_up_slot(now)
            if slot is not None:
                catch_up.append(name)
                self.scheduler.add_job(jobs.slot, "date", run_date=now, args=[slot, "catch_up"],
                                       id=f"catch-up:{name}", name=f"catch-up {name}")
        # the tick proves the scheduler's thread is alive (/healthz); the lease heartbeat runs
        # in its own thread so it keeps renewing the leases while rounds finish at stop
        self.scheduler.add_job(self._tick, IntervalTrigger(seconds=self.heartbeat_s),
                               id="tick", next_run_time=now)
        self.scheduler.add_job(self._deliver, IntervalTrigger(seconds=self.delivery_s),
                               id="outbox", next_run_time=now)
        from drift_monitor.app.retention import DAEMON_EVERY_S

        self.scheduler.add_job(self._prune, IntervalTrigger(seconds=DAEMON_EVERY_S), id="prune",
                               next_run_time=now + timedelta(seconds=30))
        digest = self.config.settings.digest
        self.digest_clock = SlotClock(parse_schedule(digest.schedule), digest.timezone)
        self.scheduler.add_job(self._digest, CronTrigger.from_crontab(
            digest.schedule, timezone=digest.timezone), id="digest")
        self.scheduler.start()
        self._beat_stop = threading.Event()
        self._beat_thread = threading.Thread(target=self._heartbeat_loop, name="heartbeat",
                                             daemon=True)
        self._beat_thread.start()
        log.info("scheduler started", extra={"targets": n, "catch_up": ",".join(catch_up)})

    def _submit_check(self, jobs: TargetJobs) -> None:
        # one job id per target: APScheduler's max_instances=1 then never runs two checks of a
        # target at once (and TargetJobs.check_lock guards the same inside the job)
        self.scheduler.add_job(jobs.check, "date", run_date=utc_now(), id=f"check:{jobs.name}",
                               name=f"check {jobs.name}", replace_existing=True)

    # --- periodic jobs --------------------------------------------------------------------

    def _tick(self) -> None:
        self.last_beat = time.monotonic()

    def _heartbeat_loop(self) -> None:
        while not self._beat_stop.wait(self.heartbeat_s):
            self._heartbeat()

    def _heartbeat(self) -> None:
        now = utc_now()
        try:
            self.store.heartbeat(self.daemon_id, now, now + timedelta(seconds=self.lease_s))
            if self._beat_failing:
                log.info("heartbeat restored: the database answers again")
                self._beat_failing = False
            self.last_beat_ok = now
            for claim in self.store.expired_claims(now):
                self._recover(claim, now)
        except Exception as exc:
            # said once per outage, not once a second
            if not self._beat_failing:
                log.warning("heartbeat failed", extra={"error": _first_line(exc)})
            self._beat_failing = True

    def _recover(self, claim: SlotClaimRow, now: datetime) -> None:
        """A daemon died mid-round: finish its run so it is not left ``running``."""
        note = "abandoned: the daemon running this round stopped (killed or cut off)"
        if not self.store.abandon_claim(claim.id, now, note):
            return
        run_id = self.store.running_run(claim.target, slot=claim.scheduled_for)
        if run_id is not None:
            # abandoned, not partial: a round cut short by a dead daemon never joins a baseline
            self.store.abandon_run(run_id, note)
        log.warning("abandoned round finished", extra={
            "target": claim.target, "slot": claim.scheduled_for.isoformat(),
            "run": run_id, "daemon": claim.daemon_id})

    def _deliver(self) -> None:
        from drift_monitor.alerting.outbox import deliver

        if self.stopping.is_set():
            return
        try:
            report = deliver(self.config, self.store, due_only=True)
        except Exception as exc:
            log.error("outbox delivery failed", extra={"error": str(exc)[:300]})
            return
        for a in report.attempts:
            self.metrics.deliveries.labels(a.outcome).inc()

    def _prune(self) -> None:
        """Apply ``retention`` a few small batches at a time (the rest at the next pass)."""
        from drift_monitor.app.retention import DAEMON_MAX_BATCHES, prune

        if self.stopping.is_set():
            return
        try:
            report = prune(self.config, self.store, max_batches=DAEMON_MAX_BATCHES)
        except Exception as exc:
            log.error("prune failed", extra={"error": _first_line(exc)})
            return
        if report.responses or report.runs:
            log.info("pruned", extra=report.to_json())

    def _digest(self) -> None:
        from drift_monitor.app.digest import build_digest, queue_digest

        now = utc_now()
        slot = self.digest_clock.current(now)
        if not self.store.claim_slot(DIGEST_SLOT, slot, daemon_id=self.daemon_id, now=now,
                                     lease_until=now + timedelta(seconds=self.lease_s),
                                     trigger="schedule"):
            return
        try:
            keys = queue_digest(self.config, self.store, build_digest(self.config, self.store))
        except Exception as exc:
            self.store.finish_slot(DIGEST_SLOT, slot, status="failed", now=utc_now(),
                                   note=str(exc)[:500])
            log.exception("digest failed")
            return
        self.store.finish_slot(DIGEST_SLOT, slot, status="done", now=utc_now())
        log.info("digest queued", extra={"keys": ",".join(keys)})
        self._deliver()

    # --- health ---------------------------------------------------------------------------

    def snapshot(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, body) for /healthz: database, scheduler, last round per target, outbox."""
        body: dict[str, Any] = {"daemon": self.daemon_id}
        beat_age = None if self.last_beat is None else time.monotonic() - self.last_beat
        alive = (getattr(self, "scheduler", None) is not None and self.scheduler.running
                 and beat_age is not None and beat_age < max(5.0, 5 * self.heartbeat_s))
        body["scheduler"] = {"alive": alive, "stopping": self.stopping.is_set(),
                             "heartbeat_age_s": None if beat_age is None else round(beat_age, 2),
                             "lease_renewed_at": self.last_beat_ok}
        db_ok, gauges, last = True, {}, {}
        try:
            self.health_store.ping()
            gauges = self.health_store.gauges()
            last = self.health_store.last_runs()
            body["database"] = {"ok": True}
        except Exception as exc:
            db_ok = False
            body["database"] = {"ok": False, "error": _first_line(exc)}
        body["targets"] = {
            name: {"schedule": jobs.target.schedule, "last_run": last.get(name)}
            for name, jobs in self.jobs.items()}
        body["outbox"] = gauges.get("outbox", {})
        # per channel, so a PagerDuty key that stopped working shows next to a healthy Slack
        body["channels"] = gauges.get("channels", {})
        body["open_incidents"] = sum(gauges.get("open_incidents", {}).values())
        failing = self._failing_targets(last) if db_ok else {}
        for name, why in failing.items():
            body["targets"][name]["failing"] = why
        body["failing_targets"] = sorted(failing)
        healthy = db_ok and alive
        # the service itself is up (200) while a target fails: degraded, with the list
        body["status"] = ("unhealthy" if not healthy else "degraded" if failing else "ok")
        if db_ok:
            self.metrics.set_gauges(list(self.jobs), gauges, healthy)
            self.metrics.set_target_up({name: name not in failing for name in self.jobs
                                        if name in last})
        else:
            self.metrics.up.set(0)
        return healthy, body

    def _failing_targets(self, last: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Targets whose latest round failed every call, with the error kind and the stored
        (redacted) provider message of that round."""
        from drift_monitor.detection.outage import provider_message

        out: dict[str, dict[str, Any]] = {}
        for name in self.jobs:
            run = last.get(name)
            if run is None or run["status"] != "failed":
                continue
            why: dict[str, Any] = {"run": run["id"]}
            tid = self.health_store.target_id(name)
            outcomes = self.health_store.recent_round_outcomes(tid, 1) if tid else []
            if outcomes:
                o = outcomes[0]
                why.update(error_kind=o["error_kind"], http_status=o["http_status"],
                           message=(provider_message(o["message"]) or "")[:300] or None)
            out[name] = why
        return out

    # --- reload (SIGHUP) -------------------------------------------------------------------

    def request_reload(self) -> None:
        """Safe from a signal handler: the serve loop reloads the config."""
        self._reload.set()

    def reload(self) -> bool:
        """Load the config file again and apply it: targets added, removed or changed, the
        digest schedule, notification settings. Everything is validated first (config,
        probes, suites, API keys); a bad file is logged and the running config is kept.
        The database and the HTTP server's address need a restart. True when applied."""
        from drift_monitor.config import load_config

        try:
            new = load_config(self.config.path)
            library = new.load_probes()
            new.check_suites(library)
            for t in new.targets():
                new.api_key(t)
            if new.database_url != self.config.database_url:
                raise DaemonError("the database changed: restart the daemon to switch "
                                  "databases (the running config is kept)")
        except DriftMonitorError as exc:
            log.error("config reload refused: the running config is kept",
                      extra={"error": str(exc)[:500]})
            return False
        if new.settings.server != self.config.settings.server:
            log.warning("config reload: server settings change only at restart")
        old = self.jobs
        jobs = self._make_jobs(new, library)
        for name in set(old) - set(jobs):
            self.scheduler.remove_job(f"round:{name}")
            self._retired.append(old[name])
        for name, j in jobs.items():
            self.scheduler.add_job(j.scheduled, j.clock.trigger(), id=f"round:{name}",
                                   name=f"round {name}", replace_existing=True)
        digest = new.settings.digest
        self.digest_clock = SlotClock(parse_schedule(digest.schedule), digest.timezone)
        self.scheduler.add_job(self._digest, CronTrigger.from_crontab(
            digest.schedule, timezone=digest.timezone), id="digest", replace_existing=True)
        self.config, self.jobs = new, jobs
        from drift_monitor.daemon.logs import secret_values

        for handler in logging.getLogger().handlers:  # a new key is redacted from now on
            for f in handler.filters:
                if isinstance(f, Redactor):
                    f.add(*secret_values(new))
        log.info("config reloaded", extra={
            "targets": len(jobs), "added": ",".join(sorted(set(jobs) - set(old))),
            "removed": ",".join(sorted(set(old) - set(jobs))),
            "changed": ",".join(sorted(n for n in set(jobs) & set(old)
                                       if jobs[n].target != old[n].target))})
        return True

    # --- stop -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag the serve loop polls."""
        self.stopping.set()

    def serve(self) -> bool:
        """Block until a stop is requested, then stop. True when everything stopped in time.
        A reload requested meanwhile (SIGHUP) is done here, outside the signal handler."""
        while not self.stopping.wait(0.2):
            if self._reload.is_set():
                self._reload.clear()
                try:
                    self.reload()
                except Exception:  # a bug in applying it must not kill the daemon
                    log.exception("config reload failed")
        return self.shutdown()

    def shutdown(self) -> bool:
        """Stop taking work, let rounds finish within the grace, cancel the rest, release the
        lease. True when no job was left running at the deadline."""
        self.stopping.set()
        t0 = time.monotonic()
        log.info("stopping: no new work is taken")
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        clean = self._wait_idle(t0 + self.stop_grace_s)
        if not clean:
            n = self.runner.cancel_all()
            log.warning("cancelling rounds still running", extra={"rounds": n})
            clean = self._wait_idle(t0 + self.stop_deadline_s)
        self._release()
        log.info("stopped", extra={"clean": clean,
                                   "seconds": round(time.monotonic() - t0, 2)})
        return clean

    def _busy(self) -> bool:
        return any(j.round_lock.locked() or j.check_lock.locked()
                   for j in [*self.jobs.values(), *self._retired])

    def _wait_idle(self, deadline: float) -> bool:
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._busy()

    def _release(self) -> None:
        beat = getattr(self, "_beat_thread", None)
        if beat is not None:
            self._beat_stop.set()
            beat.join(timeout=2)
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._registered:
            try:
                self.store.unregister_daemon(self.daemon_id)
            except Exception as exc:  # the lease expires by itself
                log.warning("could not release the lease", extra={"error": str(exc)[:300]})
            self._registered = False
        for store in (getattr(self, "store", None), getattr(self, "health_store", None),
                      getattr(self, "console_store", None)):
            if store is not None:
                store.engine.dispose()


def _warm_charts() -> None:
    try:
        warm_charts()
    except Exception:  # pragma: no cover - matplotlib broken: the pages say so when drawn
        log.warning("could not load the chart library", exc_info=True)
