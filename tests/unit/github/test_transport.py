"""The transports under the client: aiohttp over a real socket, and the in-memory MockTransport."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from yarl import URL

from github_stats_exporter.github.errors import TransportError
from github_stats_exporter.github.transport import AiohttpTransport, Answer, MockTransport, Request

from .conftest import FakeGitHub, answer


async def test_aiohttp_sends_one_request_and_reads_the_whole_answer(served_github: FakeGitHub) -> None:
    """Method, headers and body go out as given; status, headers and body come back; no redirect is followed."""
    served_github.on(
        "/app/x", FakeGitHub.reply(302, headers={"Location": "/elsewhere", "ETag": '"v1"'}), method="POST"
    )
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        request = Request("POST", URL(served_github.url("/app/x?a=1")), {"X-Test": "yes"}, 5.0, b"{}")
        got = await transport.send(request)
    assert (got.status, got.headers["Location"], got.headers["etag"]) == (302, "/elsewhere", '"v1"')
    (seen,) = served_github.seen
    assert (seen.method, seen.path, seen.query_string, seen.headers["X-Test"]) == (
        "POST",
        "/app/x",
        "a=1",
        "yes",
    )
    assert served_github.requests_to("/elsewhere") == []


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        pytest.param(FakeGitHub.reset_connection(), "connection", id="reset"),
        pytest.param(FakeGitHub.reply(200, [], delay=0.2), "timeout", id="slow"),
    ],
)
async def test_aiohttp_failures_become_transport_errors(
    served_github: FakeGitHub, handler, reason: str
) -> None:
    """A dropped connection or a timeout surfaces as our TransportError with its reason, aiohttp's chained."""
    served_github.on("/x", handler)
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        with pytest.raises(TransportError) as caught:
            await transport.send(Request("GET", URL(served_github.url("/x")), {}, 0.05))
    assert caught.value.reason == reason
    assert caught.value.__cause__ is not None


async def test_the_mock_transport_honours_the_request_timeout() -> None:
    """A handler slower than the request timeout is a timeout TransportError, without any socket."""

    async def slow(_: Request) -> Answer:
        await asyncio.sleep(0.2)
        return answer(200, [])

    with pytest.raises(TransportError) as caught:
        await MockTransport(slow).send(Request("GET", URL("http://api.github.test/x"), {}, 0.02))
    assert caught.value.reason == "timeout"


async def test_the_mock_transport_returns_the_handlers_answer() -> None:
    """Whatever the handler returns is the answer, request included in its view."""

    async def echo(request: Request) -> Answer:
        return answer(201, {"path": request.url.path, "method": request.method})

    got = await MockTransport(echo).send(Request("PUT", URL("http://api.github.test/p"), {}, 1.0))
    assert (got.status, got.body) == (201, b'{"path": "/p", "method": "PUT"}')
