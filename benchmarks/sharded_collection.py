"""Sharded collection with real `serve` processes on a real Redis: cycle wall time, budget, correctness, kill -9.

The simulator (in this process, a fixed latency added to every API answer) serves ORGS x REPOS
repositories; one exporter process in ``leader_election.mode: single`` (today's baseline), then 1 and
3 processes in ``mode: sharded`` (each org in SHARDS shards) collect them into a fresh redis-server. The benchmark watches the simulator's request counter:
the first burst is the warm-up cycle (full history), the second one is a steady cycle (conditional
requests, mostly 304). It reports the steady cycle's wall time, the rate-limited requests it cost,
whether every activity value equals the ground truth at the instant its snapshot was produced, and,
with 3 replicas, how long after ``kill -9`` of one replica its units were leased again and its
repositories collected again (each one's last stream, issue comments, answered after the kill: a
snapshot is rewritten only when a value changed, so its time cannot tell).

Run: ``python -m benchmarks sharded_collection`` (a few minutes); scale with the environment:
``GSE_BENCH_ORGS`` (default 20), ``GSE_BENCH_REPOS`` (1000), ``GSE_BENCH_LATENCY_MS`` (50),
``GSE_BENCH_SHARDS`` (3), ``GSE_BENCH_HISTORY_DAYS`` (3), ``GSE_BENCH_INTERVAL_S`` (60), ``GSE_BENCH_RUNS`` (``single1,sharded1,sharded3``),
``GSE_BENCH_SHARE_ETAGS`` (1; 0 sets ``github.share_etags: false``, ETags per process as before),
``GSE_BENCH_FREEZE_WORLD`` (1; 0 leaves the generated world, and what the warm-up adds to it, to the
cyclic GC, as before), ``GSE_BENCH_PROFILE`` (0; 1 profiles every exporter over the steady cycle,
into ``GSE_BENCH_PROFILE_DIR``).
CPU seconds of every process in the steady cycle come from ``/proc/<pid>/stat`` (the exporters and
redis-server) and ``time.process_time`` (this process: the simulator, plus the benchmark's own
polling). Each run also prints Redis's costliest commands in the steady cycle (``INFO commandstats``,
reset 20 s before it) and the bytes Redis received and sent over the same time, how late the
simulator's event loop woke a task sleeping 5 ms (what the machine adds to every answer's latency),
and the longest and the biggest job with their start in the cycle. docs/benchmarks.md has the figures and the scale they were measured at.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from redis.asyncio import Redis
from tests.support.redis_server import RedisProcess, free_port

from benchmarks import _activity_world as activity_world
from benchmarks._gc_serve import FullCollections
from benchmarks._gc_serve import read as full_collections
from github_stats_exporter import metrics
from github_stats_exporter.scrape.shard import RepoShard
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import WorldSpec
from github_stats_exporter.simulator.truth import repo_activity_truth
from github_stats_exporter.store.redis import RedisSnapshotStore

ORGS = int(os.environ.get("GSE_BENCH_ORGS", "20"))
REPOS = int(os.environ.get("GSE_BENCH_REPOS", "1000"))
LATENCY = float(os.environ.get("GSE_BENCH_LATENCY_MS", "50")) / 1000
SHARDS = int(os.environ.get("GSE_BENCH_SHARDS", "3"))
INTERVAL = float(os.environ.get("GSE_BENCH_INTERVAL_S", "60"))
"""The scrape interval: longer than the warm-up cycle, or the steady cycle follows it without a pause."""
HISTORY_DAYS = int(os.environ.get("GSE_BENCH_HISTORY_DAYS", "3"))
RUNS = tuple(os.environ.get("GSE_BENCH_RUNS", "single1,sharded1,sharded3").split(","))
"""Which runs: ``single1``, ``sharded1``, ``sharded3`` (mode and replica count), comma-separated."""
RATE_LIMIT = 12_500
"""GitHub's hourly budget of an App installation on an org with 1,000 repositories (5,000 + 50 per repo over 20, capped)."""
LEASE = float(os.environ.get("GSE_BENCH_LEASE_S", "4"))
"""``lease_duration``; ``renew_deadline`` is two thirds of it and ``retry_period`` an eighth."""
SHARE_ETAGS = os.environ.get("GSE_BENCH_SHARE_ETAGS", "1") != "0"
FREEZE_WORLD = os.environ.get("GSE_BENCH_FREEZE_WORLD", "1") != "0"
"""Move the generated world out of the cyclic GC's sight (``gc.freeze``) before the exporters start, and
what the warm-up added to it (repository data built on first ask) after the warm-up.

At 20 x 1,000 the world is ~1.7 million GC-tracked objects: a full collection in this process is a
0.7 s stall of the simulator's event loop, during which every request in flight waits. GitHub has no
such pauses, so they are not the exporter's to pay (docs/benchmarks.md, "Sharded collection", the
full collections counted at 20 x 1,000).
"""
PROFILE = os.environ.get("GSE_BENCH_PROFILE", "0") != "0"
"""Run every exporter under cProfile (CPU time) from 20 s before the steady cycle to its end, and keep
each replica's profile as ``<mode><replicas>-<n>.prof`` in GSE_BENCH_PROFILE_DIR (the current directory
by default). Profiled, the exporters spend more CPU; the run's times are not comparable with others.
"""
PROFILE_DIR = Path(os.environ.get("GSE_BENCH_PROFILE_DIR", ".")).resolve()
KILL_TIMEOUT = 600.0
"""Seconds after kill -9 the benchmark waits at most for the takeover before reporting what is missing."""
QUIET = 10.0
"""Seconds without a request that end the steady cycle."""
WARM_QUIET = 30.0
"""Seconds without a request that end the warm-up (at 20 x 1,000 it has pauses of several seconds)."""
STEADY_LEAD = 20.0
"""The steady cycle is awaited from this many seconds before one interval after the warm-up began."""
ACTIVITY = frozenset(
    spec.name
    for spec in (
        metrics.ACTIVITY_COMMITS,
        metrics.ACTIVITY_PRS_OPENED,
        metrics.ACTIVITY_PRS_MERGED,
        metrics.ACTIVITY_REVIEWS,
        metrics.ACTIVITY_ISSUE_COMMENTS,
        metrics.ACTIVITY_LAST_EVENT,
    )
)


