"""Alerting: incidents, routes, the outbox, and the channels (channels/ is the SEAM: slack,
webhook, pagerduty, email, console)."""
