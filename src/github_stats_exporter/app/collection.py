"""Builds the collectors: per org repo discovery, activity and LOC cycles, Copilot report collectors.

Every replica builds them (backfill workers call them); only their ticks are gated on leadership. In
sharded mode each unit's ticks write through the store fenced by the unit and keep their gauges and
health as the unit's (`for_unit`), while the collectors backfill jobs call write unfenced
(docs/scaling.md, "Leases and fencing").
`build_collectors` takes the missed-work sink, so backfill is always wired before any collector."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from github_stats_exporter.app.runtime import (
    Collectors,
    Core,
    GitHubAccess,
    MissedSink,
    client_options,
    make_auth,
    rate_limit_budget,
)
from github_stats_exporter.config import AppCredentials, OrgConfig, TokenCredentials
from github_stats_exporter.config.copilot import CopilotConfig
from github_stats_exporter.github.client import (
    GitHubClient,
    create_session,
)
from github_stats_exporter.github.copilot import ReportDownloader, ReportType, Scope, download_hosts_for
from github_stats_exporter.health import FoldedHealth, HealthReport, UnitHealth
from github_stats_exporter.leader.units import UnitKind, WorkUnit
from github_stats_exporter.metrics import SCRAPE_RUNS
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.copilot import (
    CopilotCollector,
    CopilotOptions,
    components_for,
)
from github_stats_exporter.scrape.copilot_map import Dimension, LabelPolicy, MapOptions
from github_stats_exporter.scrape.copilot_repos import RepoOptions, ReposCollector
from github_stats_exporter.scrape.copilot_seats import SeatOptions, SeatsCollector
from github_stats_exporter.scrape.copilot_teams import TeamOptions, TeamsCollector
from github_stats_exporter.scrape.day_collection import DayCollector, DayOptions
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.probe import InstallationHealth
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job, Tick
from github_stats_exporter.scrape.shard import WHOLE_ORG, RepoShard
from github_stats_exporter.selfmetrics import CollectorMetrics, UnitMetrics
from github_stats_exporter.store.base import CollectionStore
from github_stats_exporter.store.fenced import FencedStore
from github_stats_exporter.tracing import Tracing

log = structlog.get_logger(__name__)
_C = TypeVar("_C", bound=DayCollector)


async def build_collectors(
    core: Core, github: GitHubAccess, missed: MissedSink, stack: contextlib.AsyncExitStack
) -> Collectors:
    """Activity and LOC per org, Copilot when enabled, each with its leader-only job."""
    reporter = FoldedHealth(core.health)  # the one way every collector reports its health
    if core.cluster_state.sharded:
        core.cluster_state.on_units_lost(reporter.retain_units)
    activity, loc, directories, jobs = _org_collectors(core, github, missed, reporter)
    copilot: dict[tuple[str, str], CopilotCollector] = {}
    seats: dict[tuple[str, str], SeatsCollector] = {}
    teams: dict[tuple[str, str], TeamsCollector] = {}
    repos: dict[tuple[str, str], ReposCollector] = {}
    if core.settings.copilot.enabled:
        copilot_jobs = await _copilot_collectors(
            core, github, missed, reporter, stack, copilot, _DayCollectors(teams, repos)
        )
        jobs += copilot_jobs
        if core.settings.copilot.include_seats:
            jobs += _seat_collectors(core, github, reporter, stack, seats)
    units = _units(core, jobs)
    return Collectors(activity, loc, directories, copilot, tuple(jobs), seats, teams, repos, units)


def unit_of(core: Core, kind: UnitKind, scope: str, scope_id: str) -> str:
    """The work unit a job of this scope belongs to in sharded mode; "" (no unit) in single mode."""
    return WorkUnit(kind, f"{scope}/{scope_id}").name if core.units is not None else ""


@dataclasses.dataclass(frozen=True, slots=True)
class UnitWiring:
    """What one work unit's collectors write to: the store, their self-metrics and their health."""

    store: CollectionStore
    metrics: CollectorMetrics
    health: HealthReport


