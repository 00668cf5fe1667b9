"""The always-on daemon (``drift-monitor run``).

Modules: ``service`` (the Daemon: scheduler, heartbeat, outbox, digest, stop), ``rounds`` (a
target's slots: claim, missed slots, round, check), ``slots`` (schedule arithmetic), ``server``
(/healthz and /metrics), ``metrics`` (Prometheus), ``logs`` (structured, redacted log lines).
"""
