"""Builds and runs a history from a config: clients, the downloader, per-scope readers, the plan, the state.

`run_history` is what the CLI calls: it resolves the span against the clock, refuses a state directory
of another plan, opens one client per org (and the enterprise's), runs the `Runner` and, with
``--tsdb``, promtool. `dry_run` counts the requests instead and reads each installation's rate limit.
Credentials go only to the API; downloads use the downloader's own session. It must not print.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import structlog

from github_stats_exporter import metrics
from github_stats_exporter.app.collection import copilot_mapping
from github_stats_exporter.app.runtime import client_options, make_auth
from github_stats_exporter.config import AppCredentials, Credentials, Settings
from github_stats_exporter.github.client import ClientOptions, GitHubClient, create_session
from github_stats_exporter.github.copilot import (
    CopilotReportsApi,
    ReportDownloader,
    Scope,
    download_hosts_for,
)
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.github.ratelimit import RateLimitBudget
from github_stats_exporter.history.blocks import create_blocks, promtool
from github_stats_exporter.history.estimate import Estimate, estimate
from github_stats_exporter.history.plan import Plan, Span, Target, resolve_span
from github_stats_exporter.history.progress import Progress
from github_stats_exporter.history.reports import REPORTS, ScopeDays
from github_stats_exporter.history.runner import LocOrg, Runner, Summary
from github_stats_exporter.history.state import StateDir
from github_stats_exporter.retry import Retrier, RetryPolicy
from github_stats_exporter.scrape.copilot_map import MapOptions
from github_stats_exporter.scrape.day_reports import DayReports
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics

log = structlog.get_logger(__name__)

REPOS_PER_PAGE = 100
BUDGET_WAIT_SECONDS = 3700.0
"""A batch may wait a whole primary window (one hour) for the budget; the service's `max_wait` is shorter."""


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """The command line of ``history``."""

    first: date
    output: Path
    last: date | None = None
    state: Path | None = None
    tsdb: Path | None = None
    copilot: bool = True
    loc: bool = True
    concurrency: int = 4

    @property
    def state_dir(self) -> Path:
        return self.state if self.state is not None else self.output.with_name(self.output.name + ".state")


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: the summary, the plan's warnings and promtool's output (``--tsdb``)."""

    summary: Summary
    warnings: tuple[str, ...]
    blocks: str = ""


@dataclass(frozen=True, slots=True)
class DryRun:
    """Requests per (scope id, report), and per installation (``org/<login>``, ``enterprise/<slug>``) with
    its rate-limit estimate."""

    span: Span
    requests: dict[tuple[str, str], int]
    installations: dict[str, Estimate]


class CountingDownloader(ReportDownloader):
    """A `ReportDownloader` that keeps the total of bytes received (for progress and the summary)."""

    received = 0

    async def fetch(self, link: str, consume: Callable[[bytes], object]) -> int:
        size = await super().fetch(link, consume)
        self.received += size
        return size


def targets_for(settings: Settings) -> tuple[Target, ...]:
    """The reports the config enables, as history targets (the live 28-day switches choose them)."""
    cp = settings.copilot
    if not cp.enabled:
        return ()
    out: list[Target] = []
    for org_cfg in settings.github.orgs:
        org = org_cfg.org
        for report, on in (
            ("organization", cp.include_org_28d),
            ("users", cp.include_org_users_28d),
            ("teams", cp.include_teams),
            ("repositories", cp.include_repositories),
        ):
            if on:
                out.append(Target("org", org, report))
    if cp.enterprise.enabled:
        slug = cp.enterprise.slug
        for report, on in (
            ("enterprise", cp.include_enterprise_28d),
            ("users", cp.include_enterprise_users_28d),
            ("teams", cp.include_teams),
            ("repositories", cp.include_repositories),
        ):
            if on:
                out.append(Target("enterprise", slug, report))
    return tuple(t for t in out if t.report in REPORTS)


def make_plan(settings: Settings, options: HistoryOptions, today: date) -> Plan:
    span = resolve_span(today, options.first, options.last)
    targets = targets_for(settings) if options.copilot else ()
    orgs = tuple(o.org for o in settings.github.orgs) if options.loc else ()
    return Plan(span, targets, orgs)


def fingerprint(plan: Plan, mapping: MapOptions) -> str:
    """What makes two runs' tasks interchangeable: the targets, the orgs and the label settings.

    Not the span: a day's report is the same whatever span it was read for, so a rerun with a later
    ``--to`` (the default moves with the date) adds the new days to the same state directory. The LOC
    tasks carry their span in their key instead.
    """
    labels = mapping.labels
    key = hashlib.sha256(labels.hash_key).hexdigest() if labels.hash_key else ""
    return json.dumps(
        {
            "targets": [str(t) for t in plan.targets],
            "loc_orgs": list(plan.loc_orgs),
            "user_label_mode": labels.mode,
            "user_label_key": key,
            "emit_day_label": labels.emit_day_label,
            "breakdowns": sorted(mapping.breakdowns),
            "include_pull_requests": mapping.include_pull_requests,
            "max_records": mapping.max_records,
            "max_users": mapping.max_users,
        },
        indent=1,
        sort_keys=True,
    )


def _today(clock: Callable[[], float]) -> date:
    return datetime.fromtimestamp(clock(), UTC).date()


@dataclass(frozen=True, slots=True)
class _Access:
    """One client per org (and for the enterprise) and what reads their days."""

    clients: dict[tuple[Scope, str], GitHubClient]
    org_clients: dict[str, GitHubClient]


@contextlib.asynccontextmanager
async def _access(
    settings: Settings,
    self_metrics: SelfMetrics,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[object]],
) -> AsyncIterator[_Access]:
    live = client_options(settings)
    # Unlike a service tick, a history run has nothing better to do than wait for the next window.
    options = dataclasses.replace(live, max_wait=max(live.max_wait, BUDGET_WAIT_SECONDS))
    link_options = dataclasses.replace(
        options, request_timeout=settings.copilot.request_timeout.total_seconds()
    )
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[tuple[Scope, str], GitHubClient] = {}
        org_clients: dict[str, GitHubClient] = {}

        def client(
            scope_id: str, creds: Credentials, opts: ClientOptions, budget: RateLimitBudget | None = None
        ) -> GitHubClient:
            session = create_session(opts)
            stack.push_async_callback(session.close)
            installation = str(creds.installation_id) if isinstance(creds, AppCredentials) else ""
            return GitHubClient(
                opts,
                make_auth(creds, opts, session, clock),
                org=scope_id,
                installation_id=installation,
                metrics=self_metrics,
                session=session,
                sleep=sleep,
                clock=clock,
                budget=budget,
            )

        for org_cfg in settings.github.orgs:
            org_client = client(org_cfg.org, org_cfg.credentials, options)
            org_clients[org_cfg.org] = org_client
            # One installation, one budget: the link client books its requests on the org client's.
            clients["org", org_cfg.org] = client(
                org_cfg.org, org_cfg.credentials, link_options, org_client.budget
            )
        ent = settings.copilot.enterprise
        if settings.copilot.enabled and ent.enabled:
            clients["enterprise", ent.slug] = client(ent.slug, ent.credentials, link_options)
        yield _Access(clients, org_clients)


def _requests(self_metrics: SelfMetrics) -> int:
    name = metrics.GITHUB_REQUESTS.name
    return int(sum(s.value for s in self_metrics.samples() if s.name == name))


async def run_history(
    settings: Settings,
    options: HistoryOptions,
    progress: Progress,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Outcome:
    """Read the plan's days and weeks (continuing a state directory) and write the file; raises `HistoryError`."""
    binary = promtool() if options.tsdb is not None else ""  # fail before the work, not after
    plan = make_plan(settings, options, _today(clock))
    for warning in plan.span.warnings:
        log.warning("history_span_adjusted", detail=warning)  # now, not after an hour of work
    mapping = copilot_mapping(settings.copilot)
    state = StateDir(options.state_dir, fingerprint(plan, mapping))
    self_metrics = SelfMetrics()
    retry = settings.retry
    policy = RetryPolicy(
        attempts=retry.max_attempts,
        initial_backoff=retry.initial_backoff.total_seconds(),
        max_backoff=max(retry.max_backoff.total_seconds(), retry.initial_backoff.total_seconds()),
        jitter=retry.jitter,
    )
    async with (
        _access(settings, self_metrics, clock, sleep) as access,
        CountingDownloader(
            timeout=settings.copilot.download_timeout.total_seconds(),
            allowed_hosts=download_hosts_for(settings.github.api_base_url),
            user_agent=client_options(settings).user_agent,
        ) as downloader,
    ):
        scopes: dict[tuple[str, str], ScopeDays] = {}
        for target in plan.targets:
            key = (target.scope, target.scope_id)
            if key in scopes:
                continue
            labels = {"org": target.scope_id, "scope": "history"}
            retrier = Retrier(policy, org=target.scope_id, metrics=self_metrics, sleep=sleep)
            links = CopilotReportsApi(access.clients[target.scope, target.scope_id])
            reports = DayReports(links, downloader, retrier, self_metrics, labels)

            def drop(reason: str, labels: dict[str, str] = labels) -> None:
                self_metrics.inc(metrics.COPILOT_RECORDS_DROPPED, {**labels, "reason": reason})

            def drop_label_value(label: str, labels: dict[str, str] = labels) -> None:
                self_metrics.inc(metrics.COPILOT_LABEL_VALUES_DROPPED, {**labels, "label": label})

            scopes[key] = ScopeDays(reports, target.scope, target.scope_id, mapping, drop, drop_label_value)
        loc = {
            org_cfg.org: LocOrg(
                access.org_clients[org_cfg.org],
                RepoDirectory(
                    access.org_clients[org_cfg.org],
                    org_cfg.org,
                    allowlist=org_cfg.repo_allowlist,
                    include_archived=org_cfg.include_archived,
                ),
            )
            for org_cfg in settings.github.orgs
            if org_cfg.org in plan.loc_orgs
        }
        runner = Runner(
            plan,
            state,
            scopes,
            loc,
            progress,
            requests=lambda: _requests(self_metrics),
            downloaded=lambda: downloader.received,
            now=clock,
            sleep=sleep,
            concurrency=options.concurrency,
        )
        summary = await runner.run(options.output)
    blocks = ""
    if options.tsdb is not None and summary.ok:
        blocks = await create_blocks(binary, options.output, options.tsdb, state.path / "weeks")
    return Outcome(summary, plan.span.warnings, blocks)


