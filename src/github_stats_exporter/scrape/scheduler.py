"""Periodic jobs: run a tick now, then every interval, never overlapping, never catching up in bursts.

A `Job` is a named async tick with an interval and a gate (e.g. "only while leader"). This module only
loops and times; it never creates tasks (the composition root owns the task group) and never decides
what a tick does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from github_stats_exporter.cancellation import raise_if_cancelling

log = structlog.get_logger(__name__)

Tick = Callable[[], Awaitable[bool]]
"""One unit of work; returns True when everything it tried succeeded."""


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Job:
    """A named periodic tick.

    ``timeout`` bounds one tick (None: unbounded); ``jitter`` spreads replicas/orgs apart (fraction of
    the interval added at random to each sleep); ``gate`` is checked before each tick.
    ``leader_only`` marks scheduled collection: the composition root gates it on leadership and
    cancels a running tick when leadership is lost. ``unit`` names the work unit of sharded collection
    the job belongs to (docs/scaling.md); in that mode it is gated on holding the unit instead.
    """

    name: str
    interval: float
    tick: Tick
    timeout: float | None = None
    jitter: float = 0.0
    gate: Callable[[], bool] = field(default=_always)
    leader_only: bool = False
    unit: str = ""


async def run_periodic(
    job: Job,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    beat: Callable[[], None] | None = None,
) -> None:
    """Run ``job`` forever: tick, then sleep until the next deadline (measured from the tick's start).

    A tick slower than the interval is followed immediately by the next one (no overlap, no burst).
    Exceptions other than cancellation are logged and the loop continues: one bad tick must not end
    the service; the tick itself reports its failures through health and self-metrics. ``beat`` is
    called after every iteration, gated or not (the liveness watchdog listens to it); a ``sleep`` that
    returns early starts the next iteration early (a replica that just became leader ticks at once).
    """
    rng = rng or random.Random()
    while True:
        started = monotonic()
        if job.gate():
            await run_tick(job)
            raise_if_cancelling()
        if beat is not None:
            beat()
        delay = job.interval - (monotonic() - started)
        if job.jitter:
            delay += rng.uniform(0, job.jitter * job.interval)
        await sleep(max(0.0, delay))


async def run_tick(job: Job) -> bool:
    """Run one tick with its timeout; False on failure, timeout or an unexpected exception."""
    try:
        async with asyncio.timeout(job.timeout):
            return await job.tick()
    except TimeoutError:
        log.warning("job_timeout", job=job.name, timeout_seconds=job.timeout)
        return False
    except Exception:
        # Unexpected failures are bugs; they are logged with the traceback and the loop keeps going
        # so /metrics keeps serving the last good data.
        log.exception("job_failed", job=job.name)
        return False
