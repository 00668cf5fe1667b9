"""`init`, `validate` and `db upgrade`."""

from __future__ import annotations

import asyncio
import shutil
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from drift_monitor.cli._base import State, _fail, handles_errors, main, pass_state

if TYPE_CHECKING:
    from drift_monitor.config import Config, TargetConfig

# --- init -----------------------------------------------------------------------------------

@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@handles_errors
def init(directory: str, force: bool) -> None:
    """Write a commented drift-monitor.yaml and a starter probes/ into DIRECTORY."""
    from drift_monitor.probes import default_library_dir

    dest = Path(directory)
    templates = resources.files("drift_monitor") / "templates"
    config_dest = dest / "drift-monitor.yaml"
    probes_dest = dest / "probes"
    # the GPT-3.5 starter suites (replayed by the quickstart) and the default library
    sources: list[Traversable] = [p for p in (templates / "probes").iterdir()
                                  if p.name.endswith(".yaml")]
    sources += sorted(default_library_dir().glob("*.yaml"))
    targets = [config_dest] + [probes_dest / p.name for p in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        _fail(f"{', '.join(existing)} already exist(s); use --force to overwrite")
    probes_dest.mkdir(parents=True, exist_ok=True)
    with resources.as_file(templates / "drift-monitor.yaml") as src:
        shutil.copyfile(src, config_dest)
    for item in sources:
        with resources.as_file(item) as src:
            shutil.copyfile(src, probes_dest / item.name)
    click.echo(f"wrote {config_dest} and {probes_dest}/")
    click.echo(f"next: cd {dest} && drift-monitor validate && drift-monitor probe")


# --- validate -------------------------------------------------------------------------------

@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def validate(state: State, as_json: bool) -> None:
    """Load config and probes, check every target, and print a summary with each target's
    calls and estimated cost per round and per month."""
    from drift_monitor.alerting.routes import route_problems, router_for
    from drift_monitor.app.estimate import estimate
    from drift_monitor.storage.engine import safe_url

    config = state.config
    problems = route_problems(config)
    for problem in problems:  # every one, so a single run shows all there is to fix
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(2)
    library = config.load_probes()
    config.check_suites(library)
    out: dict[str, Any] = {
        "valid": True, "config": str(config.path), "database": safe_url(config.database_url),
        "probes": sum(len(s.probes) for s in library.suites.values()),
        "suites": sorted(library.suites), "probes_dir": str(config.probes_dir), "targets": []}
    lines = [f"config: {out['config']}", f"database: {out['database']}",
             f"probes: {out['probes']} in {len(out['suites'])} suites ({out['probes_dir']})"]
    target_issues: list[str] = []
    for target in config.targets():
        found = target_problems(config, target)
        if found:
            target_issues += found
            continue
        warnings = credential_warnings(target)
        lines += [f"target {target.name}: warning: {w}" for w in warnings]
        probes = library.select(target.suites)
        est = estimate(target, probes)
        out["targets"].append({"name": target.name, "provider": target.provider,
                               "model": target.model, "probes": len(probes),
                               "schedule": target.schedule, "control": target.control,
                               "warnings": warnings, **est.to_json()})
        lines.append(f"target {target.name}: {target.provider} {target.model}, "
                     f"{len(probes)} probes, {est.calls} calls per run, {target.schedule}"
                     + (f", control {target.control}" if target.control else ""))
        lines.append(f"  cost: {est.describe()}")
    if target_issues:
        for line in target_issues:
            click.echo(line, err=True)
        _fail(f"invalid: {len(target_issues)} problem(s) with targets")
    router = router_for(config)
    out["notify"] = {"routes": len(router.routes), "default": list(router.default),
                     "digest": list(router.digest)}
    total = [t["cost_usd_per_month"] for t in out["targets"]]
    out["cost_usd_per_month"] = (round(sum(total), 2) if all(c is not None for c in total)
                                 else None)
    if as_json:
        import json

        click.echo(json.dumps(out, indent=2))
        return
    for line in lines:
        click.echo(line)
    if out["cost_usd_per_month"] is not None:
        click.echo(f"estimated total: ${out['cost_usd_per_month']:.2f} a month (confirmation "
                   "rounds come on top)")
    click.echo(f"notify: {len(router.routes)} routes, default {', '.join(router.default)}, "
               f"digest to {', '.join(router.digest)}")
    from drift_monitor.probes import pattern_warnings

    for warning in pattern_warnings(library):
        click.echo(f"warning: {warning}", err=True)
    click.echo("valid")


def target_problems(config: Config, target: TargetConfig) -> list[str]:
    """One line per problem with ``target`` that can be found offline, each naming the file
    and line of the target: its provider kind's checks, then the provider's own set-up (the
    API key's variable, for one)."""
    from drift_monitor.errors import ConfigError
    from drift_monitor.providers import provider_class
    from drift_monitor.runner import make_provider
    from drift_monitor.yamlio import line_for

    index = config.targets().index(target)
    line = line_for(("targets", index), config.lines)
    where = f"{config.path}" + (f":{line}" if line else "")
    found = provider_class(target.provider).config_problems(target)
    if not found:
        try:
            provider = make_provider(config, target)
            asyncio.run(provider.aclose())
        except ConfigError as exc:
            return [str(exc)]
    return [f"{where}: target '{target.name}' ({target.provider}): {p}" for p in found]


def credential_warnings(target: TargetConfig) -> list[str]:
    """Platform credentials the provider kind could not find offline (they may still be found
    at run time, from instance metadata): shown, not counted as problems."""
    from drift_monitor.providers import provider_class

    check = getattr(provider_class(target.provider), "credential_problems", None)
    return list(check(target)) if callable(check) else []


# --- db -------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@pass_state
@handles_errors
def db_upgrade(state: State) -> None:
    """Apply the Alembic migrations up to the newest revision."""
    from drift_monitor.storage.engine import current_revision, make_engine, safe_url, upgrade

    engine = make_engine(state.config.database_url)
    try:
        upgrade(engine)
        click.echo(f"database {safe_url(state.config.database_url)} at revision "
                   f"{current_revision(engine)}")
    finally:
        engine.dispose()




@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@pass_state
@handles_errors
def db_prune(state: State, dry_run: bool, as_json: bool) -> None:
    """Apply `retention` now: delete responses and runs older than it, in small batches,
    never a baseline's runs or their responses."""
    from drift_monitor.app.retention import prune
    from drift_monitor.cli._base import open_store

    config = state.config
    retention = config.settings.retention
    store = open_store(config)
    report = prune(config, store, dry_run=dry_run)
    if as_json:
        import json

        click.echo(json.dumps({**report.to_json(), "retention": retention.model_dump()}))
        return
    if retention.responses is None and retention.runs is None:
        click.echo("no retention configured (retention: {responses: 90d, runs: 400d}): "
                   "nothing pruned")
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {report.responses} responses and {report.runs} runs (retention: "
               f"responses {retention.responses or 'kept'}, runs {retention.runs or 'kept'}); "
               f"{report.kept_baseline_runs} old runs kept because a baseline holds them")