def for_unit(core: Core, reporter: FoldedHealth, unit: str) -> UnitWiring:
    """Sharded mode, a unit's collectors: the store fenced by ``unit`` at this replica's term of it, and
    gauges and health verdicts kept as the unit's (`selfmetrics.UnitMetrics`, `health.UnitHealth`).
    Without a unit (single mode, backfill): the plain store, the process's metrics and health."""
    if not unit or core.units is None:
        return UnitWiring(core.store, core.metrics, reporter)
    epoch = functools.partial(core.units.epoch, unit)
    return UnitWiring(
        FencedStore(core.store, unit, epoch),
        UnitMetrics(core.metrics, unit, epoch),
        UnitHealth(reporter, unit),
    )


def _units(core: Core, jobs: list[Job]) -> tuple[WorkUnit, ...]:
    """Every work unit of the configuration (sharded mode; empty otherwise), one per unit job."""
    if core.units is None:
        return ()
    units = [
        WorkUnit(UnitKind.REPOS, f"org/{o.org}", i, o.shards)
        for o in core.settings.github.orgs
        for i in range(o.shards)
    ]
    for job in jobs:
        if job.unit and not job.unit.startswith(UnitKind.REPOS.value):
            kind, _, scope = job.unit.partition(":")
            units.append(WorkUnit(UnitKind(kind), scope))
    return tuple(sorted(set(units)))


def _org_collectors(
    core: Core, github: GitHubAccess, missed: MissedSink, reporter: FoldedHealth
) -> tuple[dict[str, ActivityCollector], dict[str, LocCollector], dict[str, RepoDirectory], list[Job]]:
    """Per org: repo discovery shared by the activity and LOC collectors, and one leader-only cycle job."""
    settings, health = core.settings, core.health
    activities: dict[str, ActivityCollector] = {}
    locs: dict[str, LocCollector] = {}
    directories: dict[str, RepoDirectory] = {}
    jobs: list[Job] = []
    for org_cfg in settings.github.orgs:
        org = org_cfg.org
        client = github.clients[org]
        directory = RepoDirectory(
            client, org, allowlist=org_cfg.repo_allowlist, include_archived=org_cfg.include_archived
        )

        def pair(wiring: UnitWiring, shard: RepoShard) -> tuple[ActivityCollector, LocCollector]:
            return _org_pair(core, org_cfg, client, directory, wiring, shard, missed)  # noqa: B023

        # The whole-org pair serves backfill jobs (any replica) and, in single mode, the cycle.
        activity, loc = pair(for_unit(core, reporter, ""), WHOLE_ORG)
        for collector in (activity, loc):
            health.register(collector.health_component, required_for_ready=False, collection=True)
        activities[org], locs[org], directories[org] = activity, loc, directory
        interval = org_cfg.scrape_interval.total_seconds()
        # The LOC tick re-polls 202s inside the tick (2+4+8 s), so leave room beyond one interval.
        timeout = max(interval * 3, 120.0)
        gate = core.units
        if gate is None:
            cycle = org_cycle(core, github.tracker, org, activity, loc)
            jobs.append(
                Job(f"org_cycle:{org}", interval, cycle, timeout=timeout, jitter=0.05, leader_only=True)
            )
            continue
        for index in range(org_cfg.shards):
            unit = WorkUnit(UnitKind.REPOS, f"org/{org}", index, org_cfg.shards).name
            # Each shard's gauges are its unit's, so two shards of the org in this process add up.
            part = pair(for_unit(core, reporter, unit), RepoShard(index, org_cfg.shards))
            cycle = org_cycle(core, github.tracker, org, *part)
            name = f"org_cycle:{org}#{index}/{org_cfg.shards}"
            jobs.append(Job(name, interval, cycle, timeout=timeout, jitter=0.05, leader_only=True, unit=unit))
    return activities, locs, directories, jobs


