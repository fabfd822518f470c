"""Basic auth: header parsing, bcrypt checks, the success cache, and 401s from the real HTTP server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import bcrypt
import pytest

from github_stats_exporter.basic_auth import CHALLENGE, PROBE_PATHS, AccessGate, BasicAuth, parse_basic
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import HTTP_REQUESTS
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import HttpServer, build_app
from github_stats_exporter.store.memory import MemorySnapshotStore

HASH = bcrypt.hashpw(b"right", bcrypt.gensalt(4))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class CountingCheck:
    """A bcrypt check that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.calls += 1
        return bcrypt.checkpw(password, hashed)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("Bearer abc", None, id="other-scheme"),
        pytest.param("Basic !!!", None, id="not-base64"),
        pytest.param("Basic " + base64.b64encode(b"nocolon").decode(), None, id="no-colon"),
        pytest.param(basic("u", "p:q"), (b"u", b"p:q"), id="colon-in-password"),
        pytest.param("basic " + base64.b64encode(b"u:").decode(), (b"u", b""), id="lowercase-empty-password"),
    ],
)
def test_parse_basic(header: str | None, expected: tuple[bytes, bytes] | None):
    """Only a well-formed Basic header yields credentials; the password may contain colons."""
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    ("header", "admitted"),
    [
        pytest.param(basic("prometheus", "right"), True, id="right"),
        pytest.param(basic("prometheus", "wrong"), False, id="wrong-password"),
        pytest.param(basic("nobody", "right"), False, id="unknown-user"),
        pytest.param(basic("prometheus", "x" * 100), False, id="longer-than-bcrypt-allows"),
        pytest.param(None, False, id="no-header"),
    ],
)
async def test_basic_auth_admits_only_the_right_password(header: str | None, admitted: bool):
    """A known user with the right password is admitted; anything else is not."""
    assert await BasicAuth({"prometheus": HASH}).admits(header) is admitted


async def test_without_users_everyone_is_admitted():
    """An empty basic_auth_users turns authentication off, as in the toolkit."""
    auth = BasicAuth({})
    assert not auth.enabled
    assert await auth.admits(None)


async def test_successes_are_cached_and_failures_are_not():
    """A repeated right password skips bcrypt; every wrong password pays for a full check."""
    check = CountingCheck()
    auth = BasicAuth({"prometheus": HASH}, check=check)
    for _ in range(3):
        assert await auth.admits(basic("prometheus", "right"))
    assert check.calls == 1
    for _ in range(3):
        assert not await auth.admits(basic("prometheus", "wrong"))
    assert check.calls == 4


async def test_unknown_users_cost_a_bcrypt_check_too():
    """An unknown user is checked against a dummy hash, so timing does not reveal valid usernames."""
    check = CountingCheck()
    assert not await BasicAuth({"prometheus": HASH}, check=check).admits(basic("nobody", "x"))
    assert check.calls == 1


async def test_the_success_cache_is_bounded():
    """Beyond cache_size the oldest success is forgotten and checked again with bcrypt."""
    check = CountingCheck()
    users = dict.fromkeys(("a", "b", "c"), HASH)
    auth = BasicAuth(users, check=check, cache_size=2)
    for name in ("a", "b", "c", "a"):
        assert await auth.admits(basic(name, "right"))
    assert check.calls == 4


async def serve(gate: AccessGate) -> tuple[HttpServer, int, SelfMetrics, ExpositionCache]:
    metrics = SelfMetrics()
    cache = ExpositionCache(MemorySnapshotStore(), metrics)
    health = Health(lambda: cache.ready, metrics)
    server = HttpServer(build_app(cache, health, metrics, gate), "127.0.0.1", 0)
    return server, await server.start(), metrics, cache


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def test_server_answers_401_with_a_basic_challenge(session: aiohttp.ClientSession):
    """Without credentials every path is 401 with WWW-Authenticate: Basic, counted by path and code."""
    server, port, metrics, cache = await serve(AccessGate(BasicAuth({"prometheus": HASH})))
    try:
        await cache.refresh()
        for path in ("/metrics", "/livez", "/readyz", "/healthz", "/"):
            async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                assert resp.status == 401, path
                assert resp.headers["WWW-Authenticate"] == CHALLENGE
        async with session.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": basic("prometheus", "right")}
        ) as resp:
            assert resp.status == 200
            assert b"gh_exporter_http_requests_total" in await resp.read()
        assert metrics.value(HTTP_REQUESTS, {"path": "/metrics", "code": "401"}) == 1
    finally:
        await server.stop()


async def test_probes_can_be_left_open(session: aiohttp.ClientSession):
    """With the probe paths open, /livez and /readyz answer without credentials; /healthz does not."""
    server, port, _, cache = await serve(AccessGate(BasicAuth({"prometheus": HASH}), open_paths=PROBE_PATHS))
    try:
        await cache.refresh()
        async with session.get(f"http://127.0.0.1:{port}/livez") as resp:
            assert resp.status == 200
        async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200
        for path in ("/healthz", "/metrics"):
            async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                assert resp.status == 401, path
    finally:
        await server.stop()


async def test_a_username_that_is_not_utf8_is_refused():
    """Credentials whose username is not UTF-8 are checked (against the dummy hash) and refused."""
    header = "Basic " + base64.b64encode(b"\xff:right").decode()
    assert not await BasicAuth({"prometheus": HASH}).admits(header)
