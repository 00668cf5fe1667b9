"""The console's security model (reliability promise 13).

- Bound to a loopback address (the default 127.0.0.1) the console needs no token, but it
  answers only requests whose ``Host`` is a loopback name or the ``server.public_url`` host, so
  a web page cannot reach it through DNS rebinding.
- Bound anywhere else it requires a token (the environment variable named by
  ``server.auth_token_env``) and refuses to start without one. A token, when configured, is
  required on every address. Clients send it as ``Authorization: Bearer <token>``; browsers
  sign in on ``/login`` and get an HttpOnly, SameSite=Strict cookie holding an HMAC of the
  token (never the token itself).
- Every mutating action is a POST carrying a CSRF token that must match the ``dm_csrf``
  cookie (double submit), and an ``Origin``, when sent, must be the console's own. Requests
  authenticated with the bearer header are exempt: a browser never adds that header by itself.
- ``/healthz``, ``/metrics``, ``/login`` and ``/static`` are open: they show no model output.
  ``/slack/actions`` is verified by Slack's request signature instead of the token.
- Every response carries a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drift_monitor.config import Config
from drift_monitor.errors import ConfigError

SESSION_COOKIE = "dm_session"
CSRF_COOKIE = "dm_csrf"
MIN_TOKEN_CHARS = 16
# /slack/actions is authenticated by Slack's request signature instead (web/slack_actions.py)
OPEN_PATHS = ("/healthz", "/metrics", "/login", "/static/", "/slack/actions")
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
# the digest report is one self-contained file with inline CSS (it is also a mail attachment)
CSP_INLINE_STYLE = CSP.replace("style-src 'self'", "style-src 'unsafe-inline'")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def console_token(config: Config, host: str) -> str | None:
    """The token the console requires, or None (loopback without a token).

    Raises ConfigError (file, key, line) when the host is not loopback and no token is set,
    when the named variable is unset, or when the token is too short to be a secret."""
    from drift_monitor.yamlio import dotted, line_for

    server = config.settings.server
    token = config.secret(server.auth_token_env, ("server", "auth_token_env"))
    if token is None and not is_loopback(host):
        raise ConfigError(f"the console would listen on {host}, which is not a loopback "
                          "address: it then requires a token; set server.auth_token_env to "
                          "the name of an environment variable holding one (or bind "
                          "127.0.0.1)", file=str(config.path), key="server.host",
                          line=line_for(("server", "host"), config.lines))
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        key = ("server", "auth_token_env")
        raise ConfigError(f"the console token in ${server.auth_token_env} has {len(token)} "
                          f"characters; use at least {MIN_TOKEN_CHARS} (e.g. "
                          "'openssl rand -hex 24')", file=str(config.path), key=dotted(key),
                          line=line_for(key, config.lines))
    return token


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"drift-monitor console session v1",
                    hashlib.sha256).hexdigest()


def bearer_ok(request: Request, token: str | None) -> bool:
    if token is None:
        return False
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                             token.encode())


def authorized(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    if bearer_ok(request, token):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(request: Request, form: Any, token: str | None, public_url: str | None) -> bool:
    """The double-submit check of a POST (see the module docstring)."""
    if bearer_ok(request, token):
        return True
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf", ""))
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        own = {f"{request.url.scheme}://{request.url.netloc}"}
        if public_url:
            p = urlsplit(public_url)
            own.add(f"{p.scheme}://{p.netloc}")
        return origin in own
    return True


def set_session(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="strict",
                        secure=secure, path="/", max_age=7 * 86400)


class Guard:
    """ASGI middleware: host check, authentication and security headers for every request."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: set[str]) -> None:
        self.app, self.token, self.allowed_hosts = app, token, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        refusal: Response | None = None
        if self.token is None:
            host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
            if host and not (is_loopback(host) or host in self.allowed_hosts):
                refusal = PlainTextResponse(
                    "this console answers only on a loopback address or server.public_url\n",
                    status_code=421)
        if refusal is None and not path.startswith(OPEN_PATHS) and not authorized(request,
                                                                                 self.token):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                refusal = RedirectResponse(f"/login?next={quote(path, safe='/')}",
                                           status_code=303)
            else:
                refusal = PlainTextResponse("authentication required\n", status_code=401,
                                            headers={"WWW-Authenticate": "Bearer"})
        if refusal is not None:
            await _secured(refusal)(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                _headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_secured)


def _headers(headers: MutableHeaders) -> None:
    if "content-security-policy" not in headers:
        headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Cache-Control", "no-store")


def _secured(response: Response) -> Response:
    _headers(response.headers)
    return response
