"""Serving the console: uvicorn in a thread of the daemon (``run``) or of ``serve``.

The listening socket is bound before uvicorn starts, so a port in use or an address that is
not ours fails at once with an OSError the caller turns into a clear message.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from drift_monitor.errors import DriftMonitorError

log = logging.getLogger("drift_monitor.web")
START_TIMEOUT_S = 10.0


class ConsoleError(DriftMonitorError):
    """The console cannot start (the address is in use, no token beyond loopback...)."""


class ConsoleServer:
    """An ASGI app on (host, port) in a daemon thread; ``port`` 0 picks a free port.
    Same interface as daemon.server.StatusServer: ``address``, ``start()``, ``stop()``."""

    def __init__(self, host: str, port: int, app: Any) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(128)
        except OSError:
            self.sock.close()
            raise
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, server_header=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="console-server", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except Exception:  # never silently: the daemon keeps probing, the log says why
            log.exception("the console server stopped")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise ConsoleError("the console server did not start within "
                                   f"{START_TIMEOUT_S:.0f} s")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.sock.close()


class Console:
    """``serve``: the console with its own store; ``wait()`` until ``request_stop()``."""

    def __init__(self, server: ConsoleServer, store: Any) -> None:
        self.server, self.store = server, store
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return self.server.url

    def request_stop(self) -> None:
        self.stopping.set()

    def wait(self) -> None:
        while not self.stopping.wait(0.2):
            if not self.server.thread.is_alive():
                break
        self.server.stop()
        self.store.engine.dispose()


def start_console(config: Any, *, host: str | None = None, port: int | None = None,
                  actions: bool = False) -> Console:
    """Start ``serve``'s console. Raises ConfigError (no token beyond loopback), StorageError
    (database unreachable or not migrated) or ConsoleError (cannot listen)."""
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store
    from drift_monitor.web.app import create_app
    from drift_monitor.web.auth import console_token

    server_cfg = config.settings.server
    host = host or server_cfg.host
    port = server_cfg.port if port is None else port
    token = console_token(config, host)
    engine = make_engine(config.database_url)
    ensure_schema(engine)
    store = Store(engine)
    app = create_app(config, store, actions=actions, token=token, host=host)
    try:
        server = ConsoleServer(host, port, app)
    except OSError as exc:
        engine.dispose()
        raise ConsoleError(f"cannot listen on {host}:{port} (server.host/server.port): "
                           f"{exc.strerror or exc}") from None
    server.start()
    return Console(server, store)
