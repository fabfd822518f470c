"""Sharded collection on a real Redis: every unit's collectors write fenced, backfill jobs do not.

One in-process replica is built from a sharded config against the simulator. Another replica takes
its Copilot, seats and teams units over in the store while it still believes it holds them: each of
its ticks is refused by the store (`FencedOut`), counted as a ``store_error`` run and logged, and
nothing of it is stored. A Copilot backfill job, which belongs to no unit, still writes.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from tests.integration.redis.conftest import SimulatorConfig
from tests.support.redis_server import RedisProcess, free_port

from github_stats_exporter import metrics
from github_stats_exporter.app.assembly import build_runtime
from github_stats_exporter.config import load_config
from github_stats_exporter.github.copilot import ReportRef
from github_stats_exporter.simulator.server import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

COPILOT, SEATS, TEAMS = "copilot:org/acme", "seats:org/acme", "copilot_teams:org/acme"
ACME = {"org": "acme", "scope": "org"}


async def test_a_stale_holders_copilot_seats_and_teams_writes_are_refused_and_backfill_still_lands(
    redis_server: RedisProcess,
    key_prefix: str,
    sim: tuple[Simulator, Path],
    sim_config: SimulatorConfig,
    tmp_path: Path,
) -> None:
    """Writes of an ended term are refused, counted as store_error and logged; a backfill write lands."""
    simulator, key = sim
    path = sim_config(
        tmp_path / "c.yaml",
        free_port(),
        redis_server,
        key_prefix,
        simulator,
        key,
        leader_election={"enabled": True, "backend": "redis", "mode": "sharded", "identity": "r1"},
        copilot={"enabled": True, "include_seats": True, "include_teams": True},
    )
    async with contextlib.AsyncExitStack() as stack:
        runtime = await build_runtime(load_config(path), stack)
        store, gate = runtime.core.store, runtime.core.units
        assert gate is not None
        jobs = {job.unit: job for job in runtime.jobs if job.unit in {COPILOT, SEATS, TEAMS}}
        assert set(jobs) == {COPILOT, SEATS, TEAMS}
        # r1 held every unit in term `stale`; r2 took them over (term stale + 1) before r1 noticed.
        stale: dict[str, int] = {}
        for unit in jobs:
            stale[unit] = await store.acquire_unit(unit, "r1", 30.0)
            await store.release_unit(unit, "r1")
            assert await store.acquire_unit(unit, "r2", 30.0) == stale[unit] + 1
        gate.set(stale)
        with structlog.testing.capture_logs() as logs:
            for unit, job in jobs.items():
                assert not await job.tick(), unit
        assert await store.versions() == {}
        assert await store.checkpoint_names("") == []
        values = runtime.core.metrics
        refused = {"result": "store_error", "org": "acme"}
        assert values.value(metrics.COPILOT_SCRAPE_RUNS, {**refused, "scope": "org"}) == 1
        assert values.value(metrics.COPILOT_SCRAPE_RUNS, {**refused, "scope": "teams"}) == 1
        assert values.value(metrics.COPILOT_SEAT_COLLECTIONS, {**ACME, "result": "store_error"}) == 1
        events = {entry["event"] for entry in logs}
        assert {"copilot_store_failed", "copilot_seats_store_failed", "copilot_teams_store_failed"} <= events
        refusals = [str(entry.get("error", "")) for entry in logs if entry["event"].endswith("store_failed")]
        assert all("refused" in error for error in refusals), refusals

        # A backfill job belongs to no unit: its write lands whoever holds the unit.
        day = (datetime.now(UTC) - timedelta(days=5)).date()
        await runtime.collectors.copilot["org", "acme"].backfill(
            ReportRef("org", "acme", "organization"), day
        )
        assert [key.parts[:4] for key in await store.versions()] == [("org", "acme", "organization", "1d")]

        # Back in its current term, r1's ticks write again.
        current: dict[str, int] = {}
        for unit in jobs:
            await store.release_unit(unit, "r2")
            current[unit] = await store.acquire_unit(unit, "r1", 30.0)
        gate.set(current)
        for unit, job in jobs.items():
            assert await job.tick(), unit
        kinds = {key.kind for key in await store.versions()}
        assert len(kinds) == 3, kinds
