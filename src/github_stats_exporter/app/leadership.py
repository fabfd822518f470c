"""This replica's role and what follows from it: gates, wake-ups and the end of leader ticks.

`Leadership` is the one mutable part of a running exporter's wiring. A role change (from the elector)
updates the health role, the ``gh_exporter_leader`` gauge and the cluster-state publisher; losing
leadership ends leader ticks still in flight, gaining it wakes every sleeping leader job so the new
leader collects at once (docs/leader_election.md, "Takeover"). It never talks to the store or GitHub.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from github_stats_exporter.cluster_state import ClusterState
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import IS_LEADER
from github_stats_exporter.model import Role
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.selfmetrics import SelfMetrics


class Leadership:
    """The current role, the leader-only gate and the scopes of leader ticks in flight."""

    def __init__(self, role: Role, health: Health, metrics: SelfMetrics, cluster_state: ClusterState) -> None:
        self._role = role
        self._health = health
        self._metrics = metrics
        self._cluster_state = cluster_state
        self._ticks: set[asyncio.Timeout] = set()
        self._gained = asyncio.Event()
        health.role = role
        metrics.set(IS_LEADER, None, 1 if role is Role.LEADER else 0)

    @property
    def role(self) -> Role:
        return self._role

    @property
    def is_leader(self) -> bool:
        return self._role is Role.LEADER

    def guard(self, job: Job) -> Job:
        """``job`` gated on leadership, its tick ended at once by a step-down."""
        tick = job.tick

        async def guarded() -> bool:
            async with asyncio.timeout(None) as scope:
                self._ticks.add(scope)
                try:
                    return await tick()
                finally:
                    self._ticks.discard(scope)

        return dataclasses.replace(job, tick=guarded, gate=lambda: self.is_leader)

    async def sleep(self, seconds: float) -> None:
        """Sleep between leader-job iterations, cut short when this replica gains leadership."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._gained.wait()

    def set(self, leader: bool) -> None:
        """Apply the elector's verdict; repeating the current role changes nothing."""
        role = Role.LEADER if leader else Role.FOLLOWER
        if role is self._role:
            return
        gained = role is Role.LEADER
        self._cluster_state.leadership_changed()
        self._role = role
        self._health.role = role
        self._metrics.set(IS_LEADER, None, 1 if gained else 0)
        if not gained:
            # A tick paused in a rate-limit wait must not keep collecting after another replica took
            # over; it ends as a timeout and the next leader continues from the checkpoints in the store.
            now = asyncio.get_running_loop().time()
            for scope in list(self._ticks):
                # A scope already expiring (an earlier step-down, its tick not yet ended: the loop was
                # stalled) ends its tick anyway; rescheduling it would raise.
                if not scope.expired():
                    scope.reschedule(now)
            return
        # Waiters of the set event all wake; later sleeps wait on a fresh one.
        self._gained.set()
        self._gained = asyncio.Event()
