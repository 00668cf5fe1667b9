"""The web console: overview, target and incident pages, silences and acknowledgements.

``app.create_app`` builds the Starlette application (Jinja2 templates and the stylesheet are
files of this package, shipped in the wheel); ``server.ConsoleServer`` runs it under uvicorn in
the daemon or in ``drift-monitor serve``; ``auth`` holds the security model.
"""