def org_names() -> list[str]:
    return activity_world.org_names(ORGS)


def spec() -> WorldSpec:
    return activity_world.world_spec(ORGS, REPOS, HISTORY_DAYS, start=time.time())


def write_config(
    path: Path, name: str, sim: Simulator, key: Path, redis: RedisProcess, interval: float, mode: str
) -> int:
    port = free_port()
    config = activity_world.serve_config(
        sim,
        key,
        redis.port,
        orgs=ORGS,
        port=port,
        interval=interval,
        mode=mode,
        shards=SHARDS if mode == "sharded" else 1,
        identity=name,
        lease=LEASE,
    )
    config["github"]["share_etags"] = SHARE_ETAGS
    path.write_text(yaml.safe_dump(config))
    return port


class EndlessBurst(RuntimeError):
    """A burst of requests went on longer than it may without a pause of ``quiet`` seconds."""


async def burst(
    sim: Simulator,
    *,
    start_within: float,
    quiet: float,
    on_start: Callable[[], None] = lambda: None,
    longest: float = math.inf,
) -> tuple[float, float, int]:
    """The next collection cycle: (start, end, rate-limited requests) of the next burst of requests.

    A burst starts with a request and ends with its last request before ``quiet`` seconds without
    one; bursts smaller than one request per repository (the token exchange, the rate-limit probe)
    are not cycles and skipped. A burst still going after ``longest`` seconds raises `EndlessBurst`.
    """
    while True:
        started, ended, budget, count = await _burst(
            sim, start_within=start_within, quiet=quiet, on_start=on_start, longest=longest
        )
        if count >= ORGS * REPOS:
            return started, ended, budget
        print(f"  (a burst of {count} requests over {ended - started:.1f} s is not a cycle)", flush=True)


