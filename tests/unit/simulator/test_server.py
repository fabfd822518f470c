"""Tests for the standalone simulator (keys on disk, the describe text) and the simulated clock."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import stat
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import jwt

import github_stats_exporter.simulator as package
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator, run_standalone
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec, demo_spec

START = 1_780_000_000.0


def private_key_from(text: str, key_dir: Path) -> str:
    """Checks the announced key files (one per App, mode 0600) and returns the first private key."""
    key_path = Path(re.findall(r"private_key_path: (\S+)", text)[0])
    assert key_path.parent == key_dir
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert len(list(key_dir.glob("*.pem"))) == 2
    return key_path.read_text()


async def test_run_standalone_writes_keys_and_describes_how_to_connect(tmp_path: Path) -> None:
    """The standalone simulator writes one private key per App (mode 0600), announces its URL, and accepts those keys."""
    announced: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(
        run_standalone(demo_spec(START), "127.0.0.1", 0, 0, tmp_path, announce=announced.put_nowait)
    )
    try:
        text = await asyncio.wait_for(announced.get(), timeout=10)
        match = re.search(r"api_base_url: (\S+)", text)
        assert match is not None
        api_url = match.group(1)
        assert "installation_id: 2001" in text
        assert "acme-enterprise" in text
        private = await asyncio.to_thread(private_key_from, text, tmp_path)
        now = int(SimClock.starting_at(START).now())
        token = jwt.encode({"iat": now - 60, "exp": now + 500, "iss": "1001"}, private, "RS256")
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{api_url}/app/installations/2002/access_tokens",
                headers={"Authorization": f"Bearer {token}"},
            ) as resp,
        ):
            assert resp.status == 201
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_frozen_clock_moves_only_when_told() -> None:
    """A frozen clock stays put until advance() or set()."""
    clock = SimClock(frozen_at=100.0)
    assert clock.now() == 100.0
    assert clock.frozen
    clock.advance(50)
    assert clock.now() == 150.0
    clock.set(10.0)
    assert clock.now() == 10.0


def test_following_clock_runs_with_the_wall_clock_plus_offset() -> None:
    """A following clock reads wall time plus its offset; advance and set shift the offset."""
    wall = [1000.0]
    clock = SimClock.starting_at(START, wall=lambda: wall[0])
    assert clock.now() == START
    wall[0] += 5
    assert clock.now() == START + 5
    clock.advance(3600)
    assert clock.now() == START + 3605
    clock.set(START)
    assert clock.now() == START


def test_simulator_imports_no_exporter_code() -> None:
    """No simulator module imports the exporter's packages, so the two cannot share a bug."""
    root = Path(package.__file__).parent
    offenders = []
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n.startswith("github_stats_exporter")
                and not n.startswith("github_stats_exporter.simulator")
            ]
    assert offenders == []


async def test_prewarmed_simulator_stamps_simulated_date(tmp_path: Path) -> None:
    """prewarm builds every repo before serving, and responses carry the simulated time in Date."""
    spec = WorldSpec(orgs=(OrgSpec("solo", repos=6, users=3),), start=START, commits_per_day=1, prs_per_day=1)
    async with Simulator(spec, clock=SimClock(frozen_at=START), prewarm=True) as sim:
        assert sim.world.built_repos == 6
        async with aiohttp.ClientSession() as http, http.get(f"{sim.api_url}/rate_limit") as resp:
            assert resp.status == 401
            assert parsedate_to_datetime(resp.headers["Date"]).timestamp() == int(START)
