"""The lease loop shared by the Kubernetes and Redis electors: campaign, renew, step down in time.

All timing is on this process's monotonic clock:

* a follower tries every ``retry_period`` plus up to 20% jitter, so replicas do not move in lockstep;
* the leader renews every ``min(retry_period, renew_deadline / 2)``. ``renewed_at`` is the moment the
  last *successful* renewal was sent; an attempt may run until ``renewed_at + renew_deadline`` and when
  that deadline passes without success the leader steps down. Another replica takes over no earlier
  than ``lease_duration`` after that renewal reached the shared system (it waits out a full lease as it
  observes it), and ``renew_deadline < lease_duration``, so the old leader has stopped first.

Expected failures (`LeaseError`, timeouts) are counted and retried; they never end the loop. Anything
else is a bug and propagates. This module does no I/O of its own; the `LeaseLock` does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from github_stats_exporter.cancellation import raise_if_cancelling
from github_stats_exporter.leader.base import LeaseError, LeaseLock
from github_stats_exporter.metrics import LEADER_ELECTION_ERRORS, LEADER_TRANSITIONS
from github_stats_exporter.selfmetrics import SelfMetrics

log = structlog.get_logger(__name__)

_DEADLINE_DETAIL = "no successful renewal within renew_deadline; stepping down before the lease can expire"

JITTER = 0.2
"""Followers wait retry_period * (1 + JITTER * U[0, 1)); failed renewals too (within the deadline)."""


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """Seconds: how long a lease lasts, how long a leader may fail to renew, how often to try."""

    lease_duration: float
    renew_deadline: float
    retry_period: float

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            msg = (
                "lease timings need lease_duration > renew_deadline > retry_period > 0, got "
                f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}"
            )
            raise ValueError(msg)

    @property
    def renew_period(self) -> float:
        """How often the leader renews: leaves at least half the deadline for each attempt."""
        return min(self.retry_period, self.renew_deadline / 2)


class LeaseElector:
    """An `Elector` over any `LeaseLock`; the adapters subclass it only to build their lock."""

    def __init__(
        self,
        lock: LeaseLock,
        *,
        identity: str,
        timings: LeaseTimings,
        metrics: SelfMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._lock = lock
        self._identity = identity
        self._timings = timings
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._leader = False
        self._renewed_at = 0.0
        self._last_ok = True
        self._failures = 0
        self._transitions = 0
        self._stopped = False
        self._on_change: Callable[[bool], None] | None = None

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def transitions(self) -> int:
        return self._transitions

    @property
    def timings(self) -> LeaseTimings:
        return self._timings

    @property
    def stopped(self) -> bool:
        """True once `release` was called: the elector no longer campaigns."""
        return self._stopped

    def listen(self, on_change: Callable[[bool], None]) -> None:
        """Report every later role change to ``on_change``.

        `run` starts with this; a caller that drives `step` itself calls it first.
        """
        self._on_change = on_change

    async def run(self, on_change: Callable[[bool], None]) -> None:
        self.listen(on_change)
        try:
            while not self._stopped:
                await self.step()
                raise_if_cancelling()
                await self._sleep(self.next_delay())
            await asyncio.Event().wait()
        finally:
            # Nobody renews once this loop ends, so this replica must stop acting as leader now.
            self._set(False, "stopped")

    async def step(self) -> bool:
        """One attempt to acquire or renew, with the role updated; returns `is_leader` afterwards."""
        if self._stopped:
            return False
        started = self._clock()
        if self._leader:
            budget = self._renewed_at + self._timings.renew_deadline - started
            if budget <= 0:
                self._fail(LeaseError(_DEADLINE_DETAIL, reason="renew_deadline"))
                self._set(False, "renew_deadline")
                return False
        else:
            budget = self._timings.renew_deadline
        try:
            async with asyncio.timeout(budget):
                held = await self._lock.try_acquire_or_renew(started, self._leader)
        except TimeoutError:
            self._fail(LeaseError(f"no answer within {budget:.3g}s", reason="timeout"))
        except LeaseError as exc:
            self._fail(exc)
        else:
            if self.stopped:
                return False
            if self._failures:
                log.info("lease_recovered", identity=self._identity, failures=self._failures)
            self._last_ok, self._failures = True, 0
            if held:
                self._renewed_at = started
            self._set(held, "acquired" if held else "held_by_another")
            return self._leader
        if self._leader and self._clock() - self._renewed_at >= self._timings.renew_deadline:
            self._fail(LeaseError(_DEADLINE_DETAIL, reason="renew_deadline"))
            self._set(False, "renew_deadline")
        return self._leader

    def next_delay(self) -> float:
        """Seconds until the next attempt (a leader never sleeps past its renew deadline)."""
        t = self._timings
        if not self._leader:
            return t.retry_period * (1 + JITTER * self._jitter())
        delay = t.renew_period if self._last_ok else t.renew_period * (1 + JITTER * self._jitter())
        return max(0.0, min(delay, self._renewed_at + t.renew_deadline - self._clock()))

    async def release(self) -> None:
        """Stop campaigning, stop leading, then give the lease up (bounded by renew_deadline)."""
        self._stopped = True
        self._set(False, "released")
        try:
            async with asyncio.timeout(self._timings.renew_deadline):
                released = await self._lock.release()
        except TimeoutError:
            self._count("timeout")
            log.warning("lease_release_failed", identity=self._identity, reason="timeout")
        except LeaseError as exc:
            self._count(exc.reason)
            log.warning("lease_release_failed", identity=self._identity, reason=exc.reason, detail=exc.detail)
        else:
            if released:
                log.info("lease_released", identity=self._identity)

    async def close(self) -> None:
        await self._lock.close()

    def _fail(self, exc: LeaseError) -> None:
        self._last_ok = False
        self._failures += 1
        self._count(exc.reason)
        # A streak is logged when it starts; every failure is counted in the metric.
        if self._failures == 1 or exc.reason == "renew_deadline":
            log.warning(
                "lease_attempt_failed",
                identity=self._identity,
                leader=self._leader,
                reason=exc.reason,
                detail=exc.detail,
            )

    def _count(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.inc(LEADER_ELECTION_ERRORS, {"reason": reason})

    def _set(self, leader: bool, why: str) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        if leader:
            self._transitions += 1
            if self._metrics is not None:
                self._metrics.inc(LEADER_TRANSITIONS)
            log.info("leader_acquired", identity=self._identity, transitions=self._transitions)
        else:
            log.warning("leader_lost", identity=self._identity, reason=why)
        if self._on_change is not None:
            self._on_change(leader)
