"""A real SMTP server on loopback (aiosmtpd) that requires STARTTLS and a login, with a
certificate from a throwaway CA (trustme), so the email channel is tested over verified TLS.

Records every accepted mail (``messages``: parsed ``email.message.EmailMessage``) and every
login attempt; ``fail_next("451 4.3.0 try later", ...)`` answers the next DATA commands with those
replies; ``refuse`` maps a recipient to the reply its RCPT gets (``"550 5.1.1 no such user"``).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "drift-mailer"
SMTP_PASSWORD = "sMtP-pa55w0rd-secret-42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, server: FakeSMTP) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.server.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        srv = self.server
        with srv.lock:
            if srv.script:
                return srv.script.popleft()
            msg = message_from_bytes(envelope.content or b"", policy=policy.default)
            srv.messages.append(msg)  # type: ignore[arg-type]
            srv.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "tls": session.ssl is not None,
                                  "raw": envelope.content or b""})
        return "250 Message accepted for delivery"


class FakeSMTP:
    """Start with :meth:`start`; ``ca_file`` is the CA to trust, ``port`` the server's."""

    def __init__(self, directory: Path, *, user: str = SMTP_USER,
                 password: str = SMTP_PASSWORD, offer_starttls: bool = True) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict[str, Any]] = []
        self.logins: list[tuple[str, bool]] = []
        self.script: deque[str] = deque()
        self.refuse: dict[str, str] = {}
        self.user, self.password = user, password
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = directory / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.port = _free_port()
        kwargs: dict[str, Any] = {"require_starttls": True, "auth_required": True,
                                  "auth_require_tls": True, "tls_context": context,
                                  "authenticator": self._authenticate}
        if not offer_starttls:
            kwargs = {"auth_require_tls": False, "authenticator": self._authenticate}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     server_hostname="localhost", **kwargs)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        with self.lock:
            self.logins.append((auth_data.login.decode()
                                if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)  # unhandled: the server answers 535

    def fail_next(self, *replies: str) -> None:
        with self.lock:
            self.script.extend(replies)

    def start(self) -> FakeSMTP:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