def _org_pair(
    core: Core,
    org_cfg: OrgConfig,
    client: GitHubClient,
    directory: RepoDirectory,
    wiring: UnitWiring,
    shard: RepoShard,
    missed: MissedSink,
) -> tuple[ActivityCollector, LocCollector]:
    """The activity and LOC collectors of one org (or one shard of it) writing to ``wiring``."""
    org, concurrency, clock = org_cfg.org, org_cfg.per_org_concurrency, core.clock
    activity = ActivityCollector(
        client,
        directory,
        wiring.store,
        org=org,
        concurrency=concurrency,
        metrics=wiring.metrics,
        missed=missed,
        clock=clock,
        health=wiring.health,
        shard=shard,
    )
    loc = LocCollector(
        client,
        directory,
        wiring.store,
        org=org,
        settings=core.settings.loc,
        concurrency=concurrency,
        metrics=wiring.metrics,
        missed=missed,
        clock=clock,
        health=wiring.health,
        shard=shard,
    )
    return activity, loc


def org_cycle(
    core: Core,
    tracker: InstallationHealth,
    org: str,
    activity: ActivityCollector,
    loc: LocCollector,
) -> Callable[[], Awaitable[bool]]:
    tracing = core.tracing

    async def tick() -> bool:
        with tracing.span("collection.cycle", {"collector": "org_cycle", "github.org": org}) as span:
            if tracker.in_cooldown(org):
                # Nothing is lost by skipping: the ledgers continue from their checkpoints next cycle.
                core.metrics.inc(SCRAPE_RUNS, {"org": org, "result": "skipped_unhealthy"})
                span.set("collection.skipped", True)
                return False
            with tracing.span("collector.tick", {"collector": "activity", "github.org": org}) as part:
                activity_ok = await activity.tick()
                part.set("collection.ok", activity_ok)
            with tracing.span("collector.tick", {"collector": "loc", "github.org": org}) as part:
                # The listing the activity tick just fetched: one listing per cycle, not two.
                loc_ok = await loc.tick(activity.listing)
                part.set("collection.ok", loc_ok)
            span.set("collection.ok", activity_ok and loc_ok)
            return activity_ok and loc_ok

    return tick


def traced_cycle(tracing: Tracing, collector: str, scope_id: str, tick: Tick) -> Tick:
    """``tick`` inside a ``collection.cycle`` span (the root of that tick's trace); ``tick`` itself when off."""
    if not tracing.enabled:
        return tick

    async def traced() -> bool:
        with tracing.span("collection.cycle", {"collector": collector, "github.org": scope_id}) as span:
            ok = await tick()
            span.set("collection.ok", ok)
            return ok

    return traced


def copilot_mapping(cp: CopilotConfig) -> MapOptions:
    """How Copilot records become series under this config (the live collectors and `history` share it)."""
    breakdowns: tuple[Dimension, ...] = ("ide", "feature", "language", "model")
    return MapOptions(
        labels=LabelPolicy(cp.user_label_mode, cp.hash_key, cp.emit_day_label),
        breakdowns=frozenset(d for d in breakdowns if getattr(cp, f"include_breakdown_{d}")),
        include_pull_requests=cp.include_pull_request_activity,
        max_records=cp.max_records_per_report,
        max_users=cp.max_users_per_report,
    )


