"""The seam under `GitHubClient` and `AppAuth`: send one HTTP request, get status, headers and body bytes.

`AiohttpTransport` is the real one (one request, no redirects followed, the whole body read) and the
only place in the API path that touches aiohttp: its exceptions become `TransportError` here, with the
original chained. `MockTransport` answers from a Python function, so client tests need no HTTP server.
A transport never retries, never follows redirects, never decides where credentials may go and never
decodes a body: all of that stays in the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from github_stats_exporter.github.errors import TransportError


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the client means it; ``timeout`` bounds the whole exchange (connect to last byte)."""

    method: str
    url: URL
    headers: Mapping[str, str]
    timeout: float
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: status, headers (case-insensitive) and the complete body."""

    status: int
    headers: CIMultiDictProxy[str] = field(default_factory=lambda: CIMultiDictProxy(CIMultiDict()))
    body: bytes = b""


class Transport(Protocol):
    """Sends one request and returns the answer, or raises `TransportError` when none arrived."""

    async def send(self, request: Request) -> Answer: ...


class AiohttpTransport:
    """`Transport` over an aiohttp session the caller owns (and closes)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, request: Request) -> Answer:
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=aiohttp.ClientTimeout(total=request.timeout),
                allow_redirects=False,
            ) as resp:
                return Answer(resp.status, resp.headers, await resp.read())
        except TimeoutError as exc:
            msg = "timed out"
            raise TransportError(msg, reason="timeout") from exc
        except aiohttp.ClientError as exc:
            msg = f"connection failed ({type(exc).__name__})"
            raise TransportError(msg, reason="connection") from exc


Handler = Callable[[Request], Awaitable[Answer]]


class MockTransport:
    """`Transport` that answers every request with ``handler(request)``; for tests and the simulator's peers.

    The request ``timeout`` is honoured (a slow handler raises a timeout `TransportError`), so timeout
    handling can be tested without a socket.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, request: Request) -> Answer:
        try:
            async with asyncio.timeout(request.timeout):
                return await self._handler(request)
        except TimeoutError as exc:
            msg = "timed out"
            raise TransportError(msg, reason="timeout") from exc