async def _burst(
    sim: Simulator, *, start_within: float, quiet: float, on_start: Callable[[], None], longest: float
) -> tuple[float, float, int, int]:
    deadline = time.monotonic() + start_within
    seen = sim.stats.total()
    while sim.stats.total() == seen:
        if time.monotonic() > deadline:
            msg = f"no collection cycle started within {start_within:.0f} s ({seen} requests so far)"
            raise RuntimeError(msg)
        await asyncio.sleep(0.05)
    on_start()
    started, budget, first = time.monotonic(), sim.stats.rate_limited(), seen
    last_change, seen = started, sim.stats.total()
    while time.monotonic() - last_change < quiet:
        await asyncio.sleep(0.05)
        if (now := sim.stats.total()) != seen:
            seen, last_change = now, time.monotonic()
        if last_change - started > longest:
            msg = f"a burst of requests has not paused for {quiet:g} s in {longest:g} s ({seen - first} requests)"
            raise EndlessBurst(msg)
    return started, last_change, sim.stats.rate_limited() - budget, seen - first


def job_spans(sim: Simulator, mode: str, since: float) -> dict[tuple[str, int], tuple[float, float, int]]:
    """Each collection job's (first answer, last answer, repositories) in the cycle answered after ``since``.

    A job is an org (single mode) or a unit (sharded); its cycle spans from the first to the last answer
    to a request about one of its repositories: unlike the burst, this leaves out the jobs' random start
    offsets (5 % of the interval). Times are the simulator clock's.
    """
    spans: dict[tuple[str, int], list[float]] = {}
    shards = SHARDS if mode == "sharded" else 1
    index = {
        (org, info.name.lower()): next(
            i for i in range(shards) if RepoShard(i, shards).holds(info.id, info.name)
        )
        for org in org_names()
        for info in sim.world.repos(org)
    }
    sizes: dict[tuple[str, int], int] = {}
    for (owner, _), unit in index.items():
        sizes[owner, unit] = sizes.get((owner, unit), 0) + 1
    for (_, owner, repo), at in sim.stats.last_answered.items():
        if at >= since and (owner, repo) in index:
            span = spans.setdefault((owner, index[owner, repo]), [at, at])
            span[0], span[1] = min(span[0], at), max(span[1], at)
    return {job: (a, b, sizes[job]) for job, (a, b) in spans.items()}


def longest_job(spans: dict[tuple[str, int], tuple[float, float, int]]) -> float:
    """Seconds of the longest job of `job_spans`."""
    return max((b - a for a, b, _ in spans.values()), default=0.0)


def describe_jobs(spans: dict[tuple[str, int], tuple[float, float, int]]) -> str:
    """The longest and the biggest job: seconds, repositories, and start after the cycle's first job."""
    if not spans:
        return "no jobs"
    first = min(a for a, _, _ in spans.values())
    longest = max(spans.items(), key=lambda kv: kv[1][1] - kv[1][0])
    biggest = max(spans.items(), key=lambda kv: (kv[1][2], kv[1][1] - kv[1][0]))
    return "; ".join(
        f"{what} {org}#{unit}: {b - a:.1f} s for {n} repositories, started {a - first:.1f} s in"
        for what, ((org, unit), (a, b, n)) in (("longest", longest), ("biggest", biggest))
    )


class LoopLag:
    """How late this process's event loop wakes a task that sleeps ``period`` seconds (the simulator's loop).

    A request's answer waits as long as the loop is busy elsewhere, so the lateness is what the
    simulator adds to the latency it was told to add.
    """

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.period)
            now = time.monotonic()
            self.samples.append((now, now - before - self.period))

    def within(self, start: float, end: float) -> list[float]:
        return sorted(late for at, late in self.samples if start <= at <= end)


async def wrong_values(sim: Simulator, redis: RedisProcess, orgs: Sequence[str]) -> tuple[int, int]:
    """(series compared, series that differ from the truth at their snapshot's production time)."""
    store = RedisSnapshotStore.standalone("127.0.0.1", redis.port, key_prefix="bench")
    async with store:
        keys = [k for k in await store.versions() if k.kind == "activity" and k.parts[0] in orgs]
        snaps = await store.get_many(keys)
    by_time: dict[float, list[Any]] = {}
    for snap in snaps.values():
        by_time.setdefault(snap.produced_at, []).append(snap)
    compared = wrong = 0
    for produced_at, group in by_time.items():
        want: dict[Any, float] = {}
        for snap in group:
            org, repo = snap.key.parts
            truth = repo_activity_truth(sim.world.repo(org, repo), produced_at)
            want |= {k: v for k, v in truth.items() if k[0] in ACTIVITY}
        got = {
            (s.name, s.label("org") or "", s.label("repo") or "", s.label("user") or ""): s.value
            for snap in group
            for s in snap.samples
            if s.name in ACTIVITY
        }
        compared += len(want)
        differ = set(want.items()) ^ set(got.items())
        wrong += len(differ)
        for series in sorted({k for k, _ in differ})[:5]:
            print(
                f"  differs: {series} truth {want.get(series)} exported {got.get(series)} "
                f"(snapshot produced at {produced_at:.3f})",
                flush=True,
            )
    return compared, wrong


