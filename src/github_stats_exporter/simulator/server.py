"""The simulator as a service: the REST API host and the report download host, started and stopped together.

Wires world, clock, auth, budgets, faults and accounting into two aiohttp apps on their own ports.
Library code: it returns text for the CLI to print and never prints itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from types import TracebackType

from aiohttp import web

from github_stats_exporter.simulator.accounting import RequestStats
from github_stats_exporter.simulator.api import RestApi
from github_stats_exporter.simulator.auth import Authenticator, Principal
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.context import SimContext, error_body
from github_stats_exporter.simulator.copilot_data import CopilotDataset
from github_stats_exporter.simulator.copilot_repos import Repo, RepoActivity
from github_stats_exporter.simulator.copilot_seats import SeatRoster
from github_stats_exporter.simulator.downloads import ReportHost
from github_stats_exporter.simulator.faults import FaultInjector
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.ratelimit import RateLimiter
from github_stats_exporter.simulator.reports import CopilotReports
from github_stats_exporter.simulator.seats import CopilotSeats
from github_stats_exporter.simulator.spec import WorldSpec
from github_stats_exporter.simulator.truth import TruthKey, activity_truth
from github_stats_exporter.simulator.world import World


def copilot_dataset(world: World) -> CopilotDataset:
    """The Copilot usage data matching the world's orgs, members and enterprise."""
    spec = world.spec
    first_day = datetime.fromtimestamp(spec.first_event_time, UTC).date()
    members = {org: [u.login for u in world.users(org)] for org in world.org_names}
    slug = spec.enterprise.slug if spec.enterprise is not None else None
    return CopilotDataset(spec.seed, members, slug, first_day)


def copilot_repo_activity(world: World, dataset: CopilotDataset) -> RepoActivity:
    """The repositories of the world's orgs (archived and disabled ones have no Copilot activity)."""
    repos = {
        org: [
            Repo(info.name, info.id, "PRIVATE" if info.private else "INTERNAL")
            for info in world.repos(org)
            if not (info.archived or info.disabled)
        ]
        for org in world.org_names
    }
    return RepoActivity(dataset, repos)


