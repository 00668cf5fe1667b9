"""The one exception tree of drift-monitor.

::

    DriftMonitorError                 anything the CLI turns into a clear message and exit code 2
     ├── ConfigError                  drift-monitor.yaml is wrong (names file, key, line)
     ├── ProbeError                   a probe suite file is wrong (names file, key, line)
     ├── StorageError                 the database failed or refused (``detail``, ``url`` without
     │    │                           password, ``retryable``); Store raises nothing else
     │    ├── StorageUnavailable      unreachable, connection lost, locked, read-only
     │    │                           (``reason``: the driver's first line; ``retryable`` True)
     │    ├── StatementRejected       a statement refused for its values, a constraint or a
     │    │                           broken schema (``reason``; retrying cannot help)
     │    └── SchemaError             the schema is not this version's: not migrated, newer,
     │                                or foreign tables (``current``, ``head`` revisions)
     ├── BaselineError                a baseline cannot be formed or found (too few runs)
     ├── DaemonError                  the daemon cannot start (another daemon on SQLite, a
     │                                port in use, the database changed on reload)
     ├── OperationError               an incident operation was refused (unknown incident or
     │                                silence, a silence already over, a bad duration)
     ├── CompareError                 ``compare`` was asked something it cannot answer (the same
     │                                target twice, no probe version both targets run)
     ├── ProviderCallError            one provider call failed; carries the error kind and whether
     │                                a retry can help (``retryable``) and how long to wait
     └── ChannelError                 one notification could not be delivered; ``permanent`` says
                                      a retry cannot help (bad webhook, revoked token, unknown
                                      channel); otherwise the outbox retries with backoff

Constructors take structured fields and format the message themselves, so every message that
reaches a user has the same shape.
"""

from __future__ import annotations

from enum import StrEnum


class DriftMonitorError(Exception):
    """Base of every error drift-monitor raises on purpose."""


class _LocatedError(DriftMonitorError):
    """An error in a file, at a key, optionally at a line."""

    what = "error"

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.detail = message
        where = []
        if file:
            where.append(f"{file}" + (f":{line}" if line else ""))
        if key:
            where.append(f"key '{key}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(_LocatedError):
    """drift-monitor.yaml is malformed, has an unknown key, or names a missing env var."""


class ProbeError(_LocatedError):
    """A probe suite file is malformed, empty, has a duplicate id, or a suite is unknown."""


class OperationError(DriftMonitorError):
    """An incident operation (ack, silence add/expire) was refused; the message says why."""


class CompareError(DriftMonitorError):
    """``compare`` cannot compare these targets: the same target twice, or no common probes."""


class StorageError(DriftMonitorError):
    """The database failed, or cannot be used. ``url`` (when known) and the message never
    hold a password. ``retryable`` says whether the same call may succeed later."""

    retryable = False

    def __init__(self, detail: str, *, url: str | None = None) -> None:
        self.detail = detail
        self.url = url
        super().__init__(detail)


class StorageUnavailable(StorageError):
    """The database cannot serve the call now: unreachable, the connection lost, locked or
    read-only. ``reason`` is the driver's first line (no SQL, no parameters, no password);
    with ``url`` the message names the database it could not reach."""

    retryable = True

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"cannot reach the database {url}: {reason}" if url
                         else f"database error: {reason}", url=url)


class StatementRejected(StorageError):
    """The database refused a statement: a value it cannot hold, a constraint, a table that
    is not there. Another attempt of the same statement cannot help."""

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"database error: {reason}", url=url)


class SchemaError(StorageError):
    """The database's schema is not the one this version writes: empty of our schema but
    holding tables, behind ``head``, or at a revision this version does not know."""

    def __init__(self, detail: str, *, current: str | None = None, head: str | None = None,
                 url: str | None = None) -> None:
        self.current = current
        self.head = head
        super().__init__(detail, url=url)


class BaselineError(DriftMonitorError):
    """A baseline cannot be formed or found (with what the user can do about it)."""


class DaemonError(DriftMonitorError):
    """The daemon cannot start (another daemon on a SQLite database, a port in use...)."""


class ErrorKind(StrEnum):
    """Why a provider call failed. Stored with the failed response; never a behaviour sample."""

    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, reset or dropped before a complete answer
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    MALFORMED = "malformed"
    QUOTA = "quota"
    BUDGET = "budget"
    # the platform's content filter withheld the prompt or the answer (Azure OpenAI): an
    # outcome of its own whose rate is watched, never a behaviour sample
    CONTENT_FILTER = "content_filter"


class ProviderCallError(DriftMonitorError):
    """One provider call failed.

    ``retryable`` says whether another attempt can help (429 rate limits, 5xx, 529, timeouts,
    connection errors); quota, auth, budget, content-filter and other 4xx errors are
    permanent. ``retry_after`` is the server's requested wait in seconds, when it gave one.
    """

    def __init__(self, kind: ErrorKind, detail: str, *, retryable: bool,
                 status: int | None = None, retry_after: float | None = None,
                 request_id: str | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        status_part = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{kind.value}{status_part}: {detail}")


class ChannelError(DriftMonitorError):
    """A notification channel could not deliver a message.

    ``permanent`` is True when another attempt cannot help (HTTP 4xx from a webhook, an invalid
    token, an unknown or archived channel); the outbox then marks the notification failed and
    shows it instead of retrying. Otherwise (429, 5xx, timeouts, refused connections) the outbox
    retries with backoff, waiting at least ``retry_after`` seconds when the server asked for it.
    ``detail`` never contains a secret: channels build it from status codes and error names.
    """

    def __init__(self, channel: str, detail: str, *, permanent: bool,
                 retry_after: float | None = None, status: int | None = None) -> None:
        self.channel = channel
        self.detail = detail
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status
        kind = "permanent" if permanent else "temporary"
        status_part = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{channel}: {kind} failure{status_part}: {detail}")
