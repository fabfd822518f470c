"""Role changes: leader-only jobs are gated, and losing leadership ends a tick that is still running."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from github_stats_exporter.app.runtime import Runtime
from github_stats_exporter.config import parse_config
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import IS_LEADER
from github_stats_exporter.scrape.scheduler import Job, run_tick
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.telemetry import SelfMetrics


def runtime() -> Runtime:
    settings = parse_config({"github": {"orgs": [{"org": "a", "token_env": "T"}]}}, resolve_secrets=False)
    metrics = SelfMetrics()
    health = Health(lambda: True, metrics)
    none = cast(Any, None)  # collaborators these tests never touch
    return Runtime(settings, MemorySnapshotStore(), metrics, health, none, {}, none, "leader")


async def test_losing_leadership_ends_a_running_leader_tick():
    """A leader tick stuck in a long wait ends at once (as a failed tick) when the replica steps down."""
    rt = runtime()
    started = asyncio.Event()

    async def tick() -> bool:
        started.set()
        await asyncio.sleep(3600)  # e.g. a rate-limit pause
        return True

    job = rt.leader_job(Job("collect", 60.0, tick, leader_only=True))
    running = asyncio.create_task(run_tick(job))
    await started.wait()
    rt.set_role(False)
    assert await asyncio.wait_for(running, 1.0) is False
    assert job.gate() is False
    assert rt.metrics.value(IS_LEADER) == 0
    assert rt.health.role == "follower"


async def test_regaining_leadership_opens_the_gate_again():
    """The gate follows the role both ways; other ticks are untouched by a step-down."""
    rt = runtime()
    job = rt.leader_job(Job("collect", 60.0, lambda: asyncio.sleep(0, True), leader_only=True))
    rt.set_role(False)
    assert job.gate() is False
    rt.set_role(True)
    assert job.gate() is True
    assert await run_tick(job) is True
    assert rt.metrics.value(IS_LEADER) == 1
