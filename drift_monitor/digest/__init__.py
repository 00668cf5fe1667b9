"""The weekly digest: build.py reads the period from the store into one JSON payload (what the
outbox stores and every renderer reads), text.py and html.py render it, charts.py draws its
charts (matplotlib, imported only when a chart is drawn).

The digest knows no channel: :mod:`drift_monitor.app.digest` adds the console links and queues
it; the channels render it with the functions here.
"""