async def _copilot_collectors(
    core: Core,
    github: GitHubAccess,
    missed: MissedSink,
    reporter: FoldedHealth,
    stack: contextlib.AsyncExitStack,
    collectors: dict[tuple[str, str], CopilotCollector],
    day_collectors: _DayCollectors,
) -> list[Job]:
    """Copilot report collectors: one per org with org reports enabled, one for the enterprise; with
    copilot.include_teams / include_repositories a team / repository collector per org and for the
    enterprise (same clients and downloader)."""
    settings, clock = core.settings, core.clock
    cp, options = settings.copilot, client_options(settings)
    jobs: list[Job] = []
    downloader = await stack.enter_async_context(
        ReportDownloader(
            timeout=cp.download_timeout.total_seconds(),
            allowed_hosts=download_hosts_for(options.base_url),
            user_agent=options.user_agent,
            tracing=core.tracing,
        )
    )
    # Link calls get copilot.request_timeout (the Go exporter capped them at github.request_timeout).
    link_options = dataclasses.replace(options, request_timeout=cp.request_timeout.total_seconds())
    mapping = copilot_mapping(cp)
    registered: set[str] = set()

    def add(scope: Scope, scope_id: str, reports: tuple[ReportType, ...], client: GitHubClient) -> None:
        opts = CopilotOptions(
            scope,
            scope_id,
            reports,
            cp.scrape_interval.total_seconds(),
            mapping,
            refresh_if_unchanged=cp.refresh_if_report_unchanged,
            download_attempts=settings.retry.max_attempts,
            backoff_seconds=settings.retry.initial_backoff.total_seconds(),
            # Downloads follow the same retry settings as API calls (docs/configuration.md, `retry`).
            max_backoff=settings.retry.max_backoff.total_seconds(),
            jitter=settings.retry.jitter,
        )
        for name in components_for(opts.scope, opts.reports):
            if name not in registered:  # registering twice would reset a component's state
                core.health.register(name, required_for_ready=False, collection=True)
                registered.add(name)
        unit = unit_of(core, UnitKind.COPILOT, scope, scope_id)

        def collector_on(wiring: UnitWiring) -> CopilotCollector:
            return CopilotCollector(
                client,
                downloader,
                wiring.store,
                wiring.metrics,
                opts,
                record_missed=missed,
                health=wiring.health,
                clock=clock,
                tracing=core.tracing,
            )

        # Backfill jobs (any replica, no unit) write unfenced; the unit's own ticks write fenced
        # (docs/scaling.md, "Leases and fencing").
        collector = collector_on(for_unit(core, reporter, ""))
        collectors[scope, scope_id] = collector
        live = collector_on(for_unit(core, reporter, unit)) if unit else collector
        jobs.append(
            Job(
                f"copilot:{scope}:{scope_id}",
                opts.poll_seconds,
                traced_cycle(core.tracing, "copilot", scope_id, live.tick),
                timeout=3600.0,
                jitter=0.05,
                leader_only=True,
                unit=unit,
            )
        )

    org_choice: list[tuple[ReportType, bool]] = [
        ("organization", cp.include_org_28d),
        ("users", cp.include_org_users_28d),
    ]
    org_reports = tuple(r for r, on in org_choice if on)
    org_clients: dict[str, GitHubClient] = {}
    for org_cfg in settings.github.orgs:
        org = org_cfg.org
        creds = org_cfg.credentials
        org_clients[org] = GitHubClient(
            link_options,
            github.auths[org],  # shares the org's token cache
            org=org,
            installation_id=str(creds.installation_id) if isinstance(creds, AppCredentials) else "",
            metrics=core.metrics,
            session=github.sessions[org],
            clock=clock,
            budget=github.clients[org].budget,
            tracing=core.tracing,
        )
        if org_reports:
            add("org", org, org_reports, org_clients[org])
    ent = cp.enterprise
    ent_choice: list[tuple[ReportType, bool]] = [
        ("enterprise", cp.include_enterprise_28d),
        ("users", cp.include_enterprise_users_28d),
    ]
    ent_reports = tuple(r for r, on in ent_choice if on)
    ent_client: GitHubClient | None = None
    if ent.enabled and (ent_reports or cp.include_teams or cp.include_repositories):
        session = create_session(link_options)
        stack.push_async_callback(session.close)
        creds = ent.credentials
        ent_client = GitHubClient(
            link_options,
            make_auth(creds, link_options, session, clock),
            org=ent.slug,
            installation_id=str(creds.installation_id) if isinstance(creds, AppCredentials) else "",
            metrics=core.metrics,
            session=session,
            clock=clock,
            budget=rate_limit_budget(core, link_options, creds, ent.slug),
            tracing=core.tracing,
        )
        if ent_reports:
            add("enterprise", ent.slug, ent_reports, ent_client)
    scopes: list[tuple[Scope, str, GitHubClient]] = [("org", o, c) for o, c in org_clients.items()]
    if ent_client is not None:
        scopes.append(("enterprise", ent.slug, ent_client))
    retry = settings.retry

    def add_day(
        kind: type[_C], options_kind: type[DayOptions], scope: Scope, scope_id: str, client: GitHubClient
    ) -> _C:
        """A day-by-day collector of one scope, its health component and its leader-only job."""
        options = options_kind(
            scope,
            scope_id,
            cp.scrape_interval.total_seconds(),
            download_attempts=retry.max_attempts,
            backoff_seconds=retry.initial_backoff.total_seconds(),
            max_backoff=retry.max_backoff.total_seconds(),
            jitter=retry.jitter,
        )
        if options.component not in registered:
            core.health.register(options.component, required_for_ready=False, collection=True)
            registered.add(options.component)
        unit = unit_of(core, UnitKind(kind.event), scope, scope_id)
        wiring = for_unit(core, reporter, unit)
        collector = kind(
            client,
            downloader,
            wiring.store,
            wiring.metrics,
            options,
            health=wiring.health,
            clock=clock,
            tracing=core.tracing,
        )
        name = f"{kind.event}:{scope}:{scope_id}"
        jobs.append(
            Job(
                name,
                options.interval_seconds,
                traced_cycle(core.tracing, kind.event, scope_id, collector.tick),
                timeout=3600.0,
                jitter=0.05,
                leader_only=True,
                unit=unit,
            )
        )
        return collector

    for scope, scope_id, client in scopes:
        if cp.include_teams:
            day_collectors.teams[scope, scope_id] = add_day(
                TeamsCollector, TeamOptions, scope, scope_id, client
            )
        if cp.include_repositories:
            day_collectors.repos[scope, scope_id] = add_day(
                ReposCollector, RepoOptions, scope, scope_id, client
            )
    return jobs


