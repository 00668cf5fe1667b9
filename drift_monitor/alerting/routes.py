"""Which channel hears about an incident: ``notify.routes``, first match wins, else the default.

A route matches an incident when every condition it sets holds: the target's name matches one of
its ``targets`` globs (``fnmatch``, case-sensitive), the incident's dimension is one of its
``dimensions``, and its severity is at least ``min_severity``. A condition left out matches
everything. An incident no route matches goes to ``notify.default``; without one, to every
configured channel (the console when none is), as before routes existed. The digest goes to
``digest.channel``, else the default.

Resolutions and acceptances are not routed again: they go to the channels that got the
incident's alerts (stored on the incident), so the PagerDuty incident a page opened is the one
its resolution closes, even when the routes changed in between.

:func:`route_problems` lists what is wrong with the routes (``validate`` prints it, one line per
problem); :func:`make_router` refuses a config whose routes name a channel that cannot deliver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from drift_monitor.alerting.channels import CHANNELS, channel_names
from drift_monitor.config import DIMENSIONS, Config, RouteConfig
from drift_monitor.detection.findings import severity_rank
from drift_monitor.errors import ConfigError
from drift_monitor.storage.rows import IncidentRow
from drift_monitor.yamlio import Path_, dotted, line_for

PAGING_SEVERITIES = ("warning", "critical")  # info never pages


def route_matches(route: RouteConfig, target: str, dimension: str, severity: str) -> bool:
    """True when the incident (target, dimension, severity) meets every condition of ``route``."""
    globs = route.target_globs
    if globs is not None and not any(fnmatchcase(target, g) for g in globs):
        return False
    if route.dimensions is not None and dimension not in route.dimensions:
        return False
    return (route.min_severity is None
            or severity_rank(severity) >= severity_rank(route.min_severity))


@dataclass(frozen=True)
class Router:
    """The routes of a config as values: which channels an alert or a digest goes to."""

    routes: tuple[RouteConfig, ...]
    default: tuple[str, ...]
    digest: tuple[str, ...]

    @classmethod
    def fixed(cls, channels: Sequence[str]) -> Router:
        """Every message to ``channels`` (the behaviour without routes)."""
        return cls((), tuple(channels), tuple(channels))

    def alert_channels(self, target: str, dimension: str, severity: str) -> list[str]:
        """The channels of an incident's alert: the first matching route's, else the default."""
        for route in self.routes:
            if route_matches(route, target, dimension, severity):
                return [route.channel]
        return list(self.default)

    def closing_channels(self, incident: IncidentRow, target: str) -> list[str]:
        """Where an incident's resolution or acceptance goes: the channels its alerts went to;
        for an incident announced before they were recorded, where an alert would go now."""
        if incident.notified_channels:
            return [str(c) for c in incident.notified_channels]
        return self.alert_channels(target, incident.dimension, incident.severity)


def _default(config: Config) -> tuple[str, ...]:
    default = config.settings.notify.default
    return (default,) if default else tuple(channel_names(config))


def router_for(config: Config) -> Router:
    """The config's routes as a Router, without checking them (see make_router). Without
    ``digest.channel`` the digest goes to the default channels that carry one (PagerDuty does
    not), else to the console."""
    default = _default(config)
    digest = config.settings.digest.channel
    carriers = tuple(c for c in default
                     if c not in CHANNELS or CHANNELS.load(c).carries_digest)
    return Router(tuple(config.settings.notify.routes), default,
                  (digest,) if digest else carriers or ("console",))


def make_router(config: Config) -> Router:
    """The config's Router. Raises ConfigError (file, key, line) when a route, the default or
    the digest's channel is unknown or has no settings: a message queued for it could never be
    delivered. Routes that can never match are only reported by :func:`route_problems`."""
    for problem in _channel_problems(config):
        raise problem
    return router_for(config)


def _error(config: Config, path: Path_, message: str) -> ConfigError:
    return ConfigError(message, file=str(config.path), key=dotted(path),
                       line=line_for(path, config.lines))


def _channel_uses(config: Config) -> Iterable[tuple[Path_, str]]:
    settings = config.settings
    for i, route in enumerate(settings.notify.routes):
        yield ("notify", "routes", i, "channel"), route.channel
    if settings.notify.default:
        yield ("notify", "default"), settings.notify.default
    if settings.digest.channel:
        yield ("digest", "channel"), settings.digest.channel


def _channel_problems(config: Config) -> list[ConfigError]:
    problems = []
    notify = config.settings.notify
    for path, name in _channel_uses(config):
        if name not in CHANNELS:
            problems.append(_error(config, path, f"unknown channel '{name}' (channels: "
                                                 f"{', '.join(sorted(CHANNELS))})"))
        elif name != "console" and getattr(notify, name, None) is None:
            problems.append(_error(config, path, f"channel '{name}' has no settings: add "
                                                 f"notify.{name}"))
    digest = config.settings.digest.channel
    if digest is not None and digest in CHANNELS and not CHANNELS.load(digest).carries_digest:
        problems.append(_error(config, ("digest", "channel"), f"channel '{digest}' takes "
                                                               "incidents, not the digest"))
    return problems


def _never_matching(config: Config) -> list[ConfigError]:
    """Routes that no incident can reach: their targets match no target, or earlier routes
    take every incident they would match. Decided over every configured target, dimension and
    paging severity, so the answer is exact for this config."""
    settings = config.settings
    floor = max(settings.notify.min_severity, "warning", key=severity_rank)
    severities = [s for s in PAGING_SEVERITIES if severity_rank(s) >= severity_rank(floor)]
    universe = [(t.name, d, s) for t in settings.targets for d in DIMENSIONS for s in severities]
    taken: dict[tuple[str, str, str], int] = {}
    problems = []
    for i, route in enumerate(settings.notify.routes):
        path: Path_ = ("notify", "routes", i)
        matched = [k for k in universe if route_matches(route, *k)]
        fresh = [k for k in matched if k not in taken]
        if not matched:  # critical always pages, so only the target globs can exclude all
            globs = ", ".join(repr(g) for g in route.target_globs or [])
            targets = ", ".join(t.name for t in settings.targets)
            problems.append(_error(config, path, f"this route can never match: its targets "
                                                 f"{globs} match no target (targets: {targets})"))
        elif not fresh:
            earlier = sorted({taken[k] for k in matched})
            names = ", ".join(f"notify.routes.{j}"
                              + (f" (line {line_for(('notify', 'routes', j), config.lines)})"
                                 if line_for(("notify", "routes", j), config.lines) else "")
                              for j in earlier)
            problems.append(_error(config, path, "this route can never match: every incident "
                                                 f"it matches is taken first by {names}"))
        for k in fresh:
            taken[k] = i
    return problems


def route_problems(config: Config) -> list[ConfigError]:
    """Every problem with the routes, in file order: unknown channels, channels without their
    settings, a digest sent to a channel that cannot carry it, routes that can never match.
    Each error names the file, the key and the line."""
    problems = _channel_problems(config) + _never_matching(config)
    return sorted(problems, key=lambda e: (e.line or 0, e.key or ""))
