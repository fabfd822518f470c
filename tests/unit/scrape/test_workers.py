# mypy: allow-untyped-defs, allow-incomplete-defs
"""`workers.each`: every item once, at most ``limit`` at once, results in order, the first error ends it."""

from __future__ import annotations

import asyncio

import pytest

from github_stats_exporter.scrape import workers


async def test_results_come_in_item_order_and_the_limit_holds() -> None:
    running = 0
    most = 0
    started: list[int] = []

    async def work(item: int) -> int:
        nonlocal running, most
        started.append(item)
        running += 1
        most = max(most, running)
        # Later items finish first: the results must still follow the items.
        await asyncio.sleep(0.001 * (10 - item % 10))
        running -= 1
        return item * item

    results = await workers.each(list(range(40)), 4, work)

    assert results == [i * i for i in range(40)]
    assert most == 4
    assert started[:4] == [0, 1, 2, 3]  # items start in their order
    assert sorted(started) == list(range(40))


async def test_fewer_items_than_the_limit_and_no_items() -> None:
    async def work(item: str) -> str:
        await asyncio.sleep(0)
        return item.upper()

    assert await workers.each(["a", "b"], 8, work) == ["A", "B"]
    assert await workers.each([], 8, work) == []


async def test_the_first_error_propagates_and_no_new_item_starts() -> None:
    started: list[int] = []

    async def work(item: int) -> int:
        started.append(item)
        await asyncio.sleep(0.001)
        if item == 2:
            msg = "repo 2 broke"
            raise RuntimeError(msg)
        return item

    with pytest.raises(RuntimeError, match="repo 2 broke"):
        await workers.each(list(range(100)), 3, work)
    await asyncio.sleep(0.05)  # the other workers finish what they hold, then stop
    assert len(started) < 10


async def test_cancelling_the_caller_cancels_the_work() -> None:
    cancelled = 0

    async def work(item: int) -> int:
        nonlocal cancelled
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return item

    task = asyncio.create_task(workers.each(list(range(10)), 3, work))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == 3


async def test_a_limit_below_one_is_refused() -> None:
    async def work(item: int) -> int:
        return item

    with pytest.raises(ValueError, match="limit must be at least 1"):
        await workers.each([1], 0, work)
