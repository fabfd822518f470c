"""The work units this replica holds in sharded collection, and what follows from them: gates, wake-ups,
the end of a unit's ticks in flight when it is lost, and the epoch its fenced writes carry.

`UnitGate` applies the `leader.shards.ShardCoordinator`'s verdicts as `Leadership` applies the
elector's: losing a unit ends that unit's tick at once (docs/leader_election.md, "Takeover"); gaining
one (or a new term of it) wakes that unit's sleeping jobs so they collect at once, and only them: the
jobs of units already held keep their schedule. It never talks to the store or GitHub.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from github_stats_exporter.health import Health
from github_stats_exporter.metrics import SHARD_UNIT_EPOCH, SHARD_UNITS_HELD
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.selfmetrics import SelfMetrics

HEALTH_COMPONENT = "shards"


class UnitGate:
    """Held units (name -> epoch), the gate of unit jobs and the scopes of unit ticks in flight."""

    def __init__(
        self,
        health: Health,
        metrics: SelfMetrics,
        identity: str,
        *,
        on_lost: Callable[[Mapping[str, int]], None] | None = None,
    ) -> None:
        """``on_lost`` runs, synchronously, whenever a held unit is lost or its term ended; it gets the
        units still held (name -> epoch)."""
        self._on_lost = on_lost
        self._health = health
        self._metrics = metrics
        self._identity = identity
        self._held: dict[str, int] = {}
        self._view: dict[str, tuple[str, int]] = {}
        self._ticks: dict[str, set[asyncio.Timeout]] = {}
        self._gained: dict[str, asyncio.Event] = {}
        self._pending: set[str] = set()
        """Units gained (a new term) while a tick of theirs was still ending: their next sleep is skipped."""
        health.register(HEALTH_COMPONENT, required_for_ready=False)
        self._report()

    def epoch(self, unit: str) -> int:
        """The epoch of this replica's term of ``unit``; 0 when it does not hold it."""
        return self._held.get(unit, 0)

    @property
    def held(self) -> dict[str, int]:
        return dict(self._held)

    def guard(self, job: Job) -> Job:
        """``job`` gated on holding its unit, its tick ended at once when the unit is lost."""
        tick, unit = job.tick, job.unit

        async def guarded() -> bool:
            async with asyncio.timeout(None) as scope:
                scopes = self._ticks.setdefault(unit, set())
                scopes.add(scope)
                try:
                    return await tick()
                finally:
                    scopes.discard(scope)

        return dataclasses.replace(job, tick=guarded, gate=lambda: unit in self._held)

    def sleeper(self, unit: str) -> Callable[[float], Coroutine[Any, Any, None]]:
        """The sleep between iterations of ``unit``'s jobs: cut short when this replica gains ``unit``."""

        async def sleep(seconds: float) -> None:
            if unit in self._pending:
                self._pending.discard(unit)
                return
            gained = self._gained.setdefault(unit, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await gained.wait()

        return sleep

    def set(self, held: Mapping[str, int]) -> None:
        """Apply the coordinator's verdict: end the ticks of lost units (or of a new term), wake on gains."""
        now = asyncio.get_running_loop().time()
        for unit, epoch in self._held.items():
            if held.get(unit) != epoch:
                # A tick of an ended term must not keep writing; the new holder continues from the store.
                for scope in list(self._ticks.get(unit, ())):
                    # A scope already expiring (an earlier term's end, its tick not yet ended: the loop
                    # was stalled) ends its tick anyway; rescheduling it would raise.
                    if not scope.expired():
                        scope.reschedule(now)
        gained = [unit for unit, epoch in held.items() if self._held.get(unit) != epoch]
        lost = any(held.get(unit) != epoch for unit, epoch in self._held.items())
        self._held = dict(held)
        if lost and self._on_lost is not None:
            self._on_lost(dict(self._held))
        self._report()
        for unit in gained:
            event = self._gained.pop(unit, None)
            if event is not None:
                event.set()
            if self._ticks.get(unit):
                # A new term while the last term's tick is still ending: no job sleeps yet to be woken.
                self._pending.add(unit)

    def view(self, holders: Mapping[str, tuple[str, int]]) -> None:
        """Record who holds every unit (the store's view): the epoch gauges and the `/healthz` summary."""
        for unit, (holder, _) in self._view.items():
            if holders.get(unit, ("", 0))[0] != holder and holder:
                self._metrics.remove(SHARD_UNIT_EPOCH, {"unit": unit, "replica": holder})
        for unit, (holder, epoch) in holders.items():
            if holder:
                self._metrics.set(SHARD_UNIT_EPOCH, {"unit": unit, "replica": holder}, epoch)
        self._view = dict(holders)
        self._report()

    def _report(self) -> None:
        self._metrics.set(SHARD_UNITS_HELD, None, len(self._held))
        units = ", ".join(f"{name}@{epoch}" for name, epoch in sorted(self._held.items()))
        counts: dict[str, int] = {}
        for holder, _ in self._view.values():
            counts[holder or "(none)"] = counts.get(holder or "(none)", 0) + 1
        cluster = ", ".join(f"{holder}={n}" for holder, n in sorted(counts.items()))
        detail = f"{self._identity} holds {len(self._held)}: {units}"
        if cluster:
            detail = f"units per replica: {cluster}; {detail}"
        self._health.set(HEALTH_COMPONENT, True, detail[:4000])
