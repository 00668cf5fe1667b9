"""The console as a Starlette application: server-rendered Jinja2 pages (autoescaped), one
stylesheet shipped in the package, no JavaScript, no asset from the network.

Pages: ``/`` (overview), ``/targets/{name}``, ``/incidents/{id}``, ``/silences``, ``/digest``,
``/compare?pinned=A&candidate=B`` (from stored runs only: the console never probes).
Actions (only with ``actions=True``): ``POST /incidents/{id}/ack``, ``POST /silences``,
``POST /silences/{id}/expire``. The daemon adds ``/healthz`` and ``/metrics`` (the same
snapshot and renderer as before). Security: see web/auth.py.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from drift_monitor import __version__
from drift_monitor.clock import Clock, utc_now
from drift_monitor.config import Config
from drift_monitor.detection.findings import DIMENSIONS
from drift_monitor.errors import ConfigError, DriftMonitorError, OperationError
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import as_dict
from drift_monitor.web import auth

HERE = Path(__file__).resolve().parent
log = logging.getLogger("drift_monitor.web")
DURATIONS = ("1h", "4h", "12h", "1d", "3d", "7d")



def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True))

    def when(v: datetime | None) -> str:
        return "-" if v is None else f"{v:%Y-%m-%d %H:%M}"

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    def num(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    env.filters.update(when=when, pct=pct, num=num, urlpart=lambda s: quote(str(s), safe=""))
    return env


def create_app(config: Config, store: Store, *, actions: bool, token: str | None,
               health: Any = None, render_metrics: Callable[[], bytes] | None = None,
               now: Clock = utc_now, host: str = "127.0.0.1",
               slack_clock: Any = None) -> Starlette:
    """The console. ``health`` (a daemon.server.HealthCache) and ``render_metrics`` add
    ``/healthz`` and ``/metrics``; ``token`` comes from auth.console_token."""
    env = templates()
    public_url = config.settings.server.public_url

    def page(request: Request, name: str, code: int = 200, **ctx: Any) -> HTMLResponse:
        csrf = request.cookies.get(auth.CSRF_COOKIE)
        fresh = csrf is None
        csrf = csrf or auth.new_csrf()
        html = env.get_template(name).render(
            request=request, csrf=csrf, can_act=actions, auth=token is not None,
            version=__version__, dimensions=DIMENSIONS, durations=DURATIONS,
            path=request.url.path, **ctx)
        response = HTMLResponse(html, status_code=code)
        if fresh:
            response.set_cookie(auth.CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", path="/")
        return response

    def error(request: Request, status: int, message: str) -> HTMLResponse:
        return page(request, "error.html", code=status, message=message)

    async def checked_form(request: Request) -> Any:
        if not actions:
            raise HTTPException(403, "this console is read-only (drift-monitor serve "
                                     "--actions, or the daemon's console, allow actions)")
        form = await request.form()
        if not auth.csrf_ok(request, form, token, public_url):
            raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the "
                                     "page and try again")
        return form

    def back(request: Request, fallback: str, notice: str) -> RedirectResponse:
        target = str(request.query_params.get("next") or fallback)
        if not target.startswith("/") or target.startswith("//"):
            target = fallback
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}notice={quote(notice)}", status_code=303)

    # --- pages ----------------------------------------------------------------------------

    def overview(request: Request) -> Response:
        from drift_monitor.web.pages import overview_page

        ctx = overview_page(config, store, now(), state=request.query_params.get("state"),
                            sort=request.query_params.get("sort", "state"))
        return page(request, "overview.html", now=now(), **ctx)

    def target(request: Request) -> Response:
        from drift_monitor.web.pages import target_page

        try:
            days = max(1, min(366, int(request.query_params.get("days", "30"))))
        except ValueError:
            days = 30
        try:
            ctx = target_page(config, store, request.path_params["name"], now(), days=days)
        except ConfigError:
            return error(request, 404, f"no target named {request.path_params['name']!r} "
                                       "in the configuration")
        return page(request, "target.html", now=now(), **ctx)

    def incident(request: Request) -> Response:
        from drift_monitor.web.pages import incident_page

        row = store.incident(request.path_params["id"])
        if row is None:
            return error(request, 404, f"there is no incident {request.path_params['id']}")
        return page(request, "incident.html", now=now(), **incident_page(store, row, now()))

    def silences(request: Request) -> Response:
        from drift_monitor.alerting.operations import silence_state

        # the page's view of a silence: its row and its state now
        rows = [{**as_dict(s), "state": silence_state(s, now())}
                for s in store.silences(now=now(), active_only=False, limit=100)]
        return page(request, "silences.html", rows=rows,
                    targets=[t.name for t in config.targets()], now=now())

    def digest(request: Request) -> Response:
        from drift_monitor.digest.build import build_digest
        from drift_monitor.digest.html import render_html

        try:
            days = max(1, min(366, int(request.query_params.get("days", "7"))))
        except ValueError:
            days = 7
        html = render_html(build_digest(config, store, days=days, now=now))
        return HTMLResponse(html, headers={"Content-Security-Policy": auth.CSP_INLINE_STYLE})

    def compare(request: Request) -> Response:
        from drift_monitor.web.pages import compare_report

        pinned = request.query_params.get("pinned", "")
        candidate = request.query_params.get("candidate", "")
        try:
            html = compare_report(config, store, pinned, candidate, now())
        except DriftMonitorError as exc:  # unknown target, no recent runs, broken probes
            return error(request, 409, getattr(exc, "detail", None) or str(exc))
        return HTMLResponse(html, headers={"Content-Security-Policy": auth.CSP_INLINE_STYLE})

    # --- actions --------------------------------------------------------------------------

    async def ack(request: Request) -> Response:
        from drift_monitor.alerting.operations import ack_incident

        form = await checked_form(request)
        iid = request.path_params["id"]
        try:
            ack_incident(store, iid, actor=str(form.get("actor", "")), now=now(),
                         note=str(form.get("note", "")) or None)
        except OperationError as exc:
            return error(request, 409, str(exc))
        return back(request, f"/incidents/{iid}", f"incident #{iid} acknowledged")

    async def add_silence(request: Request) -> Response:
        from drift_monitor.alerting.operations import add_silence as add

        form = await checked_form(request)
        name = str(form.get("target", ""))
        dim = str(form.get("dimension", "")) or None
        try:
            s = add(config, store, target=name, dimension=dim,
                    reason=str(form.get("reason", "")), actor=str(form.get("actor", "")),
                    now=now(), for_=str(form.get("for", "")) or None,
                    until=str(form.get("until", "")) or None)
        except (OperationError, ConfigError) as exc:
            return error(request, 400, getattr(exc, "detail", None) or str(exc))
        return back(request, "/silences", f"silence {s.id} added")

    async def expire(request: Request) -> Response:
        from drift_monitor.alerting.operations import expire_silence

        form = await checked_form(request)
        sid = request.path_params["id"]
        try:
            expire_silence(store, sid, actor=str(form.get("actor", "")), now=now())
        except OperationError as exc:
            return error(request, 409, str(exc))
        return back(request, "/silences", f"silence {sid} expired")

    # --- login ----------------------------------------------------------------------------

    def login_form(request: Request) -> Response:
        return page(request, "login.html", next=_safe_next(request.query_params.get("next")),
                    failed=False)

    async def login(request: Request) -> Response:
        form = await request.form()
        nxt = _safe_next(str(form.get("next", "")))
        if token is None:
            return RedirectResponse(nxt, status_code=303)
        if not auth.csrf_ok(request, form, None, public_url):
            raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the "
                                     "page and try again")
        given = str(form.get("token", ""))
        if not secrets.compare_digest(given.encode(), token.encode()):
            return page(request, "login.html", code=401, next=nxt, failed=True)
        response = RedirectResponse(nxt, status_code=303)
        auth.set_session(response, token, secure=request.url.scheme == "https"
                         or bool(public_url and public_url.startswith("https:")))
        return response

    async def logout(request: Request) -> Response:
        form = await request.form()
        if not auth.csrf_ok(request, form, None, public_url):
            raise HTTPException(403, "the form's CSRF token is missing or wrong")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    # --- the daemon's endpoints -----------------------------------------------------------

    def healthz(request: Request) -> Response:
        ok, body = health.get()
        return Response(json.dumps(body, default=str), status_code=200 if ok else 503,
                        media_type="application/json")

    def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        assert render_metrics is not None
        health.get()  # refreshes the database gauges
        return Response(render_metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(request, exc.status_code, str(exc.detail))

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("console page failed", exc_info=exc, extra={"path": request.url.path})
        return error(request, 500, "this page failed; the console's log says why")

    routes = [
        Route("/", overview),
        Route("/targets/{name}", target),
        Route("/incidents/{id:int}", incident),
        Route("/incidents/{id:int}/ack", ack, methods=["POST"]),
        Route("/silences", silences),
        Route("/silences", add_silence, methods=["POST"]),
        Route("/silences/{id:int}/expire", expire, methods=["POST"]),
        Route("/digest", digest),
        Route("/compare", compare),
        Route("/login", login_form),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    if health is not None:
        routes += [Route("/healthz", healthz), Route("/metrics", metrics)]
    slack = config.settings.notify.slack
    if actions and slack is not None and slack.signing_secret_env:
        from drift_monitor.web.slack_actions import handler

        secret = config.secret(slack.signing_secret_env,
                               ("notify", "slack", "signing_secret_env"))
        assert secret is not None
        routes.append(Route("/slack/actions", handler(config, store, secret, now,
                                                      slack_clock), methods=["POST"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error,
                                                       Exception: crash})
    allowed = {"localhost", host}
    if public_url:
        allowed.add(urlsplit(public_url).hostname or "")
    app.add_middleware(auth.Guard, token=token, allowed_hosts=allowed)
    return app


def _safe_next(value: str | None) -> str:
    """Only a path of this console: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
