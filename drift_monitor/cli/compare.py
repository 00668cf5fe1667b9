"""`compare`: a candidate target against a pinned one on the same probes."""

from __future__ import annotations

from typing import Any

import click

from drift_monitor.cli._base import (
    State,
    handles_errors,
    json_default,
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
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def compare(state: State, pinned: str, candidate: str, samples: int | None,
            html_path: str | None, reuse_hours: float, as_json: bool) -> None:
    """Compare CANDIDATE with the pinned TARGET on the probes both run: differences per
    dimension and probe with examples, expectation pass rates, cost per 1,000 probes, latency
    p50/p95, and what the candidate fixes, breaks and costs.

    Exit 0 when the report was made, 2 on bad input (unknown target, no common probes).
    """
    from drift_monitor.app.compare import compare_targets
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
    if as_json:
        import json

        click.echo(json.dumps(report_json(report), indent=2, default=json_default))
    else:
        click.echo(render_text(report))
    if html_path:
        from drift_monitor.compare.html import render_html

        write_report(html_path, render_html(report))


def report_json(r: Any) -> dict[str, Any]:
    """A CompareReport as one JSON object (findings as in ``check --json``)."""
    from dataclasses import asdict

    return {"pinned": {"target": r.pinned, "model": r.pinned_model, "runs": r.pinned_runs,
                       "reused": r.pinned_reused, "pass_rates": asdict(r.pass_rates[0]),
                       "usage": asdict(r.usage[0]), "refusals": r.refusals[0]},
            "candidate": {"target": r.candidate, "model": r.candidate_model,
                          "runs": r.candidate_runs, "reused": r.candidate_reused,
                          "pass_rates": asdict(r.pass_rates[1]), "usage": asdict(r.usage[1]),
                          "refusals": r.refusals[1]},
            "probes": r.probes, "fixes": r.fixes, "breaks": r.breaks, "changes": r.changes,
            "costs": r.costs, "findings": [f.to_json() for f in r.findings],
            "probe_diffs": [asdict(d) for d in r.probe_diffs], "notes": r.notes}
