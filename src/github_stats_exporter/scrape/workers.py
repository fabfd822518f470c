"""Work over many items with a fixed number of workers: ``limit`` coroutines pull items from one queue.

A cycle visits every repository of an org (thousands) with a handful in flight. One task per item
waiting on a semaphore costs a task, a future and an extra event-loop turn per item before any work
starts; ``limit`` workers cost ``limit`` tasks per cycle (docs/benchmarks.md, "Steady cycle: fewer
turns per repository"). Items start in their order, as the semaphore's queue started them.

This module never decides what the work is, never retries and never swallows an exception: the first
one propagates as from `asyncio.gather`, and the other workers stop taking new items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def each(items: Sequence[T], limit: int, work: Callable[[T], Awaitable[R]]) -> list[R]:
    """``work(item)`` for every item, at most ``limit`` at once; the results in the items' order."""
    if limit < 1:
        msg = f"limit must be at least 1, got {limit}"
        raise ValueError(msg)
    results: dict[int, R] = {}
    queue = iter(range(len(items)))
    failed = False

    async def worker() -> None:
        nonlocal failed
        for index in queue:
            if failed:
                return
            try:
                results[index] = await work(items[index])
            except BaseException:
                failed = True
                raise

    await asyncio.gather(*(worker() for _ in range(min(limit, len(items)))))
    return [results[index] for index in range(len(items))]
