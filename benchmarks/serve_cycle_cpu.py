"""CPU per repository of a real ``serve`` process's steady activity cycle, and the simulator's per request.

The simulator (in this process, real clock, no added latency unless asked) serves ORGS x REPOS
repositories with HISTORY_DAYS of history; one ``github-stats-exporter serve`` process in
``leader_election.mode: single`` on a fresh redis-server collects them every INTERVAL seconds. After
the warm-up (the first burst of requests), CYCLES steady cycles are measured: the exporter's CPU
seconds from ``/proc/<pid>/stat`` over each burst (first request to ``QUIET`` seconds after the
last), and over the whole interval (one burst's start to the next one's: everything ``serve`` spends
per cycle, the page refresh and the idle loop included), divided by the repositories; the simulator's
CPU (this process's ``time.process_time``, the benchmark's polling included) per request. Medians
of the cycles are printed with the load average. With ``GSE_BENCH_PROFILE=1`` one more steady cycle
runs with cProfile on in ``serve`` (switched by signals, `benchmarks._profiled_serve`) and in the
simulator, and the report splits their time by where it went and lists the costliest functions; it
first prints the census of ``serve``'s GC-tracked objects (how many, by type, and what one full
collection of them costs).

Run: ``python -m benchmarks serve_cycle_cpu`` (about 6 minutes); scale with ``GSE_BENCH_ORGS`` (4),
``GSE_BENCH_REPOS`` (1000), ``GSE_BENCH_HISTORY_DAYS`` (1), ``GSE_BENCH_INTERVAL_S`` (75, must exceed
the warm-up), ``GSE_BENCH_CYCLES`` (3), ``GSE_BENCH_LATENCY_MS`` (0), ``GSE_BENCH_PROFILE`` (0),
``GSE_BENCH_PROFILE_DIR`` (keep the profiles there).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml
from tests.support.redis_server import RedisProcess, free_port

from benchmarks import _activity_world as activity_world
from benchmarks.sharded_collection import cpu_seconds, print_logs
from benchmarks.steady_cycle_cpu import where
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import WorldSpec

ORGS = int(os.environ.get("GSE_BENCH_ORGS", "4"))
REPOS = int(os.environ.get("GSE_BENCH_REPOS", "1000"))
HISTORY_DAYS = int(os.environ.get("GSE_BENCH_HISTORY_DAYS", "1"))
INTERVAL = float(os.environ.get("GSE_BENCH_INTERVAL_S", "75"))
CYCLES = int(os.environ.get("GSE_BENCH_CYCLES", "3"))
LATENCY = float(os.environ.get("GSE_BENCH_LATENCY_MS", "0")) / 1000
PROFILE = os.environ.get("GSE_BENCH_PROFILE", "0") == "1"
PROFILE_DIR = os.environ.get("GSE_BENCH_PROFILE_DIR", "")
"""Where to keep the profiles (``serve.prof``, ``simulator.prof``) for pstats; empty: not kept."""
QUIET = 6.0
"""Seconds without a request that end a cycle (the org jobs start up to 5 % of the interval apart)."""
WARM_QUIET = 15.0


def org_names() -> list[str]:
    return activity_world.org_names(ORGS)


def spec() -> WorldSpec:
    return activity_world.world_spec(ORGS, REPOS, HISTORY_DAYS, start=time.time())


def write_config(path: Path, sim: Simulator, key: Path, redis: RedisProcess) -> None:
    config = activity_world.serve_config(sim, key, redis.port, orgs=ORGS, port=free_port(), interval=INTERVAL)
    path.write_text(yaml.safe_dump(config))


async def burst(
    sim: Simulator, *, start_within: float, quiet: float, on_start: Callable[[], None]
) -> tuple[float, int]:
    """Wait for the next cycle: (seconds from its first to its last request, requests in it).

    Bursts of fewer requests than repositories (the token exchange, the rate-limit probe) are not
    cycles and skipped.
    """
    while True:
        wall, requests = await _burst(sim, start_within=start_within, quiet=quiet, on_start=on_start)
        if requests >= ORGS * REPOS:
            return wall, requests


async def _burst(
    sim: Simulator, *, start_within: float, quiet: float, on_start: Callable[[], None]
) -> tuple[float, int]:
    deadline = time.monotonic() + start_within
    seen = sim.stats.total()
    while sim.stats.total() == seen:
        if time.monotonic() > deadline:
            msg = "no collection cycle started"
            raise RuntimeError(msg)
        await asyncio.sleep(0.02)
    on_start()
    started, first = time.monotonic(), seen
    last_change, seen = started, sim.stats.total()
    while time.monotonic() - last_change < quiet:
        await asyncio.sleep(0.05)
        if (now := sim.stats.total()) != seen:
            seen, last_change = now, time.monotonic()
    return last_change - started, seen - first


async def run(tmp: Path, key: Path, public: str) -> None:
    redis = RedisProcess(tmp / "redis").start()
    proc: asyncio.subprocess.Process | None = None
    profile_path = tmp / "serve.prof"
    repos = ORGS * REPOS
    try:
        async with Simulator(spec(), rate_limit=10**9, prewarm=True) as sim:
            sim.add_app(11, public)
            if LATENCY:
                sim.faults.add(FaultRule(kind="latency", delay_s=LATENCY))
            config = tmp / "serve.yaml"
            write_config(config, sim, key, redis)
            entry = (
                ["-m", "benchmarks._profiled_serve", str(profile_path)]
                if PROFILE
                else ["-m", "github_stats_exporter"]
            )
            with (tmp / "serve.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *entry,
                    "serve",
                    "--config",
                    str(config),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            pid = proc.pid
            marks: list[tuple[float, float]] = []

            def mark() -> None:
                marks.append((cpu_seconds(pid), time.process_time()))

            warm = await burst(sim, start_within=180, quiet=WARM_QUIET, on_start=mark)
            print(
                f"warm-up: {warm[0]:.1f} s, {warm[1]} requests, exporter {cpu_seconds(pid) - marks[-1][0]:.1f} CPU s",
                flush=True,
            )
            rows: list[tuple[float, float, float, float, float]] = []
            for n in range(CYCLES + 1 if CYCLES else 0):
                wall, requests = await burst(sim, start_within=INTERVAL * 1.5, quiet=QUIET, on_start=mark)
                (cpu0, sim0), end = marks[-1], (cpu_seconds(pid), time.process_time())
                interval_cpu = cpu0 - marks[-2][0]
                load = os.getloadavg()[0]
                if n > 0:  # the interval before the first steady cycle holds the warm-up's tail
                    rows[-1] = (*rows[-1][:4], interval_cpu / repos * 1000)
                if n == CYCLES:
                    break
                exporter, simulator = end[0] - cpu0, end[1] - sim0
                rows.append(
                    (wall, exporter / repos * 1000, simulator / requests * 1000, requests / repos, 0.0)
                )
                print(
                    f"steady cycle {n + 1}: {wall:.1f} s, {requests / repos:.2f} requests per repository; "
                    f"exporter {exporter:.2f} CPU s = {exporter / repos * 1000:.3f} ms per repository; "
                    f"simulator {simulator:.2f} CPU s = {simulator / requests * 1000:.3f} ms per request "
                    f"(load average {load:.1f})",
                    flush=True,
                )
            for n, row in enumerate(rows):
                print(
                    f"  interval {n + 1} (steady cycle start to the next one's): exporter {row[4]:.3f} ms per repository"
                )
            med = [statistics.median(r[i] for r in rows) if rows else 0.0 for i in range(5)]
            print(
                f"median of {len(rows)}: cycle {med[0]:.1f} s, exporter {med[1]:.3f} ms per repository in the cycle, "
                f"{med[4]:.3f} ms per repository over the interval; simulator {med[2]:.3f} ms per request; "
                f"{med[3]:.2f} requests per repository; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if PROFILE:
                await profiled_cycle(sim, proc, profile_path, repos)
    except Exception:
        print_logs(tmp, "serve")
        raise
    finally:
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        redis.stop()


async def profiled_cycle(sim: Simulator, proc: asyncio.subprocess.Process, path: Path, repos: int) -> None:
    """One more steady cycle with cProfile on in ``serve`` and in the simulator; prints where the time went."""
    simulator = cProfile.Profile(time.process_time)

    def start() -> None:
        proc.send_signal(signal.SIGUSR1)
        simulator.enable()

    _, requests = await burst(sim, start_within=INTERVAL * 1.5, quiet=QUIET, on_start=start)
    simulator.disable()
    proc.send_signal(signal.SIGUSR2)
    for _ in range(100):
        if await asyncio.to_thread(written, path):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    census = path.with_name(path.name + ".census")
    if census.exists():
        print(f"serve's heap at the start of the profiled cycle: {census.read_text()}", end="")
    report("serve", pstats.Stats(str(path)), repos, "repository")
    report("the simulator", pstats.Stats(simulator), requests, "request")
    if PROFILE_DIR:
        keep_profiles(path, simulator, Path(PROFILE_DIR))


def keep_profiles(serve: Path, simulator: cProfile.Profile, kept: Path) -> None:
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(serve, kept / "serve.prof")
    simulator.dump_stats(kept / "simulator.prof")


def report(who: str, stats: pstats.Stats, count: int, unit: str) -> None:
    parts: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        parts[where(filename)] += tottime
    total = sum(parts.values())
    print(f"profiled steady cycle of {who}: {total / count * 1000:.3f} ms per {unit} under cProfile")
    for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {part:45s} {seconds / total:6.1%}")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)


def written(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def main() -> None:
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        key, public = activity_world.app_key(tmp)
        print(
            f"{ORGS} orgs x {REPOS} repos, {HISTORY_DAYS} day(s) of history, interval {INTERVAL:.0f} s, "
            f"{LATENCY * 1000:.0f} ms latency, {CYCLES} steady cycles",
            flush=True,
        )
        asyncio.run(run(tmp, key, public))


if __name__ == "__main__":
    main()
