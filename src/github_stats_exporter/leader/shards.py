"""The shard coordinator: this replica's membership and the work units it holds, each under a fenced lease.

In ``leader_election.mode: sharded`` every replica runs one `ShardCoordinator` (docs/scaling.md). Every
``retry_period`` it beats its membership (TTL ``lease_duration``), computes the bounded-load rendezvous assignment
over the live members (`units.assign`), gives up the units no longer its own, renews the ones it keeps
and acquires the ones it gained, each acquisition a new term with a new fencing epoch; each of these
steps is one batch call to the leases, whatever the number of units. When no lease
round (beat and renewals) succeeded within ``renew_deadline`` it drops every unit, before any lease can expire, as a
leader steps down. It reports the held units (name -> epoch) through ``on_change`` and every unit's
holder and epoch, as the leases have them, through ``on_view``; it never collects. The leases live in
the store's Redis or in Kubernetes Leases (`leader.base.UnitLeases`); their failures are expected and
retried; anything else propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from github_stats_exporter.cancellation import raise_if_cancelling
from github_stats_exporter.leader.base import LeaseError, UnitLeases
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.units import WorkUnit, assign
from github_stats_exporter.store.base import StoreError

log = structlog.get_logger(__name__)

Held = Mapping[str, int]
"""Unit name -> the epoch of this replica's term."""
Holders = Mapping[str, tuple[str, int]]
"""Unit name -> (the replica whose lease lives, "" for none; the unit's current epoch): the cluster's view."""


class ShardCoordinator:
    """Keeps this replica's share of ``units`` leased; see the module docstring."""

    def __init__(
        self,
        leases: UnitLeases,
        *,
        identity: str,
        units: Sequence[WorkUnit],
        timings: LeaseTimings,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_view: Callable[[Holders], None] | None = None,
    ) -> None:
        self._on_view = on_view
        self._leases = leases
        self._identity = identity
        self._units = {unit.name: unit for unit in units}
        self._timings = timings
        self._clock = clock
        self._sleep = sleep
        self._held: dict[str, int] = {}
        self._members: tuple[str, ...] = ()
        self._mine: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())
        """The members the last assignment was computed for, and this replica's units in it."""
        self._renewed_at = float("-inf")

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def held(self) -> dict[str, int]:
        """The units this replica holds now, with the epoch of its term."""
        return dict(self._held)

    @property
    def members(self) -> tuple[str, ...]:
        """The live members seen by the last successful beat."""
        return self._members

    async def run(self, on_change: Callable[[Held], None]) -> None:
        """Beat, rebalance and renew every ``retry_period`` until cancelled; then drop every unit."""
        try:
            while True:
                await self.step(on_change)
                # A round's store call may swallow the cancellation (shutdown while it waits on Redis):
                # without this the loop renews forever and the process never exits on SIGTERM.
                raise_if_cancelling()
                await self._sleep(self._timings.retry_period)
        finally:
            # Nothing renews any more: stop collecting now; `release` frees the leases afterwards.
            if self._held:
                on_change({})

    async def step(self, on_change: Callable[[Held], None]) -> None:
        """One round: beat, then give up, renew and acquire units so this replica holds its share."""
        started = self._clock()
        before = dict(self._held)
        try:
            async with asyncio.timeout(self._timings.renew_deadline):
                await self._round(started, on_change)
        except (LeaseError, StoreError, TimeoutError) as exc:
            log.warning("shard coordination failed", identity=self._identity, error=str(exc) or "timeout")
        if self._held and self._clock() - self._renewed_at > self._timings.renew_deadline:
            log.warning(
                "shard leases not renewed within renew_deadline; dropping every unit", units=len(self._held)
            )
            self._held.clear()
        if self._held != before:
            on_change(dict(self._held))

    def _share(self, members: tuple[str, ...]) -> frozenset[str]:
        """This replica's units among ``members``; recomputed only when the members change (one hash per pair)."""
        if self._mine[0] != members:
            assigned = assign(self._units.values(), members)[self._identity]
            self._mine = (members, frozenset(unit.name for unit in assigned))
        return self._mine[1]

    async def _round(self, started: float, on_change: Callable[[Held], None]) -> None:
        ttl = self._timings.lease_duration
        members = await self._leases.heartbeat(self._identity, ttl)
        if self._identity not in members:
            members = sorted([*members, self._identity])
        self._members = tuple(members)
        mine = self._share(self._members)
        # Each step below is one call whatever the number of units (one round trip on Redis), so a round
        # costs the same few event-loop turns with 60 units as with one (docs/scaling.md, "Cost of a round").
        gone = sorted(set(self._held) - mine)
        if gone:
            # Stop collecting first, then free the leases for their new owners.
            for name in gone:
                del self._held[name]
            on_change(dict(self._held))
            await self._leases.release_units(gone, self._identity)
        if self._held:
            outcomes = await self._leases.renew_units(dict(self._held), self._identity, ttl)
            for name, epoch in sorted(self._held.items()):
                outcome = outcomes[name]
                if not outcome.renewed:
                    log.warning(
                        "shard unit lost",
                        unit=name,
                        epoch=epoch,
                        holder=outcome.holder,
                        current=outcome.epoch,
                    )
                    del self._held[name]
        self._renewed_at = started
        gained = sorted(mine - set(self._held))
        if gained:
            acquired = await self._leases.acquire_units(gained, self._identity, ttl)
            for name, epoch in sorted(acquired.items()):
                if epoch:
                    self._held[name] = epoch
                    log.info("shard unit acquired", unit=name, epoch=epoch)
        if self._on_view is not None:
            self._on_view(await self._leases.unit_holders(sorted(self._units)))

    async def release(self) -> None:
        """Give every unit up and leave, so the others take over at once (a clean shutdown)."""
        held, self._held = dict(self._held), {}
        with contextlib.suppress(LeaseError, StoreError):
            if held:
                await self._leases.release_units(sorted(held), self._identity)
            await self._leases.leave(self._identity)
