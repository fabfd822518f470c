"""Copilot request cost per pass: teams, repositories and seats on, for 2 orgs and their enterprise.

Runs the real `TeamsCollector`, `ReposCollector` and `SeatsCollector` (real client with its ETag cache, real
downloader, memory store) against the simulator: the first pass (an empty store), a steady pass with no
new report day, and a pass the day after (one new report day). For each kind of collector and pass it
counts the API requests the simulator answered, those that cost rate-limit budget (a 304 does not), and
the file downloads (signed URLs on the download host, no budget). Counts are the simulator's own.
Run: ``python -m benchmarks copilot_requests``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.copilot import ReportDownloader, Scope, download_hosts_for
from github_stats_exporter.scrape.copilot_repos import RepoOptions, ReposCollector
from github_stats_exporter.scrape.copilot_seats import SeatOptions, SeatsCollector
from github_stats_exporter.scrape.copilot_teams import TeamOptions, TeamsCollector
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

START = 1_780_000_000.0
DAY = 86400.0
TOKEN = "ghp_bench_copilot"  # noqa: S105 (a simulator token)
SCOPES: tuple[tuple[Scope, str], ...] = (("org", "acme"), ("org", "globex"), ("enterprise", "ent"))
KINDS = ("teams", "repositories", "seats")
PASSES = (("first", 0.0), ("steady, no new day", 0.0), ("steady, one new day", DAY))

Row = tuple[str, str, int, int, int]
"""(pass, kind, API requests, of which rate-limited, downloads)."""


def _api_requests(sim: Simulator) -> int:
    """Requests to the API host (downloads go to the download host and are counted apart)."""
    return sim.stats.total() - sim.stats.total("copilot_report_download")


async def run() -> list[Row]:
    """One row per pass and kind of collector (the three scopes together)."""
    spec = WorldSpec(
        seed=3,
        orgs=(
            OrgSpec("acme", repos=30, users=60, app_id=1, installation_id=1, special_repos=False),
            OrgSpec("globex", repos=20, users=40, app_id=1, installation_id=2, special_repos=False),
        ),
        enterprise=EnterpriseSpec("ent", app_id=2, installation_id=3, orgs=("acme", "globex")),
        start=START,
    )
    clock = SimClock(frozen_at=START)
    out: list[Row] = []
    async with Simulator(spec, clock=clock, rate_limit=10**9) as sim, aiohttp.ClientSession() as http:
        sim.add_token(TOKEN, ["acme", "globex"], enterprise="ent")
        store = MemorySnapshotStore(clock=clock.now, retention_seconds=30 * DAY)
        async with ReportDownloader(
            timeout=30.0, allowed_hosts=download_hosts_for(sim.api_url)
        ) as downloader:
            ticks: dict[str, list[Callable[[], Awaitable[bool]]]] = {kind: [] for kind in KINDS}
            for scope, scope_id in SCOPES:
                metrics = SelfMetrics()
                client = GitHubClient(
                    ClientOptions(base_url=sim.api_url),
                    TokenAuth(TOKEN),
                    org=scope_id,
                    metrics=metrics,
                    session=http,
                    clock=clock.now,
                )
                teams = TeamsCollector(
                    client, downloader, store, metrics, TeamOptions(scope, scope_id, 3600.0), clock=clock.now
                )
                repos = ReposCollector(
                    client, downloader, store, metrics, RepoOptions(scope, scope_id, 3600.0), clock=clock.now
                )
                seats = SeatsCollector(
                    client, store, metrics, SeatOptions(scope, scope_id, 3600.0), clock=clock.now
                )
                ticks["teams"].append(teams.tick)
                ticks["repositories"].append(repos.tick)
                ticks["seats"].append(seats.tick)
            for label, advance in PASSES:
                clock.advance(advance)
                for kind in KINDS:
                    requests, budget, downloads = (
                        _api_requests(sim),
                        sim.stats.rate_limited(),
                        sim.stats.downloads,
                    )
                    for tick in ticks[kind]:
                        if not await tick():
                            msg = f"{kind}: a pass failed"
                            raise RuntimeError(msg)
                    out.append(
                        (
                            label,
                            kind,
                            _api_requests(sim) - requests,
                            sim.stats.rate_limited() - budget,
                            sim.stats.downloads - downloads,
                        )
                    )
    return out


def main() -> None:
    rows = asyncio.run(run())
    print(
        "| pass (3 scopes together) | collector | API requests | of which cost rate limit | file downloads |"
    )
    print("|---|---|---:|---:|---:|")
    for label, _ in PASSES:
        mine = [row for row in rows if row[0] == label]
        for _, kind, requests, budget, downloads in mine:
            print(f"| {label} | {kind} | {requests} | {budget} | {downloads} |")
        total = [sum(int(row[i]) for row in mine) for i in (2, 3, 4)]
        print(f"| {label} | **all** | **{total[0]}** | **{total[1]}** | **{total[2]}** |")


if __name__ == "__main__":
    main()
