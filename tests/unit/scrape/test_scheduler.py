"""The periodic runner: ticks on schedule, survives failing ticks, and stops when cancelled."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from github_stats_exporter.scrape.scheduler import Job, run_periodic, run_tick


async def test_a_swallowed_cancellation_still_stops_the_loop():
    """A tick that swallows CancelledError (as redis-py sometimes does) cannot keep the loop alive."""
    entered = asyncio.Event()

    async def swallowing_tick() -> bool:
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        return True

    task = asyncio.create_task(run_periodic(Job("t", 0.01, swallowing_tick)))
    await entered.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert task in done, "the loop kept running after it was cancelled"
    assert task.cancelled()


async def test_failing_ticks_do_not_end_the_loop():
    """An exception in one tick is logged and the next tick still runs."""
    calls = 0
    third = asyncio.Event()

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls >= 3:
            third.set()
        if calls == 1:
            raise RuntimeError("boom")
        return True

    task = asyncio.create_task(run_periodic(Job("t", 0.0, flaky)))
    await asyncio.wait_for(third.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls >= 3


async def test_run_tick_reports_timeouts_as_failures():
    """A tick longer than its timeout ends and counts as failed."""

    async def slow() -> bool:
        await asyncio.sleep(10)
        return True

    assert await run_tick(Job("t", 1.0, slow, timeout=0.05)) is False


async def test_every_iteration_beats_even_while_the_gate_is_closed():
    """A follower's gated leader loop still proves it is alive; a ticking loop beats after each tick."""
    beats: list[bool] = []
    ticks = 0
    gate_open = False

    async def tick() -> bool:
        nonlocal ticks
        ticks += 1
        return True

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)
        if len(beats) >= 4:
            raise asyncio.CancelledError

    def beat() -> None:
        nonlocal gate_open
        beats.append(gate_open)
        gate_open = len(beats) >= 2  # closed for two iterations, then open

    job = Job("collect", 60.0, tick, gate=lambda: gate_open)
    with pytest.raises(asyncio.CancelledError):
        await run_periodic(job, sleep=no_sleep, beat=beat)
    assert beats == [False, False, True, True]
    assert ticks == 2
