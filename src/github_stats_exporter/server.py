"""The HTTP surface: `/metrics`, `/livez`, `/readyz`, `/healthz` and a landing page at `/`, served by aiohttp.

Routes only translate HTTP to calls on the exposition cache and the health state; no metric
rendering, no store access and no business logic live here. Who may ask is the `AccessGate`'s call
(basic_auth.py); the TLS context comes ready-made from the web config (webconfig.py).
"""

from __future__ import annotations

import html
import ipaddress
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from aiohttp import web

import github_stats_exporter
from github_stats_exporter.basic_auth import CHALLENGE, AccessGate
from github_stats_exporter.exposition import ExpositionCache, accepts_gzip, negotiate
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import HTTP_REQUESTS
from github_stats_exporter.selfmetrics import SelfMetrics

STREAM_THRESHOLD = 1 << 20
"""Pages larger than this (bytes) are streamed in slices instead of being joined per request."""
STREAM_CHUNK = 1 << 20
"""About how many bytes the server hands to the transport at a time when it streams a page."""

KNOWN_PATHS = frozenset({"/", "/metrics", "/livez", "/readyz", "/healthz"})
TEXT_PLAIN = "text/plain; charset=utf-8"
EXPORTER_NAME = "GitHub Stats Exporter"
LANDING_LINKS = (
    ("/metrics", "Metrics"),
    ("/healthz", "Health document (JSON)"),
    ("/readyz", "Readiness"),
    ("/livez", "Liveness"),
)

# Request limits: generous for Prometheus and kubelet probes, small enough that a hostile client
# cannot make the parser buffer much. Oversized lines or headers get a 4xx from aiohttp's parser.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 64
KEEPALIVE_TIMEOUT_SECONDS = 75.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _text(status: int, body: str) -> web.Response:
    return web.Response(status=status, body=body.encode(), headers={"Content-Type": TEXT_PLAIN})


def stream_chunks(pieces: Iterable[bytes | memoryview], size: int) -> Iterator[bytes | memoryview]:
    """The pieces' bytes in order, in chunks of ``size // 16`` to about ``size`` bytes.

    Pieces in that range go out as they are (no copy), larger ones as slices, and runs of smaller ones
    (family headers, small snapshots) joined until the run is large enough to be worth a write.
    """
    least = max(1, size // 16)
    run: list[bytes | memoryview] = []
    run_bytes = 0
    for piece in pieces:
        if len(piece) >= least:
            if run:
                yield b"".join(run)
                run, run_bytes = [], 0
            if len(piece) <= size:
                yield piece
                continue
            view = memoryview(piece)
            for start in range(0, len(view), size):
                yield view[start : start + size]
            continue
        run.append(piece)
        run_bytes += len(piece)
        if run_bytes >= least:
            yield b"".join(run)
            run, run_bytes = [], 0
    if run:
        yield b"".join(run)


def landing_page(version: str, role: str) -> str:
    """The HTML of ``/``: name, version, role and links, like other Prometheus exporters show."""
    links = "\n".join(
        f'<li><a href="{html.escape(path)}">{html.escape(path)}</a> {html.escape(text)}</li>'
        for path, text in LANDING_LINKS
    )
    name = html.escape(EXPORTER_NAME)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        f'<head><meta charset="utf-8"><title>{name}</title></head>\n'
        "<body>\n"
        f"<h1>{name}</h1>\n"
        f"<p>Version: {html.escape(version)}</p>\n"
        f"<p>Role: {html.escape(role)}</p>\n"
        f"<ul>\n{links}\n</ul>\n"
        "</body>\n"
        "</html>\n"
    )


