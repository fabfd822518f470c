"""Replicas on one real Redis serve one page, report the cluster's health, and take over quickly.

* A leader and a follower (static roles) collecting from the simulator serve byte-identical pages once
  the documented per-process families (`metrics.PER_PROCESS`) are removed, in both formats: business
  series (activity, LOC, Copilot org/users/enterprise), collector state and counters alike.
* The follower's `/healthz` is not degraded by collection it does not run: it reports the cluster's
  collection health as the leader published it.
* With Redis leader election, a fresh cluster collects Copilot as soon as a leader exists, and after
  `kill -9` of the leader the survivor finishes a full cycle within the lease duration plus one
  cycle, although its schedules (10 min, 6 h) would not tick for a long time.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.support.redis_server import RedisProcess, free_port

from github_stats_exporter.metrics import FAMILIES, PER_PROCESS
from github_stats_exporter.simulator.server import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
LEASE_SECONDS = 4.0


def without_per_process(page: bytes) -> bytes:
    """The page minus the families allowed to differ by replica (their metadata and samples)."""
    kept = []
    for line in page.split(b"\n"):
        text = line.decode()
        if text == "# EOF":
            kept.append(line)
            continue
        name = text.split(" ")[2] if text.startswith("# ") else text.split("{")[0].split(" ")[0]
        family = name.removesuffix("_total")
        if family in PER_PROCESS or name in PER_PROCESS:
            continue
        kept.append(line)
    return b"\n".join(kept)


async def fetch(session: aiohttp.ClientSession, port: int, path: str = "/metrics", accept: str = "") -> bytes:
    headers = {"Accept": accept} if accept else {}
    async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as response:
        return await response.read()


def gauge(page: bytes, name: str, labels: str = "") -> float | None:
    prefix = f"{name}{{{labels}" if labels else name
    for line in page.decode().splitlines():
        if line.startswith(prefix) and (labels or line[len(name)] in " {"):
            return float(line.rsplit(" ", 1)[1])
    return None


COMPLETE = (
    "gh_activity_commits_24h",
    "gh_activity_loc_added_weekly",
    "gh_copilot_usage_daily_active_users",
    "gh_exporter_activity_repos",
    "gh_exporter_leader_cycle_last_run_unixtime",
    "gh_exporter_copilot_last_success_unixtime",
    "gh_exporter_github_rate_limit_remaining",
    "gh_exporter_collection_health",
)


async def test_leader_and_follower_pages_are_byte_identical_but_for_per_process_families(
    redis_server: RedisProcess,
    key_prefix: str,
    tmp_path: Path,
    sim: tuple[Simulator, Path],
    exporters,
    sim_config,
) -> None:
    """Every family but the four per-process ones is served identically by both replicas."""
    simulator, key = sim
    ports = [free_port(), free_port()]
    for n, role in enumerate(("leader", "follower")):
        config = sim_config(tmp_path / f"c{n}.yaml", ports[n], redis_server, key_prefix, simulator, key)
        await exporters.start(config, tmp_path / f"{role}.log", {"GITHUB_STATS_INITIAL_ROLE": role})
    compared: list[tuple[bytes, bytes]] = []
    health: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(compared) < 2:
                await asyncio.sleep(0.5)
                try:
                    first = await fetch(session, ports[0], accept=OPENMETRICS)
                except aiohttp.ClientError:
                    continue
                if not all(f"\n{family}".encode() in first for family in COMPLETE):
                    continue
                # Quiet for longer than two refreshes: the follower has caught up with the store.
                await asyncio.sleep(2.5)
                for accept in (OPENMETRICS, ""):
                    before = await fetch(session, ports[0], accept=accept)
                    other = await fetch(session, ports[1], accept=accept)
                    after = await fetch(session, ports[0], accept=accept)
                    # Counters switch epochs at wall-clock moments; retry a window that straddled one.
                    if without_per_process(before) == without_per_process(after):
                        compared.append((without_per_process(before), without_per_process(other)))
            health = json.loads(await fetch(session, ports[1], "/healthz"))
            follower_page = await fetch(session, ports[1])
    finally:
        codes = await exporters.stop(30.0)
    assert len(compared) >= 2, (tmp_path / "leader.log").read_text()[-2000:]
    # The leader collected activity, LOC and every Copilot scope, so the follower serves them all too.
    assert b'scope="enterprise"' in compared[0][1]
    assert b'scope="users"' in compared[0][1]
    for leader_page, other_page in compared:
        differ = set(leader_page.split(b"\n")) ^ set(other_page.split(b"\n"))
        assert leader_page == other_page, sorted(differ)[:20]
        for family in COMPLETE:
            assert f"\n{family}".encode() in leader_page
    # Only the leader collected, yet the follower reports the cluster's collection as healthy.
    assert health["role"] == "follower"
    assert health["components"]["activity:acme"] is True
    assert health["components"]["github_api_copilot_enterprise_reports"] is True
    assert health["details"]["activity:acme"]["source"] == "cluster"
    assert health["mode"] == "healthy", health
    assert gauge(follower_page, "gh_exporter_collection_health", 'component="loc:acme"') == 1
    assert codes == [0, 0]
    assert set(PER_PROCESS) <= set(FAMILIES)


def copilot_success(page: bytes) -> float:
    return gauge(page, "gh_exporter_copilot_last_success_unixtime", 'org="ent"') or 0.0


def copilot_staleness(page: bytes) -> float:
    """The enterprise report's staleness, which every Copilot tick sets from its own clock.

    A tick that finds the report collected recently (the schedule lives in the store) downloads
    nothing, so its last-success time stays; its staleness reading still moves with the tick time.
    """
    staleness = gauge(page, "gh_exporter_copilot_report_staleness_seconds", 'org="ent"')
    return 0.0 if staleness is None else staleness


async def test_a_new_leader_collects_at_once_after_the_old_one_is_killed(
    redis_server: RedisProcess,
    key_prefix: str,
    tmp_path: Path,
    sim: tuple[Simulator, Path],
    exporters,
    sim_config,
) -> None:
    """Fresh start and kill -9 takeover both finish a full cycle within lease duration plus one cycle."""
    simulator, key = sim
    election = {
        "enabled": True,
        "backend": "redis",
        "lease_duration": f"{LEASE_SECONDS:.0f}s",
        "renew_deadline": "3s",
        "retry_period": "200ms",
    }
    ports = [free_port(), free_port()]
    procs = []
    started = time.time()
    for n in range(2):
        config = sim_config(
            tmp_path / f"c{n}.yaml",
            ports[n],
            redis_server,
            key_prefix,
            simulator,
            key,
            leader_election=election,
        )
        procs.append(await exporters.start(config, tmp_path / f"e{n}.log", {}))
    try:
        async with aiohttp.ClientSession() as session:

            async def pages() -> list[bytes]:
                found = []
                for port in ports:
                    try:
                        found.append(await fetch(session, port))
                    except aiohttp.ClientError:
                        found.append(b"")
                return found

            # A fresh cluster: Copilot must not wait for a schedule that began before anyone led.
            first_copilot = None
            while time.time() - started < 60 and first_copilot is None:
                await asyncio.sleep(0.2)
                if any(copilot_success(page) > started for page in await pages()):
                    first_copilot = time.time() - started
            assert first_copilot is not None, (tmp_path / "e0.log").read_text()[-2000:]
            current = await pages()
            leader = next(n for n, page in enumerate(current) if gauge(page, "gh_exporter_leader") == 1)
            cycle_seconds = gauge(current[leader], "gh_exporter_scrape_duration_seconds", 'org="acme"')
            assert cycle_seconds is not None
            survivor = 1 - leader
            # Staleness = tick time - end of the report's newest day; that day's end stays put.
            day_end = copilot_success(current[leader]) - copilot_staleness(current[leader])

            procs[leader].kill()  # kill -9: no lease release, the survivor waits for the lease to expire
            await procs[leader].wait()
            killed_at = time.time()
            takeover = None
            while time.time() - killed_at < 60 and takeover is None:
                await asyncio.sleep(0.2)
                page = await fetch(session, ports[survivor])
                cycle_done = (gauge(page, "gh_exporter_leader_cycle_last_run_unixtime") or 0) > killed_at
                if cycle_done and day_end + copilot_staleness(page) > killed_at:
                    takeover = time.time() - killed_at
    finally:
        await exporters.stop(30.0)
    assert takeover is not None, (
        "\n".join(
            line
            for line in page.decode().splitlines()
            if "last_run" in line or "last_success" in line or "gh_exporter_leader " in line
        )
        + f"\nkilled at {killed_at}"
    )
    # Lease expiry + one cycle, with a margin for the page refresh (1 s) and scheduling on 2 cores.
    budget = LEASE_SECONDS + cycle_seconds + 3.0
    print(
        f"first Copilot after {first_copilot:.1f}s; takeover cycle done {takeover:.1f}s after kill -9 "
        f"(lease {LEASE_SECONDS}s, cycle {cycle_seconds:.1f}s, budget {budget:.1f}s)"
    )
    assert takeover <= budget
    # Quiet period on a fresh Redis (one lease) + acquisition + one cycle.
    assert first_copilot <= 2 * LEASE_SECONDS + cycle_seconds + 5.0
