"""Shared fixtures for the simulator tests: a small world, a frozen clock, a running simulator and App keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec

START = 1_780_000_000.0  # Thursday 2026-05-28 20:26:40 UTC
TOKEN = "ghp_simtest"


def small_spec(seed: int = 7) -> WorldSpec:
    return WorldSpec(
        seed=seed,
        orgs=(
            OrgSpec("acme", repos=8, users=8, app_id=11, installation_id=21),
            OrgSpec("globex", repos=6, users=5, app_id=12, installation_id=22),
        ),
        enterprise=EnterpriseSpec("ent", app_id=13, installation_id=23, orgs=("acme", "globex")),
        start=START,
        prs_per_day=3.0,
    )


@pytest.fixture(scope="session")
def app_keys() -> tuple[str, str]:
    """(private PEM, public PEM) of App 11, generated once per session because RSA generation is slow."""
    return generate_key_pair()


@pytest.fixture(scope="session")
def other_keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture
def clock() -> SimClock:
    return SimClock(frozen_at=START)


@pytest.fixture
async def sim(clock: SimClock) -> AsyncIterator[Simulator]:
    async with Simulator(small_spec(), clock=clock) as simulator:
        simulator.add_token(TOKEN, ["acme"], enterprise="ent")
        yield simulator


class Api:
    """A tiny client for the simulator under test: GET with a token, and walking ``Link`` pagination."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None = TOKEN) -> None:
        self.http = http
        self.base = base
        self.token = token

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    async def get(
        self, path: str, token: str | None = "", **headers: str
    ) -> tuple[int, Any, CIMultiDict[str]]:
        """GET a path or URL; return (status, parsed JSON or None, headers)."""
        token = self.token if token == "" else token
        if token is not None:
            headers["Authorization"] = f"token {token}"
        async with self.http.get(self.url(path), headers=headers) as resp:
            raw = await resp.read()
            body = (
                await resp.json(content_type=None)
                if raw and resp.content_type == "application/json"
                else None
            )
            return resp.status, body, CIMultiDict(resp.headers)

    async def walk(self, path: str) -> tuple[list[Any], int]:
        """Follow ``Link: rel="next"`` from ``path``; return every item and the number of pages fetched."""
        items: list[Any] = []
        pages = 0
        next_url: str | None = self.url(path)
        while next_url is not None:
            status, body, headers = await self.get(next_url)
            assert status == 200, (status, body)
            pages += 1
            items.extend(body["repositories"] if isinstance(body, dict) else body)
            next_url = None
            for part in headers.get("Link", "").split(","):
                if 'rel="next"' in part:
                    next_url = part.split(";")[0].strip().strip("<>")
        return items, pages


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def api(sim: Simulator, session: aiohttp.ClientSession) -> Api:
    return Api(session, sim.api_url)


@pytest.fixture
def api_for(session: aiohttp.ClientSession) -> Callable[[Simulator], Api]:
    """An :class:`Api` for a simulator the test started itself."""
    return lambda simulator: Api(session, simulator.api_url)


@pytest.fixture
def make_spec() -> Callable[..., WorldSpec]:
    return small_spec