async def run(replicas: int, mode: str, key: Path, tmp: Path, public: str) -> dict[str, float]:
    interval = INTERVAL
    redis = RedisProcess(tmp / f"redis-{mode}-{replicas}").start()
    procs: list[asyncio.subprocess.Process] = []
    gc_logs: list[Path] = []
    lag_task: asyncio.Task[None] | None = None
    try:
        # Every repository is generated before the exporters start: generation is not GitHub's latency.
        async with Simulator(spec(), rate_limit=RATE_LIMIT, prewarm=True) as sim:
            if FREEZE_WORLD:
                gc.collect()
                gc.freeze()
            full = FullCollections()
            gc.callbacks.append(full)
            lag = LoopLag()
            lag_task = asyncio.create_task(lag.run())
            sim.add_app(11, public)
            sim.faults.add(FaultRule(kind="latency", delay_s=LATENCY))
            for n in range(replicas):
                config = tmp / f"{mode}{replicas}-{n}.yaml"
                write_config(config, f"r{n}", sim, key, redis, interval, mode)
                gc_log = tmp / f"{mode}{replicas}-{n}.gc"
                gc_logs.append(gc_log)
                with (tmp / f"{mode}{replicas}-{n}.log").open("wb") as log:
                    cmd = ["-m", "benchmarks._gc_serve", str(gc_log), "serve", "--config", str(config)]
                    if PROFILE:
                        profile = PROFILE_DIR / f"{mode}{replicas}-{n}.prof"
                        cmd = ["-m", "benchmarks._profiled_serve", str(profile), *cmd[3:]]
                    proc = await asyncio.create_subprocess_exec(
                        sys.executable, *cmd, stdout=subprocess.DEVNULL, stderr=log
                    )
                procs.append(proc)
            try:
                warm = await burst(sim, start_within=180, quiet=WARM_QUIET, longest=max(600.0, 4 * interval))
            except EndlessBurst as exc:
                # Cycles run back to back (no quiet gap ends the warm-up) when the interval is shorter
                # than the warm-up plus WARM_QUIET: without this the benchmark would wait forever.
                msg = f"the warm-up never ended: {exc}; set GSE_BENCH_INTERVAL_S above the warm-up + {WARM_QUIET:.0f} s"
                raise RuntimeError(msg) from exc
            print(
                f"  {mode} {replicas}: warm-up {warm[1] - warm[0]:.1f} s, {sim.stats.total()} requests so far",
                flush=True,
            )
            if FREEZE_WORLD:
                # What the warm-up added to the world (each repository's data, built on first ask) is
                # the world as much as what was generated before it.
                started = time.perf_counter()
                gc.collect()
                added = len(gc.get_objects())
                print(
                    f"  {mode} {replicas}: the warm-up left {added} GC-tracked objects in the simulator's process "
                    f"(a full collection took {time.perf_counter() - started:.2f} s); frozen too",
                    flush=True,
                )
                gc.freeze()
            # The steady cycle starts one interval after the warm-up did; nothing else calls GitHub
            # in between (the LOC pass and the probe are hourly). A warm-up longer than the interval ran
            # the second cycle right behind it (one burst): the steady one is then a whole interval later.
            late = time.monotonic() > warm[0] + interval - STEADY_LEAD
            await asyncio.sleep(max(0.0, warm[0] + interval - STEADY_LEAD - time.monotonic()))
            redis_pid = redis.pid
            assert redis_pid is not None, "redis-server stopped during the warm-up"
            cpu_before = [cpu_seconds(p.pid) for p in procs], time.process_time()
            redis_before = cpu_seconds(redis_pid)
            if PROFILE:
                for proc in procs:
                    proc.send_signal(signal.SIGUSR1)
            stolen_before = stolen_seconds()
            await reset_command_stats(redis)
            routes_before = sim.stats.requests.copy()
            at_start: list[tuple[list[float], float, float]] = []
            steady_since = sim.clock.now()
            steady = await burst(
                sim,
                start_within=STEADY_LEAD * 3 + (interval if late else 0.0),
                quiet=QUIET,
                on_start=lambda: at_start.append(
                    ([cpu_seconds(p.pid) for p in procs], time.process_time(), cpu_seconds(redis_pid))
                ),
            )
            cpu_after = [cpu_seconds(p.pid) for p in procs], time.process_time()
            if PROFILE:
                for proc in procs:
                    proc.send_signal(signal.SIGUSR2)
            redis_after = cpu_seconds(redis_pid)
            received, sent = await network_bytes(redis)
            stolen = stolen_seconds() - stolen_before
            pauses = [p for at, p in full.pauses if steady[0] <= at <= steady[1]]
            replica_pauses = [
                [p for at, p in full_collections(path) if steady[0] <= at <= steady[1]] for path in gc_logs
            ]
            load = os.getloadavg()[0]
            routes = sim.stats.requests - routes_before
            print(
                f"  {mode} {replicas}: steady-cycle requests by (route, status): "
                + ", ".join(f"{r} {s}: {n}" for (r, s), n in sorted(routes.items())),
                flush=True,
            )
            spans = job_spans(sim, mode, steady_since)
            lateness = lag.within(steady[0], steady[1])
            print(
                f"  {mode} {replicas}: {describe_jobs(spans)}; the simulator's loop late by "
                f"{lateness[len(lateness) // 2] * 1000:.1f} ms (median), "
                f"{lateness[int(len(lateness) * 0.99)] * 1000:.1f} ms (99th), {lateness[-1] * 1000:.1f} ms (most) "
                "in the steady cycle",
                flush=True,
            )
            compared, wrong = await wrong_values(sim, redis, org_names())
            print(
                f"  {mode} {replicas}: redis-server's costliest commands: {await command_stats(redis)}; "
                f"it received {received / 1e6:.1f} MB and sent {sent / 1e6:.1f} MB",
                flush=True,
            )
            kept, kept_bytes, used = await shared_etags(redis)
            print(
                f"  {mode} {replicas}: shared ETags in Redis: {kept} entries, {kept_bytes / 1e6:.1f} MB of values; "
                f"Redis used_memory {used / 1e6:.1f} MB",
                flush=True,
            )
            result = {
                "warmup_s": warm[1] - warm[0],
                "steady_s": steady[1] - steady[0],
                "job_s": longest_job(spans),
                "steady_rate_limited": float(steady[2]),
                "compared": float(compared),
                "wrong": float(wrong),
                "simulator_cpu_s": cpu_after[1] - at_start[-1][1],
                "simulator_interval_cpu_s": cpu_after[1] - cpu_before[1],
                "redis_cpu_s": redis_after - at_start[-1][2],
                "redis_interval_cpu_s": redis_after - redis_before,
                "stolen_s": stolen,
                "simulator_full_gcs": float(len(pauses)),
                "simulator_full_gc_s": sum(pauses),
                "replica_full_gcs": float(sum(len(p) for p in replica_pauses)),
                "replica_full_gc_s": sum(sum(p) for p in replica_pauses),
                "replica_full_gc_max_s": max((max(p) for p in replica_pauses if p), default=0.0),
                "load": load,
            }
            for n, (a, s, b) in enumerate(zip(cpu_before[0], at_start[-1][0], cpu_after[0], strict=True)):
                result[f"replica{n}_cpu_s"] = b - s
                result[f"replica{n}_interval_cpu_s"] = b - a
            if replicas > 1:
                result |= await kill_one(procs, sim, redis)
                for i, org in enumerate(org_names()):
                    result[f"spent_{i}"] = float(sim.stats.rate_limited(org))
                if result["kill_missing"]:
                    print_logs(tmp, f"{mode}{replicas}-")
            return result
    except Exception:
        print_logs(tmp, f"{mode}{replicas}-")
        raise
    finally:
        if lag_task is not None:
            lag_task.cancel()
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for n, proc in enumerate(procs):
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                # Reported, not raised: the run's figures stand, and nothing is left running.
                print(f"  {mode} {replicas}: r{n} did not exit within 30 s of SIGTERM; killed", flush=True)
                print_logs(tmp, f"{mode}{replicas}-{n}")
                proc.kill()
                await proc.wait()
        redis.stop()
        gc.callbacks[:] = [c for c in gc.callbacks if not isinstance(c, FullCollections)]
        if FREEZE_WORLD:
            gc.unfreeze()  # the next run's world replaces this one


