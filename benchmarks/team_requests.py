"""Copilot team request cost: report-link requests and file downloads per pass, 2 orgs + the enterprise.

Runs the real `TeamsCollector` (real client, real downloader, memory store) against the simulator for
the three scopes with ``copilot.include_teams`` on: the first pass (an empty store), a steady pass with
no new report day, and a steady pass the day after (one new day). Counts are the simulator's own.
Run: ``python -m benchmarks team_requests``.
"""

from __future__ import annotations

import asyncio

import aiohttp

from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.copilot import ReportDownloader, download_hosts_for
from github_stats_exporter.scrape.copilot_teams import TeamOptions, TeamsCollector
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

START = 1_780_000_000.0
DAY = 86400.0
TOKEN = "ghp_bench_teams"  # noqa: S105 (a simulator token)
SCOPES = (("org", "acme"), ("org", "globex"), ("enterprise", "ent"))


async def run() -> list[tuple[str, int, int]]:
    """(pass, link requests, downloads) for the three passes."""
    spec = WorldSpec(
        seed=3,
        orgs=(
            OrgSpec("acme", repos=1, users=60, app_id=1, installation_id=1, special_repos=False),
            OrgSpec("globex", repos=1, users=40, app_id=1, installation_id=2, special_repos=False),
        ),
        enterprise=EnterpriseSpec("ent", app_id=2, installation_id=3, orgs=("acme", "globex")),
        start=START,
    )
    clock = SimClock(frozen_at=START)
    out: list[tuple[str, int, int]] = []
    async with Simulator(spec, clock=clock, rate_limit=10**9) as sim, aiohttp.ClientSession() as http:
        sim.add_token(TOKEN, ["acme", "globex"], enterprise="ent")
        store = MemorySnapshotStore(clock=clock.now, retention_seconds=30 * DAY)
        async with ReportDownloader(
            timeout=30.0, allowed_hosts=download_hosts_for(sim.api_url)
        ) as downloader:
            collectors = []
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
                options = TeamOptions(scope, scope_id, 3600.0)  # type: ignore[arg-type]
                collectors.append(
                    TeamsCollector(client, downloader, store, metrics, options, clock=clock.now)
                )
            for label, advance in (("first", 0.0), ("steady, no new day", 0.0), ("steady, one new day", DAY)):
                clock.advance(advance)
                links, downloads = sim.stats.total("copilot_report_link"), sim.stats.downloads
                for collector in collectors:
                    if not await collector.tick():
                        msg = f"{collector.options.scope_id}: the pass failed"
                        raise RuntimeError(msg)
                out.append(
                    (label, sim.stats.total("copilot_report_link") - links, sim.stats.downloads - downloads)
                )
    return out


def main() -> None:
    print("| pass | report-link requests (rate-limited) | file downloads (no budget) |")
    print("|---|---:|---:|")
    for label, links, downloads in asyncio.run(run()):
        print(f"| {label} | {links} | {downloads} |")


if __name__ == "__main__":
    main()