def build_app(
    cache: ExpositionCache, health: Health, self_metrics: SelfMetrics, gate: AccessGate | None = None
) -> web.Application:
    """The aiohttp application with the endpoints; every response is counted by path and code.

    With a ``gate``, a request it does not admit gets 401 with ``WWW-Authenticate: Basic``.
    """
    version = github_stats_exporter.__version__

    @web.middleware
    async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        finally:
            path = request.path if request.path in KNOWN_PATHS else "other"
            self_metrics.inc(HTTP_REQUESTS, {"path": path, "code": str(code)})

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if gate is not None and not await gate.admits(request.path, request.headers.get("Authorization")):
            response = _text(401, "unauthorized\n")
            response.headers["WWW-Authenticate"] = CHALLENGE
            return response
        return await handler(request)

    async def metrics(request: web.Request) -> web.StreamResponse:
        if not cache.ready:
            return _text(503, "metrics are not rendered yet\n")
        fmt = negotiate(request.headers.get("Accept"))
        compress = accepts_gzip(request.headers.get("Accept-Encoding"))
        headers = {"Content-Type": fmt.content_type, "Vary": "Accept, Accept-Encoding"}
        if compress:
            headers["Content-Encoding"] = "gzip"
        pieces, tail = cache.parts(fmt, gzip=compress)
        length = sum(map(len, pieces)) + len(tail)
        if request.method == "HEAD" or length < STREAM_THRESHOLD:
            return web.Response(body=b"".join((*pieces, tail)), headers=headers)
        # A large page goes out as the cache's own pieces, in slices of about STREAM_CHUNK: no
        # per-request copy of the whole page, and the transport buffers at most about one slice when
        # the client reads slowly.
        response = web.StreamResponse(headers=headers)
        response.content_length = length
        await response.prepare(request)
        for chunk in stream_chunks(pieces, STREAM_CHUNK):
            await response.write(chunk)
        await response.write(tail)
        await response.write_eof()
        return response

    async def livez(_: web.Request) -> web.Response:
        return _text(200, "ok\n") if health.live else _text(503, "not live\n")

    async def readyz(_: web.Request) -> web.Response:
        return _text(200, "ready\n") if health.ready else _text(503, "not ready\n")

    async def healthz(_: web.Request) -> web.Response:
        # Always 200 (the Go exporter's contract): the verdict is in the body, probes use /readyz.
        return web.json_response(health.snapshot())

    async def landing(_: web.Request) -> web.Response:
        # The role changes with leadership, so the page is built per request (it is tiny).
        return web.Response(
            text=landing_page(version, health.role),
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    app = web.Application(middlewares=[count_requests, authenticate], client_max_size=64 * 1024)
    app.router.add_get("/", landing)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/healthz", healthz)
    return app


def parse_listen_addr(text: str) -> tuple[str, int]:
    """Split a Go-style listen address (``:8080``, ``127.0.0.1:0``, ``[::1]:9000``) into host and port."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
        msg = f"listen address {text!r} must look like ':8080', 'host:port' or '[ipv6]:port'"
        raise ValueError(msg)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            msg = f"listen address {text!r} has an invalid IPv6 host"
            raise ValueError(msg) from None
    elif not host:
        host = "0.0.0.0"
    elif not _HOSTNAME.match(host):
        msg = f"listen address {text!r} has an invalid host {host!r} (IPv6 hosts need brackets)"
        raise ValueError(msg)
    return host, int(port_text)


class HttpServer:
    """Runs an aiohttp application on one TCP listener (TLS when given a context) with hardened limits."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        access_log: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._access_log = access_log
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with port 0)."""
        # access_log=None switches aiohttp's per-request log off; structured logs cover errors.
        log_options: dict[str, Any] = {} if self._access_log else {"access_log": None}
        runner = web.AppRunner(
            self._app,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE,
            max_headers=MAX_HEADERS,
            keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS,
            **log_options,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, ssl_context=self._ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        self._port = int(runner.addresses[0][1])
        return self._port

    async def use_tls(self, context: ssl.SSLContext | None) -> None:
        """Re-open the listener on the same port with ``context`` (None: plain HTTP).

        Connections already open keep the TLS session they have; a client that connects while the
        socket is re-bound (microseconds) is refused and retries. A failed re-bind raises.
        """
        runner, old = self._runner, self._site
        if runner is None or old is None:
            msg = "the HTTP server is not running"
            raise RuntimeError(msg)
        await old.stop()
        site = web.TCPSite(runner, self._host, self._port, ssl_context=context)
        await site.start()
        self._site, self._ssl_context = site, context

    async def stop(self) -> None:
        """Stop listening and wait (bounded) for in-flight requests."""
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()