async def reset_command_stats(redis: RedisProcess) -> None:
    """Zero Redis's per-command counters (`command_stats` reports what was spent since)."""
    client = Redis(host="127.0.0.1", port=redis.port)
    try:
        await client.config_resetstat()
    finally:
        await client.aclose()


async def redis_info(redis: RedisProcess, section: str) -> dict[str, Any]:
    """One ``INFO`` section of the benchmark's redis-server."""
    client = Redis(host="127.0.0.1", port=redis.port)
    try:
        return dict(await client.info(section))
    finally:
        await client.aclose()


async def network_bytes(redis: RedisProcess) -> tuple[int, int]:
    """(bytes Redis received, bytes it sent) since `reset_command_stats` (``INFO stats``)."""
    stats = await redis_info(redis, "stats")
    return int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])


async def command_stats(redis: RedisProcess, top: int = 8) -> str:
    """Redis's costliest commands since `reset_command_stats`: calls and CPU seconds of each."""
    stats = await redis_info(redis, "commandstats")
    rows = sorted(
        ((name.removeprefix("cmdstat_"), int(v["calls"]), int(v["usec"]) / 1e6) for name, v in stats.items()),
        key=lambda row: -row[2],
    )
    return ", ".join(f"{name} {calls} calls {seconds:.2f} s" for name, calls, seconds in rows[:top])


