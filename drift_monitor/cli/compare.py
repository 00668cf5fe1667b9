"""`compare`: a candidate target against a pinned one on the same probes."""

from __future__ import annotations

import click

from drift_monitor.cli._base import (
    State,
    handles_errors,
    main,
    open_store,
    pass_state,
    write_report,
)


@main.command()
@click.option("--target", "pinned", required=True, help="The pinned target (the reference).")
@click.option("--candidate", required=True, help="The target that might replace it.")
@click.option("--samples", type=click.IntRange(1, 1000),
              help="Samples per probe when a new round is needed.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write a self-contained HTML report to this file.")
@click.option("--reuse-hours", type=click.FloatRange(0), default=24.0, show_default=True,
              help="Reuse runs this recent that cover the common probes (0: always run).")
@pass_state
@handles_errors
def compare(state: State, pinned: str, candidate: str, samples: int | None,
            html_path: str | None, reuse_hours: float) -> None:
    """Compare CANDIDATE with the pinned TARGET on the probes both run: differences per
    dimension and probe with examples, expectation pass rates, cost per 1,000 probes, latency
    p50/p95, and what the candidate fixes, breaks and costs.

    Exit 0 when the report was made, 2 on bad input (unknown target, no common probes).
    """
    from drift_monitor.compare import compare_targets
    from drift_monitor.compare.text import render_text

    config = state.config
    library = config.load_probes()
    config.check_suites(library)
    config.target(pinned), config.target(candidate)  # unknown names fail before any work
    store = open_store(config)
    try:
        report = compare_targets(config, store, library, pinned, candidate, samples=samples,
                                 reuse_hours=reuse_hours)
    finally:
        store.engine.dispose()
    click.echo(render_text(report))
    if html_path:
        from drift_monitor.compare.html import render_html

        write_report(html_path, render_html(report))