class Simulator:
    """A fake GitHub (API host + download host) over a seeded world; use as ``async with Simulator(spec) as sim``."""

    def __init__(
        self,
        spec: WorldSpec,
        *,
        clock: SimClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        download_port: int = 0,
        rate_limit: int = 5000,
        rate_limit_status: int = 403,
        link_ttl: float = 3600.0,
        stats_warmup_requests: int = 1,
        prewarm: bool = False,
    ) -> None:
        self.world = World(spec)
        self._prewarm = prewarm
        self.clock = clock if clock is not None else SimClock.starting_at(spec.start)
        self.faults = FaultInjector(spec.seed)
        self.stats = RequestStats()
        self.host = host
        self._ports = (port, download_port)
        self._ctx = SimContext(
            world=self.world,
            clock=self.clock,
            auth=Authenticator(self.world, self.clock),
            limiter=RateLimiter(rate_limit),
            faults=self.faults,
            stats=self.stats,
            rate_limit_status=rate_limit_status,
            stats_warmup_requests=stats_warmup_requests,
        )
        self._downloads = ReportHost(self._ctx, link_ttl=link_ttl)
        self._copilot: CopilotDataset | None = None
        self._seats: SeatRoster | None = None
        self._copilot_repos: RepoActivity | None = None
        self._runners: list[web.AppRunner] = []
        self._date: tuple[int, str] = (-1, "")

    @property
    def api_url(self) -> str:
        return self._ctx.api_url

    @property
    def download_url(self) -> str:
        return self._ctx.download_url

    @property
    def copilot(self) -> CopilotDataset:
        """The Copilot dataset behind the report endpoints (built on first use)."""
        if self._copilot is None:
            self._copilot = copilot_dataset(self.world)
        return self._copilot

    @property
    def copilot_repos(self) -> RepoActivity:
        """The per-repository Copilot activity behind ``repos-1-day`` (built on first use)."""
        if self._copilot_repos is None:
            self._copilot_repos = copilot_repo_activity(self.world, self.copilot)
        return self._copilot_repos

    @property
    def seats(self) -> SeatRoster:
        """The Copilot seats behind the seat endpoints (times relative to the world's start)."""
        if self._seats is None:
            self._seats = SeatRoster(self.copilot, self.world.spec.start)
        return self._seats

    def add_app(self, app_id: int, public_key_pem: str) -> None:
        """Register a GitHub App's public key; its installations come from the world spec."""
        self._ctx.auth.add_app(app_id, public_key_pem)

    def add_token(
        self, token: str, orgs: tuple[str, ...] | list[str], *, enterprise: str | None = None
    ) -> Principal:
        """Register a personal-access-style token that reads ``orgs`` (and the enterprise's reports, if given)."""
        return self._ctx.auth.add_token(token, orgs, enterprise=enterprise)

    def set_stats_warmup(self, org: str, repo: str, requests: int) -> None:
        """How many ``stats/contributors`` calls answer 202 after each new head commit, for one repo."""
        info = self.world.repo_info(org, repo)
        if info is None:
            msg = f"no repo {org}/{repo} in this world"
            raise KeyError(msg)
        self._ctx.warmup_overrides[info.org, info.name] = requests

    def truth(self, now: float | None = None, *, include_archived: bool = False) -> dict[TruthKey, float]:
        """Ground truth at ``now`` (default: the simulator's clock)."""
        t = self.clock.now() if now is None else now
        return activity_truth(self.world, t, include_archived=include_archived)

    async def _stamp_date(self, request: web.Request, response: web.StreamResponse) -> None:
        # Clients that read Date (clock-skew checks) must see simulated time, not wall time.
        # The header has whole seconds: formatted once per second, not once per answer.
        second = int(self.clock.now())
        if second != self._date[0]:
            self._date = (second, formatdate(second, usegmt=True))
        response.headers["Date"] = self._date[1]

    def api_app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(self._stamp_date)
        app.add_routes(RestApi(self._ctx).routes())
        app.add_routes(CopilotReports(self._ctx, self._downloads, self.copilot, self.copilot_repos).routes())
        app.add_routes(CopilotSeats(self._ctx, self.seats).routes())
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    def download_app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(self._stamp_date)
        app.add_routes(self._downloads.routes())
        return app

    async def _not_found(self, request: web.Request) -> web.Response:
        self.stats.record("unknown", 404)
        return self._ctx.json_response(404, error_body(404, "Not Found"))

    async def start(self) -> None:
        """Bind both hosts; with ``prewarm`` every repo is generated first so no request pays for it."""
        self._ctx.closing.clear()
        if self._prewarm:
            await asyncio.to_thread(self.world.build_all)
        for app, port, attr in (
            (self.api_app(), self._ports[0], "api_url"),
            (self.download_app(), self._ports[1], "download_url"),
        ):
            # A short shutdown timeout: held "timeout" faults must not stall stop().
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, self.host, port)
            await site.start()
            self._runners.append(runner)
            bound = runner.addresses[-1][1]
            setattr(self._ctx, attr, f"http://{self.host}:{bound}")

    async def stop(self) -> None:
        self._ctx.close()
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def describe(self, private_key_paths: Mapping[int, Path] | None = None) -> str:
        """How to point the exporter at this simulator (for the CLI to print)."""
        keys = private_key_paths or {}
        spec = self.world.spec
        lines = [
            "GitHub simulator running",
            f"  api_base_url: {self.api_url}",
            f"  report downloads: {self.download_url}",
            f"  simulated time: {datetime.fromtimestamp(self.clock.now(), UTC).isoformat()}",
            "  organizations:",
        ]
        for org in spec.orgs:
            lines += [
                f"    - org: {org.name}",
                f"      app_id: {org.app_id}",
                f"      installation_id: {org.installation_id}",
                f"      private_key_path: {keys.get(org.app_id, '<register a public key with add_app>')}",
            ]
        if spec.enterprise is not None:
            e = spec.enterprise
            lines += [
                "  enterprise:",
                f"    slug: {e.slug}",
                f"    app_id: {e.app_id}",
                f"    installation_id: {e.installation_id}",
                f"    private_key_path: {keys.get(e.app_id, '<register a public key with add_app>')}",
            ]
        return "\n".join(lines)


def write_app_keys(spec: WorldSpec, key_dir: Path) -> dict[int, tuple[Path, str]]:
    """A fresh key pair per App of the spec: private keys written to ``key_dir`` (mode 0600), public PEMs returned."""
    key_dir.mkdir(parents=True, exist_ok=True)
    app_ids = {o.app_id for o in spec.orgs}
    if spec.enterprise is not None:
        app_ids.add(spec.enterprise.app_id)
    out: dict[int, tuple[Path, str]] = {}
    for app_id in sorted(app_ids):
        private, public = generate_key_pair()
        path = key_dir / f"app-{app_id}.private-key.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(private)
        out[app_id] = (path, public)
    return out


async def run_standalone(
    spec: WorldSpec,
    host: str,
    port: int,
    download_port: int,
    key_dir: Path,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve a simulator until cancelled, with fresh App keys written to ``key_dir``; ``announce`` gets describe()."""
    keys = await asyncio.to_thread(write_app_keys, spec, key_dir)
    sim = Simulator(spec, host=host, port=port, download_port=download_port)
    for app_id, (_, public) in keys.items():
        sim.add_app(app_id, public)
    async with sim:
        if announce is not None:
            announce(sim.describe({app_id: path for app_id, (path, _) in keys.items()}))
        await asyncio.Event().wait()