async def shared_etags(redis: RedisProcess) -> tuple[int, int, int]:
    """(shared ETag entries in Redis, bytes of their values, Redis ``used_memory``)."""
    client = Redis(host="127.0.0.1", port=redis.port)
    try:
        keys = [key async for key in client.scan_iter(match="bench:response:*", count=10_000)]
        size = 0
        for start in range(0, len(keys), 10_000):
            async with client.pipeline(transaction=False) as pipe:
                for key in keys[start : start + 10_000]:
                    pipe.strlen(key)
                size += sum(await pipe.execute())
        used = int((await client.info("memory"))["used_memory"])
        return len(keys), size, used
    finally:
        await client.aclose()


def print_logs(tmp: Path, prefix: str) -> None:
    """The last lines every replica logged (when a run fails)."""
    for log in sorted(tmp.glob(f"{prefix}*.log")):
        print(f"--- tail of {log.name}:", *log.read_text().splitlines()[-15:], sep="\n", flush=True)


async def kill_one(
    procs: list[asyncio.subprocess.Process], sim: Simulator, redis: RedisProcess
) -> dict[str, float]:
    """kill -9 replica r0; seconds until its units are leased by others and its repos collected again."""
    client = Redis(host="127.0.0.1", port=redis.port, decode_responses=True)
    try:
        keys = [str(k) for k in await client.keys("bench:unit:*")]
        units = [k.removeprefix("bench:unit:") for k in keys if not k.endswith(":epoch")]
        held = {u for u in units if await client.get(f"bench:unit:{u}") == "r0"}
        procs[0].kill()
        killed, killed_sim = time.time(), sim.clock.now()
        await procs[0].wait()
        deadline = time.monotonic() + KILL_TIMEOUT
        while True:
            holders = [await client.get(f"bench:unit:{u}") for u in held]
            if all(h not in (None, "r0") for h in holders) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        leased = time.time() - killed
        wanted: dict[tuple[str, str], str] = {}
        for unit in held:
            if not unit.startswith("repos:"):
                continue
            org, _, shard = unit.removeprefix("repos:org/").partition("#")
            index, count = (int(x) for x in shard.split("/"))
            wanted |= {
                (org, i.name): unit
                for i in sim.world.repos(org)
                if i.kind not in ("archived", "disabled") and RepoShard(index, count).holds(i.id, i.name)
            }
        # A repo is collected again once its last stream (issue comments) was answered after the kill;
        # its snapshot is rewritten only if a value changed, so snapshot times cannot tell.
        last = sim.stats.last_answered
        while True:
            missing = [
                w for w in wanted if last.get(("list_issue_comments", w[0], w[1].lower()), 0.0) < killed_sim
            ]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        if missing:
            units_missing: dict[str, int] = {}
            for repo in missing:
                units_missing[wanted[repo]] = units_missing.get(wanted[repo], 0) + 1
            holders_now = {u: await client.get(f"bench:unit:{u}") for u in units_missing}
            print(f"  not collected again, by unit (holder now): {units_missing} {holders_now}", flush=True)
            orgs = sorted({org for org, _ in missing})
            spent = {org: sim.stats.rate_limited(org) for org in orgs}
            print(f"  rate-limited requests spent by these orgs' installations so far: {spent}", flush=True)
        return {
            "kill_units": float(len(held)),
            "kill_leased_s": leased,
            "kill_collected_s": time.time() - killed,
            "kill_missing": float(len(missing)),
        }
    finally:
        await client.aclose()


