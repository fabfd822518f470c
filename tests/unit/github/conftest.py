"""Fixtures for the GitHub layer: a scriptable fake GitHub, a fake clock, a sleep recorder.

The fake is deliberately tiny (not the project simulator): each test scripts the exact answers it
needs and then inspects the requests it saw. By default it is an in-memory `Transport` (no socket):
clients get it as ``transport=``. ``served_github`` and ``foreign_github`` run the same fake behind a
real HTTP server on 127.0.0.1:0, for the aiohttp transport itself and for the report downloader.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from github_stats_exporter.github.auth import Auth, TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.errors import TransportError
from github_stats_exporter.github.etag import SharedResponses
from github_stats_exporter.github.transport import Answer, MockTransport, Request
from github_stats_exporter.selfmetrics import SelfMetrics

Handler = Callable[[Request], Awaitable[Answer]]
START = 1_700_000_000.0
MEMORY_BASE = "http://api.github.test"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query_string: str
    raw_path: str
    headers: dict[str, str]


class ConnectionReset(Exception):
    """Raised by a scripted handler: drop the connection without an answer."""


def answer(
    status: int = 200, json: Any = None, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Answer:
    """An `Answer` as GitHub would send it: a JSON body unless raw ``body`` bytes are given."""
    merged: CIMultiDict[str] = CIMultiDict(headers or {})
    if body is None and json is not None:
        body = jsonlib.dumps(json).encode()
        merged.setdefault("Content-Type", "application/json; charset=utf-8")
    return Answer(status, CIMultiDictProxy(merged), body or b"")


class FakeGitHub:
    """Scripted GitHub: ``on(path, *handlers)`` answers in order, repeating the last one.

    In memory unless `start` put it behind a real server; either way ``seen`` lists every request.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Handler]] = {}
        self.seen: list[Seen] = []
        self.server: TestServer | None = None
        self._memory = MockTransport(self._answer)

    def on(self, path: str, *handlers: Handler, method: str = "GET") -> None:
        self.routes[(method, path)] = list(handlers)

    @staticmethod
    def reply(
        status: int = 200,
        json: Any = None,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
    ) -> Handler:
        async def handler(_: Request) -> Answer:
            if delay:
                await asyncio.sleep(delay)
            return answer(status, json, headers=headers, body=body)

        return handler

    @staticmethod
    def reset_connection() -> Handler:
        async def handler(_: Request) -> Answer:
            raise ConnectionReset

        return handler

    def url(self, path: str = "") -> str:
        if self.server is None:
            return MEMORY_BASE + path
        return str(self.server.make_url(path))

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    async def send(self, request: Request) -> Answer:
        """The in-memory `Transport`: a reset becomes a connection `TransportError`, as aiohttp's would."""
        try:
            return await self._memory.send(request)
        except ConnectionReset as exc:
            msg = "connection reset by the fake"
            raise TransportError(msg, reason="connection") from exc

    async def _answer(self, request: Request) -> Answer:
        url = request.url
        self.seen.append(
            Seen(request.method, url.path, url.query_string, url.raw_path_qs, dict(request.headers))
        )
        handlers = self.routes.get((request.method, url.path))
        if not handlers:
            return answer(418, {"message": "not scripted"})
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        return await handler(request)

    async def _dispatch(self, served: web.Request) -> web.StreamResponse:
        body = await served.read()
        request = Request(served.method, URL(str(served.url)), dict(served.headers), 60.0, body)
        try:
            scripted = await self._answer(request)
        except ConnectionReset:
            assert served.transport is not None
            served.transport.abort()
            return web.Response()
        headers = CIMultiDict(scripted.headers)
        return web.Response(status=scripted.status, body=scripted.body, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


class FakeClock:
    """A settable Unix clock."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SleepRecorder:
    """Stands in for asyncio.sleep: records each delay and advances the fake clock, no real waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        wake_at = self.clock.now + seconds
        await asyncio.sleep(0)  # let concurrent sleepers start before time moves, as in real life
        self.clock.now = max(self.clock.now, wake_at)


@dataclass(frozen=True)
class AppKey:
    private_pem: str
    public_key: rsa.RSAPublicKey


@pytest.fixture(scope="session")
def app_key() -> AppKey:
    """One RSA key per session (2048-bit generation is the slow part)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return AppKey(pem, key.public_key())


def make_token_endpoint(
    key: AppKey, clock: FakeClock, *, app_id: str = "123", lifetime: float = 3600.0, delay: float = 0.0
) -> Handler:
    """The App token exchange: verifies the JWT like GitHub does, then issues ghs_1, ghs_2, ..."""
    issued = 0

    async def handler(request: Request) -> Answer:
        nonlocal issued
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return answer(401, {"message": "A JSON web token could not be decoded"})
        if scheme != "Bearer" or claims["iss"] != app_id or claims["exp"] - claims["iat"] > 600:
            return answer(401, {"message": "bad JWT"})
        if delay:
            await asyncio.sleep(delay)
        issued += 1
        expires = datetime.fromtimestamp(clock.now + lifetime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return answer(201, {"token": f"ghs_{issued}", "expires_at": expires})

    return handler


@pytest.fixture
def token_endpoint() -> Callable[..., Handler]:
    """Factory for the fake token-exchange handler: ``token_endpoint(app_key, clock, delay=...)``."""
    return make_token_endpoint


@pytest.fixture
def fake_github() -> FakeGitHub:
    """The in-memory fake: pass it as ``transport=`` (`make_client` does)."""
    return FakeGitHub()


@pytest.fixture
async def served_github() -> AsyncIterator[FakeGitHub]:
    """The same fake behind a real HTTP server, for tests of the aiohttp transport itself."""
    fake = FakeGitHub()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def foreign_github() -> AsyncIterator[FakeGitHub]:
    """A second host (another port, so another origin) that must never see our credentials."""
    fake = FakeGitHub()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeper(clock: FakeClock) -> SleepRecorder:
    return SleepRecorder(clock)


@pytest.fixture
def self_metrics() -> SelfMetrics:
    return SelfMetrics()


ClientFactory = Callable[..., Awaitable[GitHubClient]]


@pytest.fixture
async def make_client(
    fake_github: FakeGitHub, clock: FakeClock, sleeper: SleepRecorder, self_metrics: SelfMetrics
) -> AsyncIterator[ClientFactory]:
    """Open clients against the fake; options as keyword arguments, ``prefix`` for a GHES-style base path."""
    async with AsyncExitStack() as stack:

        async def factory(
            *,
            prefix: str = "",
            auth: Auth | None = None,
            sleep: Callable[[float], Awaitable[object]] | None = None,
            rng: random.Random | None = None,
            shared: SharedResponses | None = None,
            **options: Any,
        ) -> GitHubClient:
            client = GitHubClient(
                ClientOptions(base_url=fake_github.url(prefix), **options),
                auth or TokenAuth("ghp_testtoken"),
                org="acme",
                installation_id="42",
                metrics=self_metrics,
                sleep=sleep or sleeper,
                clock=clock,
                rng=rng or random.Random(7),
                transport=fake_github,
                shared=shared,
            )
            return await stack.enter_async_context(client)

        yield factory
