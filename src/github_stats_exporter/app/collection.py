"""Wires the collectors: per org repo discovery, activity and LOC cycles, Copilot report collectors.

Every replica builds them (backfill workers call them); only their ticks are gated on leadership."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable

import structlog

from github_stats_exporter.app.runtime import Runtime, client_options, log_missed, make_auth
from github_stats_exporter.config import AppCredentials
from github_stats_exporter.github.client import (
    GitHubClient,
    create_session,
)
from github_stats_exporter.github.copilot import ReportDownloader, ReportType, Scope, download_hosts_for
from github_stats_exporter.metrics import SCRAPE_RUNS
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.copilot import (
    CopilotCollector,
    CopilotHealth,
    CopilotOptions,
    components_for,
)
from github_stats_exporter.scrape.copilot_map import Dimension, LabelPolicy, MapOptions
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job

log = structlog.get_logger(__name__)


def add_org_collectors(runtime: Runtime, clock: Callable[[], float]) -> None:
    """Per org: repo discovery shared by the activity and LOC collectors, and one leader-only cycle job."""
    settings, health = runtime.settings, runtime.health
    for org_cfg in settings.github.orgs:
        org = org_cfg.org
        client = runtime.clients[org]
        directory = RepoDirectory(
            client, org, allowlist=org_cfg.repo_allowlist, include_archived=org_cfg.include_archived
        )
        activity_component, loc_component = f"activity:{org}", f"loc:{org}"
        health.register(activity_component, required_for_ready=False, collection=True)
        health.register(loc_component, required_for_ready=False, collection=True)

        def report(ok: bool, detail: str, name: str = activity_component) -> None:
            health.set(name, ok, detail)

        activity = ActivityCollector(
            client,
            directory,
            runtime.store,
            org=org,
            concurrency=org_cfg.per_org_concurrency,
            metrics=runtime.metrics,
            missed=runtime.missed or log_missed,
            clock=clock,
            report=report,
        )
        loc = LocCollector(
            client,
            directory,
            runtime.store,
            org=org,
            settings=settings.loc,
            concurrency=org_cfg.per_org_concurrency,
            metrics=runtime.metrics,
            missed=runtime.missed or log_missed,
            clock=clock,
        )
        runtime.activity[org], runtime.loc[org] = activity, loc
        runtime.directories[org] = directory
        interval = org_cfg.scrape_interval.total_seconds()
        runtime.jobs.append(
            Job(
                f"org_cycle:{org}",
                interval,
                org_cycle(runtime, org, activity, loc, loc_component),
                # The LOC tick re-polls 202s inside the tick (2+4+8 s), so leave room beyond one interval.
                timeout=max(interval * 3, 120.0),
                jitter=0.05,
                leader_only=True,
            )
        )


def org_cycle(
    runtime: Runtime, org: str, activity: ActivityCollector, loc: LocCollector, loc_component: str
) -> Callable[[], Awaitable[bool]]:
    async def tick() -> bool:
        if runtime.tracker.in_cooldown(org):
            # Nothing is lost by skipping: the ledgers continue from their checkpoints next cycle.
            runtime.metrics.inc(SCRAPE_RUNS, {"org": org, "result": "skipped_unhealthy"})
            return False
        activity_ok = await activity.tick()
        loc_ok = await loc.tick()
        failed = sorted(loc.failed)
        runtime.health.set(loc_component, not failed, f"failed: {', '.join(failed)}" if failed else "")
        return activity_ok and loc_ok

    return tick


async def add_copilot(runtime: Runtime, stack: contextlib.AsyncExitStack, clock: Callable[[], float]) -> None:
    """Copilot report collectors: one per org with org reports enabled, one for the enterprise."""
    settings = runtime.settings
    cp, options = settings.copilot, client_options(settings)
    downloader = await stack.enter_async_context(
        ReportDownloader(
            timeout=cp.download_timeout.total_seconds(),
            allowed_hosts=download_hosts_for(options.base_url),
            user_agent=options.user_agent,
        )
    )
    # Link calls get copilot.request_timeout (the Go exporter capped them at github.request_timeout).
    link_options = dataclasses.replace(options, request_timeout=cp.request_timeout.total_seconds())
    breakdowns: tuple[Dimension, ...] = ("ide", "feature", "language", "model")
    mapping = MapOptions(
        labels=LabelPolicy(cp.user_label_mode, cp.hash_key, cp.emit_day_label),
        breakdowns=frozenset(d for d in breakdowns if getattr(cp, f"include_breakdown_{d}")),
        include_pull_requests=cp.include_pull_request_activity,
        max_records=cp.max_records_per_report,
        max_users=cp.max_users_per_report,
    )
    copilot_health = CopilotHealth(runtime.health.set)
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
        )
        for name in components_for(opts.scope, opts.reports):
            if name not in registered:  # registering twice would reset a component's state
                runtime.health.register(name, required_for_ready=False, collection=True)
                registered.add(name)
        collector = CopilotCollector(
            client,
            downloader,
            runtime.store,
            runtime.metrics,
            opts,
            record_missed=runtime.missed or log_missed,
            health=copilot_health,
            clock=clock,
        )
        runtime.copilot[scope, scope_id] = collector
        runtime.jobs.append(
            Job(
                f"copilot:{scope}:{scope_id}",
                opts.poll_seconds,
                collector.tick,
                timeout=3600.0,
                jitter=0.05,
                leader_only=True,
            )
        )

    org_choice: list[tuple[ReportType, bool]] = [
        ("organization", cp.include_org_28d),
        ("users", cp.include_org_users_28d),
    ]
    org_reports = tuple(r for r, on in org_choice if on)
    if org_reports:
        for org_cfg in settings.github.orgs:
            org = org_cfg.org
            creds = org_cfg.credentials
            client = GitHubClient(
                link_options,
                runtime.auths[org],  # shares the org's token cache
                org=org,
                installation_id=str(creds.installation_id) if isinstance(creds, AppCredentials) else "",
                metrics=runtime.metrics,
                session=runtime.sessions[org],
                clock=clock,
                budget=runtime.clients[org].budget,
            )
            add("org", org, org_reports, client)
    ent = cp.enterprise
    ent_choice: list[tuple[ReportType, bool]] = [
        ("enterprise", cp.include_enterprise_28d),
        ("users", cp.include_enterprise_users_28d),
    ]
    ent_reports = tuple(r for r, on in ent_choice if on)
    if ent.enabled and ent_reports:
        session = create_session(link_options)
        stack.push_async_callback(session.close)
        creds = ent.credentials
        client = GitHubClient(
            link_options,
            make_auth(creds, link_options, session, clock),
            org=ent.slug,
            installation_id=str(creds.installation_id) if isinstance(creds, AppCredentials) else "",
            metrics=runtime.metrics,
            session=session,
            clock=clock,
        )
        add("enterprise", ent.slug, ent_reports, client)