def stolen_seconds() -> float:
    """CPU seconds the hypervisor has run something else while this machine wanted its cores (all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        key, public = activity_world.app_key(tmp)
        print(
            f"{ORGS} orgs x {REPOS} repos, {SHARDS} shards per org, {LATENCY * 1000:.0f} ms latency per request, "
            f"{HISTORY_DAYS} days of history",
            flush=True,
        )
        runs = [(r.rstrip("0123456789"), int(r[len(r.rstrip("0123456789")) :])) for r in RUNS]
        results: dict[tuple[str, int], dict[str, float]] = {}
        for m, n in runs:
            results[m, n] = r = asyncio.run(run(n, m, key, tmp, public))
            replicas = ", ".join(f"{r[f'replica{i}_cpu_s']:.2f}" for i in range(n))
            interval = ", ".join(f"{r[f'replica{i}_interval_cpu_s']:.2f}" for i in range(n))
            print(
                f"{m}, {n} replica(s): warm-up {r['warmup_s']:.1f} s, steady cycle {r['steady_s']:.1f} s "
                f"(longest job {r['job_s']:.1f} s) "
                f"(load average {r['load']:.1f}), {r['steady_rate_limited']:.0f} rate-limited requests, "
                f"{r['wrong']:.0f} of {r['compared']:.0f} activity values differ from the truth; "
                f"CPU seconds in the steady cycle: exporter(s) {replicas}, simulator {r['simulator_cpu_s']:.2f}, "
                f"redis-server {r['redis_cpu_s']:.2f}; "
                f"from {STEADY_LEAD:.0f} s before the steady cycle to its end: exporter(s) {interval}, "
                f"simulator {r['simulator_interval_cpu_s']:.2f}, redis-server {r['redis_interval_cpu_s']:.2f} "
                f"(CPU time the hypervisor took from this machine meanwhile: {r['stolen_s']:.2f} s); "
                f"simulator full collections in the steady cycle: {r['simulator_full_gcs']:.0f} "
                f"({r['simulator_full_gc_s']:.2f} s), exporters {r['replica_full_gcs']:.0f} "
                f"({r['replica_full_gc_s']:.2f} s, longest {r['replica_full_gc_max_s']:.2f} s)",
                flush=True,
            )
    if ("sharded", 3) not in results:
        return
    three = results["sharded", 3]
    for baseline in (("single", 1), ("sharded", 1)):
        if baseline in results:
            ratio = three["steady_s"] / results[baseline]["steady_s"]
            jobs = three["job_s"] / results[baseline]["job_s"]
            print(
                f"steady cycle, 3 sharded replicas / {baseline[0]} 1 replica: {ratio:.0%} "
                f"(longest job: {jobs:.0%})"
            )
    spent = [three[f"spent_{i}"] for i in range(ORGS) if f"spent_{i}" in three]
    if spent:
        print(
            f"rate-limited requests per installation over the sharded 3 run: {min(spent):.0f}-{max(spent):.0f}"
        )
    print(
        f"kill -9 of one of 3 replicas ({three['kill_units']:.0f} units): leased again after "
        f"{three['kill_leased_s']:.1f} s, its repositories collected again after {three['kill_collected_s']:.1f} s "
        f"({three['kill_missing']:.0f} not collected again) "
        f"(lease {LEASE:.0f} s)"
    )
