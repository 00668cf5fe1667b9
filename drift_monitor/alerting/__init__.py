"""Alerting: incidents, the outbox, and the channels (channels/ is the SEAM: slack, console)."""
