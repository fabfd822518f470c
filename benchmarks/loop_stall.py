"""Event-loop stalls of a process that collects many repositories: their size and what causes them.

The simulator (frozen clock, no added latency) serves ORGS x REPOS repositories with HISTORY_DAYS of
history; one `ActivityCollector` per org writes into a real redis-server, as ``serve`` does. A
watchdog task sleeps 50 ms in a loop and records how late each wake-up is (the event-loop stall); a
``gc.callbacks`` hook times every full (generation 2) collection and counts the objects it scanned.
After a warm-up cycle, CYCLES steady cycles run one minute of simulated time apart. The report gives
the stall max and p99, the gen-2 pauses, the GC-tracked objects the org clients' ETag caches keep
alive, the time of one full collection with and without those caches, and the RSS.

Run: ``python -m benchmarks loop_stall`` (a few minutes); scale with ``GSE_BENCH_ORGS`` (4),
``GSE_BENCH_REPOS`` (1000), ``GSE_BENCH_HISTORY_DAYS`` (1), ``GSE_BENCH_CYCLES`` (3). It reads the
clients' caches through private attributes, which only a benchmark may do.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import resource
import sys
import time
from pathlib import Path
from types import FunctionType, ModuleType

import msgspec
from multidict import CIMultiDictProxy
from tests.support.redis_server import RedisProcess

from benchmarks._activity_world import activity_world, run_on_redis
from benchmarks._gc_serve import FullCollections

ORGS = int(os.environ.get("GSE_BENCH_ORGS", "4"))
REPOS = int(os.environ.get("GSE_BENCH_REPOS", "1000"))
HISTORY_DAYS = int(os.environ.get("GSE_BENCH_HISTORY_DAYS", "1"))
CYCLES = int(os.environ.get("GSE_BENCH_CYCLES", "3"))
INTERVAL = 60.0
TICK = 0.05


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tracked_below(root: object) -> int:
    """GC-tracked objects a cache entry owns: JSON containers below it, the entry and its headers.

    The walk descends only through JSON containers and the entry itself, never into types or
    modules (which would reach the whole process).
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not gc.is_tracked(obj):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict | list | tuple) or type(obj).__name__ == "CachedResponse":
            stack.extend(r for r in gc.get_referents(obj) if not isinstance(r, type))
    return len(seen)


def footprint(root: object) -> int:
    """Bytes of everything a cache entry owns: its JSON (or raw body), its ETag and its headers."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, CIMultiDictProxy):
            stack.extend(x for kv in obj.items() for x in kv)
        elif isinstance(obj, dict | list | tuple) or type(obj).__name__ == "CachedResponse":
            stack.extend(gc.get_referents(obj))
    return total


def owned_below(root: object) -> int:
    """GC-tracked objects reachable from ``root`` without passing through types, modules or code."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not gc.is_tracked(obj) or isinstance(obj, type | ModuleType | FunctionType):
            continue
        seen.add(id(obj))
        stack.extend(gc.get_referents(obj))
    return len(seen)


class Watchdog:
    """Records how late each ``asyncio.sleep(TICK)`` wakes up."""

    def __init__(self) -> None:
        self.late: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK)
            self.late.append(loop.time() - before - TICK)


def p99(values: list[float]) -> float:
    """The nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0


async def run(redis: RedisProcess) -> None:
    full = FullCollections()
    watchdog = Watchdog()
    async with activity_world(
        redis, key_prefix="stall", orgs=ORGS, repos=REPOS, history_days=HISTORY_DAYS
    ) as world:
        clock, clients, collectors = world.clock, world.clients, world.collectors

        async def cycle() -> float:
            clock.advance(INTERVAL)
            started = time.process_time()
            assert all(await asyncio.gather(*(c.tick() for c in collectors)))
            return time.process_time() - started

        def report(phase: str) -> None:
            late = watchdog.late or [0.0]
            pauses = [seconds for _, seconds in full.pauses] or [0.0]
            print(
                f"{phase}: event-loop stall max {max(late) * 1000:.0f} ms, p99 {p99(late) * 1000:.0f} ms "
                f"over {len(watchdog.late)} wake-ups; {len(full.pauses)} gen-2 collections, pause max "
                f"{max(pauses) * 1000:.0f} ms, total {sum(pauses):.1f} s; RSS {rss_mb():.0f} MB"
            )
            watchdog.late.clear()
            full.pauses.clear()

        gc.callbacks.append(full)
        task = asyncio.create_task(watchdog.run())
        try:
            warm = await cycle()
            print(f"warm-up: {warm:.1f} CPU s")
            report("warm-up")
            cpu = [await cycle() for _ in range(CYCLES)]
            print(f"steady cycles: {', '.join(f'{c:.2f}' for c in cpu)} CPU s ({ORGS * REPOS} repositories)")
            report("steady cycles")
        finally:
            task.cancel()
            gc.callbacks.remove(full)
        caches = [c._etags for c in clients]
        entries = sum(len(c) for c in caches)
        held = sum(tracked_below(c._entries) for c in caches)
        print(
            f"ETag caches: {entries} entries keep {held} GC-tracked objects alive ({held / max(entries, 1):.1f} per entry)"
        )
        size = sum(footprint(c._entries) for c in caches)
        print(f"ETag caches hold {size / 2**20:.0f} MB ({size / max(entries, 1):.0f} bytes per entry)")
        # Entries of the code before the fix had no ``body`` (they kept parsed JSON): nothing to decode.
        entries_read = [c.get(url) for c in caches for url in list(c._entries)]
        bodies = [e.body for e in entries_read if e is not None and hasattr(e, "body")]
        started = time.process_time()
        for body in bodies:
            msgspec.json.decode(body)
        decode = time.process_time() - started
        print(
            f"decoding every cached body again (what a 304 now costs): {decode:.2f} CPU s, "
            f"{decode / max(len(bodies), 1) * 1e6:.0f} us per entry, {sum(map(len, bodies)) / 2**20:.0f} MB of bodies"
        )
        ledgers = sum(owned_below(c._states) for c in collectors)
        print(f"activity collectors' per-repository state (ledgers): {ledgers} GC-tracked objects")
        print(f"GC-tracked objects in the process: {len(gc.get_objects())}; RSS {rss_mb():.0f} MB")
        started = time.perf_counter()
        gc.collect()
        with_caches = time.perf_counter() - started
        for c in caches:
            c._entries.clear()
        gc.collect()
        started = time.perf_counter()
        gc.collect()
        without = time.perf_counter() - started
        print(
            f"one full collection: {with_caches * 1000:.0f} ms with the ETag caches, {without * 1000:.0f} ms without; "
            f"GC-tracked objects without them: {len(gc.get_objects())}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (simulator included); load average {os.getloadavg()}")


def main() -> None:
    run_on_redis(run, f"{ORGS} orgs x {REPOS} repos, {HISTORY_DAYS} days of history, {CYCLES} steady cycles")


if __name__ == "__main__":
    main()