async def dry_run(
    settings: Settings,
    options: HistoryOptions,
    *,
    clock: Callable[[], float] = time.time,
) -> DryRun:
    """Count the requests a run would send (listing each org's repositories) and read the rate limits."""
    plan = make_plan(settings, options, _today(clock))
    days = len(plan.span.days())
    requests: dict[tuple[str, str], int] = {}
    per_installation: dict[tuple[Scope, str], int] = {}
    planned: dict[tuple[Scope, str], set[str]] = {}
    for target in plan.targets:
        planned.setdefault((target.scope, target.scope_id), set()).add(target.report)
    for target in plan.targets:
        count = days * REPORTS[target.report].requests(planned[target.scope, target.scope_id])
        requests[target.scope_id, target.report] = count
        where = (target.scope, target.scope_id)
        per_installation[where] = per_installation.get(where, 0) + count
    self_metrics = SelfMetrics()
    threshold = settings.rate_limit.min_remaining_threshold
    installations: dict[str, Estimate] = {}
    async with _access(settings, self_metrics, clock, asyncio.sleep) as access:
        for org_cfg in settings.github.orgs:
            if org_cfg.org not in plan.loc_orgs:
                continue
            directory = RepoDirectory(
                access.org_clients[org_cfg.org],
                org_cfg.org,
                allowlist=org_cfg.repo_allowlist,
                include_archived=org_cfg.include_archived,
            )
            repos = len(await directory.repos())
            count = max(1, math.ceil(repos / REPOS_PER_PAGE)) + repos
            requests[org_cfg.org, "loc"] = count
            per_installation["org", org_cfg.org] = per_installation.get(("org", org_cfg.org), 0) + count
        for (scope, scope_id), client in access.clients.items():
            if (scope, scope_id) not in per_installation:
                continue
            try:
                state = (await client.fetch_rate_limits()).get("core")
            except GitHubError:
                state = None
            count = per_installation[scope, scope_id]
            installations[f"{scope}/{scope_id}"] = estimate(count, state, threshold, clock())
    return DryRun(plan.span, requests, installations)
