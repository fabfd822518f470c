"""An org cycle of `serve` over the simulator asks for the org's repository listing once.

The activity tick lists the org; the LOC tick of the same cycle works from that listing
(docs/architecture.md, "The composition root"). When the activity tick's listing fails, the LOC tick
lists the org itself, so a listing outage during the activity tick does not also cost the LOC pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from github_stats_exporter import app
from github_stats_exporter.config import parse_config
from github_stats_exporter.config.schema import Settings
from github_stats_exporter.model import SnapshotKey
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
REPOS = 150
"""Two listing pages of 100."""


def settings_for(sim: Simulator, key: Path) -> Settings:
    return parse_config(
        {
            "server": {"listen_addr": "127.0.0.1:0", "log_level": "warning"},
            "github": {
                "api_base_url": sim.api_url,
                "orgs": [{"org": "acme", "app_id": 11, "installation_id": 21, "private_key_path": str(key)}],
            },
            "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
            "health": {"github_probe_interval": "1h"},
            "loc": {"refresh_interval": "1h"},
        }
    )


async def loc_snapshots(runtime: app.Runtime) -> list[SnapshotKey]:
    return [k for k in await runtime.core.store.versions() if k.kind == "loc"]


@contextlib.asynccontextmanager
async def exporter(tmp_path: Path) -> AsyncIterator[tuple[Simulator, SimClock, app.Runtime, Job]]:
    """The simulator, its clock, a runtime on it, and the runtime's org cycle job of acme."""
    spec = WorldSpec(
        seed=7, orgs=(OrgSpec("acme", repos=REPOS, users=4, app_id=11, installation_id=21),), start=START
    )
    clock = SimClock(frozen_at=START + 3 * 86_400)
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    async with Simulator(spec, clock=clock, stats_warmup_requests=0) as sim:
        sim.add_app(11, public)
        async with contextlib.AsyncExitStack() as stack:
            runtime = await app.build_runtime(settings_for(sim, key), stack, clock=clock.now)
            yield sim, clock, runtime, {job.name: job for job in runtime.jobs}["org_cycle:acme"]


async def test_an_org_cycle_lists_the_org_once_for_activity_and_loc(tmp_path: Path) -> None:
    async with exporter(tmp_path) as (sim, _, runtime, cycle):
        before = sim.stats.total("list_org_repos")
        assert await cycle.tick()
        # Both pages once: the LOC tick did not ask again.
        assert sim.stats.total("list_org_repos") - before == 2
        # ... and still refreshed every active repository's LOC from that listing.
        assert sim.stats.total("contributor_stats") > 0
        stored = await loc_snapshots(runtime)
        assert stored
        assert {k.parts[0] for k in stored} == {"acme"}
        listed = {info.name for info in sim.world.repos("acme") if info.kind not in ("archived", "disabled")}
        assert {k.parts[1] for k in stored} <= listed


async def test_the_loc_tick_lists_the_org_itself_when_the_activity_listing_failed(tmp_path: Path) -> None:
    async with exporter(tmp_path) as (sim, clock, _, cycle):
        assert await cycle.tick()
        clock.advance(7_200)  # the next LOC pass is due (loc.refresh_interval: 1h)
        # Both attempts of the activity tick's first page fail; the LOC tick's listing gets through.
        sim.faults.add(FaultRule(endpoint="list_org_repos", status=503, times=2))
        listed, pulls, stats = (
            sim.stats.total(route) for route in ("list_org_repos", "list_pulls", "contributor_stats")
        )
        assert not await cycle.tick()
        assert sim.stats.requests["list_org_repos", 503] == 2
        # The failed page twice, then the LOC tick's own two pages: not the last cycle's listing.
        assert sim.stats.total("list_org_repos") - listed == 2 + 2
        assert sim.stats.total("list_pulls") == pulls  # the activity tick stopped at its listing
        assert sim.stats.total("contributor_stats") > stats
