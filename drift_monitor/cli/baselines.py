"""`baseline set`, `baseline accept`, `baseline show`."""

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
)
from drift_monitor.storage.rows import as_dict

# --- baseline -------------------------------------------------------------------------------

@main.group()
def baseline() -> None:
    """Pin, show and accept baselines."""


@baseline.command("set")
@click.option("--target", "-t", required=True, help="Target name.")
@click.option("--runs", type=click.IntRange(1, 100), default=None,
              help="How many of the latest finished runs to pin (default baseline.min_runs).")
@click.option("--as", "actor", default=None, help="Who pins it (stored; default $USER).")
@pass_state
@handles_errors
def baseline_set(state: State, target: str, runs: int | None, actor: str | None) -> None:
    """Pin the last N finished runs as the target's baseline."""
    from drift_monitor.app.baselines import set_baseline

    pinned = set_baseline(state.config, open_store(state.config), target, runs, actor=actor)
    click.echo(f"{target}: baseline {pinned.id} pinned on runs {pinned.run_ids}")


@baseline.command("accept")
@click.option("--target", "-t", required=True, help="Target name.")
@click.option("--runs", type=click.IntRange(1, 100), default=None,
              help="How many recent finished runs to pin (default detection.window_runs).")
@click.option("--as", "actor", default=None, help="Who accepts it (stored; default $USER).")
@pass_state
@handles_errors
def baseline_accept(state: State, target: str, runs: int | None, actor: str | None) -> None:
    """Accept the new behaviour: pin the recent runs after a reviewed change.

    The target's open incidents close as accepted in the same transaction.
    """
    from drift_monitor.app.baselines import accept_baseline

    decisions: list[Any] = []
    pinned = accept_baseline(state.config, open_store(state.config), target, runs, actor=actor,
                             decisions=decisions)
    click.echo(f"{target}: accepted; baseline {pinned.id} now pins runs {pinned.run_ids}")
    for d in decisions:
        click.echo(f"  incident {d.incident_id} ({d.dimension}) closed as accepted"
                   + (" (notification queued; run 'drift-monitor notify')" if d.queued else ""))


@baseline.command("show")
@click.option("--target", "-t", "target", default=None, help="Target name (default all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def baseline_show(state: State, target: str | None, as_json: bool) -> None:
    """Show each target's baselines, newest first."""
    config = state.config
    store = open_store(config)
    chosen = config.targets([target] if target else None)
    histories = {}
    for t in chosen:
        tid = store.target_id(t.name)
        histories[t.name] = store.baseline_history(tid) if tid is not None else []
    if as_json:
        import json

        click.echo(json.dumps({"targets": [{"target": name,
                                            "baselines": [as_dict(b) for b in h]}
                                           for name, h in histories.items()]},
                              indent=2, default=json_default))
        return
    for t in chosen:
        history = histories[t.name]
        if not history:
            click.echo(f"{t.name}: no baseline yet (one is pinned automatically after "
                       f"{config.settings.baseline.min_runs} finished runs)")
            continue
        click.echo(f"{t.name}:")
        for b in history:
            state_word = ("active" if b.active
                          else f"superseded {b.superseded_at:%Y-%m-%d %H:%M}")
            click.echo(f"  baseline {b.id} ({b.reason}, {state_word}): runs {b.runs}, "
                       f"{b.responses} responses, pinned {b.created_at:%Y-%m-%d %H:%M} UTC"
                       + (f" - {b.note}" if b.note else ""))