@dataclasses.dataclass(frozen=True, slots=True)
class _DayCollectors:
    """Where `_copilot_collectors` puts the day-by-day collectors it builds, by (scope, scope id)."""

    teams: dict[tuple[str, str], TeamsCollector]
    repos: dict[tuple[str, str], ReposCollector]


def _seat_collectors(
    core: Core,
    github: GitHubAccess,
    reporter: FoldedHealth,
    stack: contextlib.AsyncExitStack,
    collectors: dict[tuple[str, str], SeatsCollector],
) -> list[Job]:
    """Copilot seat collectors: one per org (its own client), one for the enterprise when it has a token.

    GitHub refuses App installation tokens on the enterprise seat list (docs/github_app_permissions.md),
    so an enterprise configured with an App gets no seat collector (the config loader says so).
    """
    settings, clock = core.settings, core.clock
    cp = settings.copilot
    interval = cp.seats_interval.total_seconds()
    users = LabelPolicy(cp.user_label_mode, cp.hash_key) if cp.include_seat_users else None
    jobs: list[Job] = []
    registered: set[str] = set()

    def add(options: SeatOptions, client: GitHubClient) -> None:
        if options.component not in registered:  # registering twice would reset a component's state
            core.health.register(options.component, required_for_ready=False, collection=True)
            registered.add(options.component)
        unit = unit_of(core, UnitKind.SEATS, options.scope, options.scope_id)
        wiring = for_unit(core, reporter, unit)
        collector = SeatsCollector(
            client, wiring.store, wiring.metrics, options, health=wiring.health, clock=clock
        )
        collectors[options.scope, options.scope_id] = collector
        jobs.append(
            Job(
                f"copilot_seats:{options.scope}:{options.scope_id}",
                interval,
                traced_cycle(core.tracing, "copilot_seats", options.scope_id, collector.tick),
                timeout=max(interval, 600.0),
                jitter=0.05,
                leader_only=True,
                unit=unit,
            )
        )

    for org_cfg in settings.github.orgs:
        add(SeatOptions("org", org_cfg.org, interval, users), github.clients[org_cfg.org])
    ent = cp.enterprise
    if ent.enabled and isinstance(ent.credentials, TokenCredentials):
        options = client_options(settings)
        session = create_session(options)
        stack.push_async_callback(session.close)
        client = GitHubClient(
            options,
            make_auth(ent.credentials, options, session, clock),
            org=ent.slug,
            metrics=core.metrics,
            session=session,
            clock=clock,
            budget=rate_limit_budget(core, options, ent.credentials, ent.slug),
            tracing=core.tracing,
        )
        add(SeatOptions("enterprise", ent.slug, interval, users), client)
    return jobs
