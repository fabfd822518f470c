"""HTTP server: endpoints over a real listener on 127.0.0.1:0, request counting, hostile clients."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

import github_stats_exporter
from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import ACTIVITY_COMMITS, HTTP_REQUESTS
from github_stats_exporter.model import Role, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import (
    HttpServer,
    build_app,
    landing_page,
    parse_listen_addr,
    stream_chunks,
)
from github_stats_exporter.store.memory import MemorySnapshotStore

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@dataclass
class Served:
    url: str
    port: int
    cache: ExpositionCache
    health: Health
    self_metrics: SelfMetrics
    session: aiohttp.ClientSession

    def requests(self, path: str, code: int) -> float:
        return self.self_metrics.value(HTTP_REQUESTS, {"path": path, "code": str(code)})


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    store = MemorySnapshotStore()
    labels = {"org": "acme", "repo": "widgets", "user": "alice"}
    await store.put(
        Snapshot(SnapshotKey("activity", ("acme", "widgets")), (ACTIVITY_COMMITS.sample(3, labels),), 1)
    )
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics)
    health = Health(lambda: cache.ready, self_metrics)
    health.register("redis", required_for_ready=True)
    server = HttpServer(build_app(cache, health, self_metrics), "127.0.0.1", 0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            yield Served(f"http://127.0.0.1:{port}", port, cache, health, self_metrics, session)
    finally:
        await server.stop()


async def test_metrics_is_503_until_the_cache_has_rendered(served: Served) -> None:
    """Before the first refresh /metrics answers 503 with a short text, never an empty page."""
    async with served.session.get(served.url + "/metrics") as resp:
        assert resp.status == 503
        assert "not rendered" in await resp.text()


async def test_metrics_serves_gzipped_openmetrics_to_prometheus(served: Served) -> None:
    """Prometheus' Accept and Accept-Encoding get gzip-compressed OpenMetrics with the right headers."""
    await served.cache.refresh()
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    async with served.session.get(served.url + "/metrics", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == Format.OPENMETRICS.content_type
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Vary"] == "Accept, Accept-Encoding"
        body = gzip.decompress(await resp.read())
    assert b'gh_activity_commits_24h{org="acme",repo="widgets",user="alice"} 3\n' in body
    assert body.endswith(b"# EOF\n")


async def test_metrics_serves_plain_text_without_compression_by_default(served: Served) -> None:
    """A client without preferences gets uncompressed Prometheus text 0.0.4."""
    await served.cache.refresh()
    async with served.session.get(served.url + "/metrics", headers={"Accept-Encoding": "identity"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == Format.TEXT.content_type
        assert "Content-Encoding" not in resp.headers
        body = await resp.read()
    assert body.startswith(b"# HELP gh_activity_commits_24h ")
    assert b"# EOF" not in body


async def test_head_metrics_sends_headers_without_a_body(served: Served) -> None:
    """HEAD /metrics answers like GET but without a body."""
    await served.cache.refresh()
    async with served.session.head(served.url + "/metrics") as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) > 0
        assert await resp.read() == b""


async def test_livez_follows_the_fatal_flag(served: Served) -> None:
    """/livez is 200 'ok' until something marks the process fatal, then 503."""
    async with served.session.get(served.url + "/livez") as resp:
        assert (resp.status, await resp.text()) == (200, "ok\n")
    served.health.set_fatal("wedged")
    async with served.session.get(served.url + "/livez") as resp:
        assert resp.status == 503


async def test_readyz_needs_a_rendered_cache_and_required_components(served: Served) -> None:
    """/readyz turns 200 'ready' only once the cache has rendered and required components are healthy."""
    async with served.session.get(served.url + "/readyz") as resp:
        assert (resp.status, await resp.text()) == (503, "not ready\n")
    await served.cache.refresh()
    served.health.set("redis", True)
    async with served.session.get(served.url + "/readyz") as resp:
        assert (resp.status, await resp.text()) == (200, "ready\n")


@pytest.mark.parametrize("query", [pytest.param("", id="plain"), pytest.param("?verbose", id="verbose")])
async def test_healthz_returns_the_health_document(served: Served, query: str) -> None:
    """/healthz is always 200 with the JSON health document; query strings change nothing."""
    served.health.role = Role.FOLLOWER
    async with served.session.get(served.url + "/healthz" + query) as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["role"] == "follower"
    assert doc["mode"] == "unhealthy"
    assert doc["components"] == {"redis": False, "exporter_cache": False}


@pytest.mark.parametrize("role", list(Role))
async def test_landing_page_names_version_role_and_links(served: Served, role: Role) -> None:
    """GET / is a small UTF-8 HTML page with the version, the current role and links to every endpoint."""
    served.health.role = role
    async with served.session.get(served.url + "/") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        body = await resp.text()
    assert body.startswith("<!DOCTYPE html>")
    assert "GitHub Stats Exporter" in body
    assert f"Version: {github_stats_exporter.__version__}" in body
    assert f"Role: {role}" in body
    for path in ("/metrics", "/healthz", "/readyz", "/livez"):
        assert f'<a href="{path}">' in body
    assert served.requests("/", 200) == 1


async def test_landing_page_answers_head_without_a_body(served: Served) -> None:
    """HEAD / answers like GET (same status and type) but sends no body."""
    async with served.session.head(served.url + "/") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert await resp.read() == b""


def test_landing_page_escapes_dynamic_text() -> None:
    """Version and role are HTML-escaped, so odd build metadata cannot inject markup."""
    page = landing_page('1.0+<script>alert("x")</script>', "lead&er")

    assert "<script>" not in page
    assert "1.0+&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Role: lead&amp;er" in page


@pytest.mark.parametrize(
    ("method", "path", "status", "label"),
    [
        pytest.param("GET", "/nope", 404, "other", id="unknown-path"),
        pytest.param("GET", "/metrics/extra", 404, "other", id="sub-path"),
        pytest.param("POST", "/metrics", 405, "/metrics", id="post-metrics"),
        pytest.param("DELETE", "/healthz", 405, "/healthz", id="delete-healthz"),
        pytest.param("POST", "/", 405, "/", id="post-landing"),
        pytest.param("GET", "/index.html", 404, "other", id="not-the-landing-page"),
    ],
)
async def test_other_paths_and_methods_are_refused_and_counted(
    served: Served, method: str, path: str, status: int, label: str
) -> None:
    """Unknown paths get 404, wrong methods 405, and both are counted with a bounded path label."""
    async with served.session.request(method, served.url + path, data=b"x" * 10) as resp:
        assert resp.status == status
        if status == 405:
            assert "GET" in resp.headers["Allow"]
    assert served.requests(label, status) == 1


async def test_every_response_is_counted_by_known_path_and_code(served: Served) -> None:
    """Responses are counted per known path and status; random paths all share the 'other' label."""
    for path in ("/", "/livez", "/livez", "/readyz", "/a", "/b?c=d", "/%2e%2e/etc", "/?x=<b>"):
        async with served.session.get(served.url + path) as resp:
            await resp.read()
    assert served.requests("/", 200) == 2
    assert served.requests("/livez", 200) == 2
    assert served.requests("/readyz", 503) == 1
    assert served.requests("other", 404) == 3
    labels = {dict(s.labels)["path"] for s in served.self_metrics.samples() if s.name == HTTP_REQUESTS.name}
    assert labels == {"/", "/livez", "/readyz", "other"}


async def test_handler_failure_is_a_500_and_the_server_keeps_serving(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error while building a response becomes a counted 500, not a dead server."""
    await served.cache.refresh()

    def broken_parts(fmt: Format, gzip: bool = False) -> tuple[tuple[bytes, ...], bytes]:
        raise RuntimeError("boom")

    monkeypatch.setattr(served.cache, "parts", broken_parts)
    async with served.session.get(served.url + "/metrics") as resp:
        assert resp.status == 500
    assert served.requests("/metrics", 500) == 1
    async with served.session.get(served.url + "/livez") as resp:
        assert resp.status == 200


async def raw_exchange(port: int, payload: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes and return whatever the server answers before it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        if half_close:
            writer.write_eof()
        await writer.drain()
        chunks = []
        async with asyncio.timeout(2):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x00\x01\x02\xff garbage \r\n\r\n", id="binary-garbage"),
        pytest.param(b"G@T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", id="invalid-method"),
        pytest.param(b"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n", id="invalid-url"),
        pytest.param(b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n", id="bad-version"),
        pytest.param(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="huge-request-line"),
        pytest.param(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", id="huge-header"),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n",
            id="too-many-headers",
        ),
        pytest.param(b"GET /metrics HTTP/1.1\r\nHost x no colon\r\n\r\n", id="malformed-header"),
        pytest.param(
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="smuggling-headers",
        ),
    ],
)
async def test_malformed_requests_get_a_4xx_and_the_server_keeps_serving(
    served: Served, payload: bytes
) -> None:
    """Hostile or broken requests are refused with a 400-class answer and the next request still works."""
    answer = await raw_exchange(served.port, payload)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line[:9] in (b"HTTP/1.0 ", b"HTTP/1.1 "), answer[:200]
    assert status_line[9:10] == b"4", status_line
    async with served.session.get(served.url + "/livez") as resp:
        assert resp.status == 200


async def test_truncated_request_is_dropped_when_the_client_stops_sending(served: Served) -> None:
    """A request cut off mid-headers gets no answer once the client half-closes, and nothing breaks."""
    answer = await raw_exchange(served.port, b"GET /livez HTTP/1.1\r\nHost: x\r\n", half_close=True)
    assert not answer.startswith(b"HTTP/1.1 200")
    async with served.session.get(served.url + "/livez") as resp:
        assert resp.status == 200


async def test_client_disconnecting_mid_request_does_not_hurt_the_server(served: Served) -> None:
    """A client that connects and vanishes leaves the server serving."""
    for _ in range(5):
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(b"GET /metr")
        writer.close()
    async with served.session.get(served.url + "/livez") as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param(":8080", ("0.0.0.0", 8080), id="all-interfaces"),
        pytest.param("127.0.0.1:0", ("127.0.0.1", 0), id="ephemeral"),
        pytest.param("[::1]:9000", ("::1", 9000), id="ipv6"),
        pytest.param("[::]:9100", ("::", 9100), id="ipv6-any"),
        pytest.param("localhost:9100", ("localhost", 9100), id="hostname"),
        pytest.param("exporter.monitoring.svc:65535", ("exporter.monitoring.svc", 65535), id="fqdn-max-port"),
    ],
)
def test_parse_listen_addr(text: str, want: tuple[str, int]) -> None:
    """Go-style listen addresses split into host and port."""
    assert parse_listen_addr(text) == want


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("8080", id="no-colon"),
        pytest.param("host:", id="no-port"),
        pytest.param(":65536", id="port-too-big"),
        pytest.param(":-1", id="negative-port"),
        pytest.param(":80a", id="port-not-digits"),
        pytest.param(":٣", id="non-ascii-digit"),
        pytest.param("::1:9000", id="unbracketed-ipv6"),
        pytest.param("[::1", id="unclosed-bracket"),
        pytest.param("[nope]:80", id="bad-ipv6"),
        pytest.param("bad host:80", id="space-in-host"),
        pytest.param("http://x:80", id="url"),
    ],
)
def test_parse_listen_addr_rejects_garbage(text: str) -> None:
    """Anything that is not host:port raises ValueError naming the address."""
    with pytest.raises(ValueError, match="listen address"):
        parse_listen_addr(text)


async def test_start_reports_the_bound_port_and_stop_closes_the_listener() -> None:
    """start() returns the real port when asked for port 0; after stop() nothing listens there."""
    cache = ExpositionCache(MemorySnapshotStore(), SelfMetrics())
    server = HttpServer(build_app(cache, Health(lambda: True), SelfMetrics()), "127.0.0.1", 0)
    port = await server.start()
    assert port > 0
    await server.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.name.lower())
async def test_large_pages_stream_the_cached_pieces_byte_identical(
    fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page above the streaming threshold, held as many pieces, arrives complete with its Content-Length, plain and gzip."""
    from github_stats_exporter import server as server_module

    store = MemorySnapshotStore()
    for repo in range(40):
        samples = tuple(
            ACTIVITY_COMMITS.sample(user % 5, {"org": "acme", "repo": f"r{repo}", "user": f"u{user}"})
            for user in range(30)
        )
        await store.put(Snapshot(SnapshotKey("activity", ("acme", f"r{repo}")), samples, 1))
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics)
    await cache.refresh()
    # Force the streaming path and chunks smaller than some pieces and larger than others.
    monkeypatch.setattr(server_module, "STREAM_THRESHOLD", 1)
    monkeypatch.setattr(server_module, "STREAM_CHUNK", 1000)
    server = HttpServer(build_app(cache, Health(lambda: True), self_metrics), "127.0.0.1", 0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            for encoding in ("identity", "gzip"):
                headers = {"Accept": fmt.content_type, "Accept-Encoding": encoding}
                async with session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"] == fmt.content_type
                    payload = await resp.read()
                    assert resp.content_length == len(payload)
                text = gzip.decompress(payload) if encoding == "gzip" else payload
                # The request counter in the tail moves between requests: compare the store part whole.
                pieces, _ = cache.parts(fmt)
                store_part = b"".join(pieces)
                assert text.startswith(store_part)
                assert text.count(b'gh_activity_commits_24h{org="acme"') == 1200
                assert text.endswith(b"# EOF\n" if fmt is Format.OPENMETRICS else b"\n")
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("pieces", "size"),
    [
        pytest.param([], 32, id="nothing"),
        pytest.param([b"x" * 100], 32, id="one-large-piece-sliced"),
        pytest.param([b"a", b"b", b"c", b"d", b"e"], 32, id="small-pieces-joined"),
        pytest.param([b"x" * 20], 32, id="medium-piece-as-is"),
        pytest.param([b"ab", memoryview(b"0123456789" * 7), b"c", b"", b"defg", b"h" * 10], 32, id="mixed"),
    ],
)
def test_stream_chunks_keep_the_bytes_in_order_in_bounded_chunks(
    pieces: list[bytes | memoryview], size: int
) -> None:
    """Streaming chunks concatenate to the pieces' bytes and none is larger than the chunk size."""
    chunks = list(stream_chunks(pieces, size))
    assert b"".join(chunks) == b"".join(pieces)
    assert all(0 < len(chunk) <= size for chunk in chunks)
