"""Role changes: leader-only jobs are gated, and losing leadership ends a tick that is still running."""

from __future__ import annotations

import asyncio

from github_stats_exporter.app.leadership import Leadership
from github_stats_exporter.cluster_state import ClusterState
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import IS_LEADER
from github_stats_exporter.model import Role
from github_stats_exporter.scrape.scheduler import Job, run_periodic, run_tick
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore


class Rt:
    """A leadership with the parts it updates (the rest of a runtime is not involved)."""

    def __init__(self) -> None:
        self.metrics = SelfMetrics()
        self.health = Health(lambda: True, self.metrics)
        store = MemorySnapshotStore()
        state = ClusterState(store, self.metrics, self.health, identity="t", rewrite_after_seconds=60.0)
        self.leadership = Leadership(Role.LEADER, self.health, self.metrics, state)
        self.set_role = self.leadership.set
        self.leader_job = self.leadership.guard
        self.leader_sleep = self.leadership.sleep


def runtime() -> Rt:
    return Rt()


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


async def test_losing_leadership_again_while_a_tick_is_still_ending_does_not_raise():
    """A second step-down before the first one's cancellation reached the tick (a loop catching up) ends it once."""
    rt = runtime()
    for loop_turns in range(4):  # the second step-down lands at each stage of the first one's ending
        rt.set_role(True)
        started = asyncio.Event()

        async def tick(started: asyncio.Event = started) -> bool:
            started.set()
            await asyncio.sleep(3600)
            return True

        job = rt.leader_job(Job("collect", 60.0, tick, leader_only=True))
        running = asyncio.create_task(run_tick(job))
        await started.wait()
        rt.set_role(False)
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        rt.set_role(True)
        rt.set_role(False)
        assert await asyncio.wait_for(running, 1.0) is False
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


async def test_gaining_leadership_wakes_every_sleeping_leader_job_at_once():
    """Leader jobs asleep for an hour-long interval tick right after the replica becomes leader."""
    rt = runtime()
    rt.set_role(False)
    ticks: list[str] = []

    def tick_of(name: str):
        async def tick() -> bool:
            ticks.append(name)
            return True

        return tick

    loops = [
        asyncio.create_task(
            run_periodic(
                rt.leader_job(Job(name, 3600.0, tick_of(name), leader_only=True)), sleep=rt.leader_sleep
            )
        )
        for name in ("activity", "copilot")
    ]
    await asyncio.sleep(0.05)
    assert ticks == []  # gated while following, asleep for the interval
    rt.set_role(True)
    for _ in range(20):
        await asyncio.sleep(0.01)
        if len(ticks) == 2:
            break
    assert sorted(ticks) == ["activity", "copilot"]
    rt.set_role(True)  # staying leader is no new term: nobody wakes again
    await asyncio.sleep(0.05)
    assert len(ticks) == 2
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)


async def test_leader_sleep_sleeps_the_full_time_without_a_role_change():
    """Without a new term the leader sleep is an ordinary sleep."""
    rt = runtime()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await rt.leader_sleep(0.05)
    assert loop.time() - started >= 0.05
