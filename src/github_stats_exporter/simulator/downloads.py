"""The second host: signed, expiring NDJSON report files, served without (and refusing) ``Authorization``.

Stores report parts and signs their URLs; the link endpoints in :mod:`reports` decide what goes in.
It must not serve anything without a valid signature, nor count toward any API rate limit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from github_stats_exporter.simulator.auth import iso
from github_stats_exporter.simulator.context import SimContext
from github_stats_exporter.simulator.faults import FaultRule

ROUTE = "copilot_report_download"
ONE_AUTH_MESSAGE = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)
TIME_FRAME_MESSAGE = "AuthenticationFailed: Signature not valid in the specified time frame"
BAD_SIGNATURE_MESSAGE = (
    "AuthenticationFailed: Server failed to authenticate the request. Make sure the value of the "
    "signature is formed correctly."
)
CLOCK_SKEW_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class StoredReport:
    parts: tuple[bytes, ...]
    expires_at: float


def _xml_error(code: str, message: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'


def split_rows(lines: Sequence[bytes]) -> list[bytes]:
    """Shard NDJSON lines over 1 to 3 files (at least 2 once there are more than 5 rows), as GitHub shards."""
    if len(lines) <= 5:
        count = 1
    elif len(lines) <= 200:
        count = 2
    else:
        count = 3
    size = -(-len(lines) // count) if lines else 0
    parts = [b"".join(lines[i * size : (i + 1) * size]) for i in range(count)]
    return parts or [b""]


class ReportHost:
    """Holds report files and answers on the download host."""

    def __init__(self, ctx: SimContext, *, link_ttl: float = 3600.0) -> None:
        self.ctx = ctx
        self.link_ttl = link_ttl
        self._secret = secrets.token_bytes(32)
        self._reports: dict[str, StoredReport] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/copilot-reports/{report_id}/part-{part}.json", self.download)]

    def publish(self, parts: Sequence[bytes], *, expired: bool = False) -> list[str]:
        """Store the parts under a fresh id and return their signed URLs (already expired if asked)."""
        now = self.ctx.clock.now()
        self._reports = {k: v for k, v in self._reports.items() if v.expires_at > now - self.link_ttl}
        issued = now - self.link_ttl - 120 if expired else now
        expiry = issued + self.link_ttl
        report_id = secrets.token_hex(12)
        self._reports[report_id] = StoredReport(tuple(parts), expiry)
        urls = []
        for n in range(len(parts)):
            path = f"/copilot-reports/{report_id}/part-{n}.json"
            st, se = iso(issued), iso(expiry)
            query = urlencode({"sv": "1", "st": st, "se": se, "sig": self._sign(path, st, se)})
            urls.append(f"{self.ctx.download_url}{path}?{query}")
        return urls

    def _sign(self, path: str, st: str, se: str) -> str:
        return hmac.new(self._secret, f"{path}\n{st}\n{se}".encode(), hashlib.sha256).hexdigest()

    async def download(self, request: web.Request) -> web.StreamResponse:
        response = await self._download(request)
        self.ctx.stats.record(ROUTE, response.status)
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx
        fault = ctx.faults.pick(ROUTE, request.path_qs)
        if fault is not None and fault.kind in ("latency", "timeout", "status"):
            early = await ctx.pre_fault(fault, request)
            if early is not None:
                return early
        if "Authorization" in request.headers:
            return web.Response(
                status=400,
                text=_xml_error("InvalidArgument", ONE_AUTH_MESSAGE),
                content_type="application/xml",
            )
        q = request.query
        st, se, sig = q.get("st", ""), q.get("se", ""), q.get("sig", "")
        if not hmac.compare_digest(self._sign(request.path, st, se), sig):
            return web.Response(
                status=403,
                text=_xml_error("AuthenticationFailed", BAD_SIGNATURE_MESSAGE),
                content_type="application/xml",
            )
        now = ctx.clock.now()
        start, expiry = _parse(st), _parse(se)
        expired = fault is not None and fault.kind == "expired_link"
        if expired or now > expiry or now < start - CLOCK_SKEW_SECONDS:
            return web.Response(
                status=403,
                text=_xml_error("AuthenticationFailed", TIME_FRAME_MESSAGE),
                content_type="application/xml",
            )
        report = self._reports.get(request.match_info["report_id"])
        part = int(request.match_info["part"]) if request.match_info["part"].isdigit() else -1
        if report is None or not 0 <= part < len(report.parts):
            return web.Response(
                status=404,
                text=_xml_error("BlobNotFound", "The specified blob does not exist."),
                content_type="application/xml",
            )
        body = damage(report.parts[part], fault)
        ctx.stats.record_download(len(body))
        return web.Response(status=200, body=body, content_type="application/x-ndjson")


def damage(body: bytes, fault: FaultRule | None) -> bytes:
    """Download faults: cut the file in the middle of a line, or slip unparseable lines in."""
    if fault is None or not body:
        return body
    if fault.kind == "truncate":
        lines = body.split(b"\n")
        middle = len(lines) // 2
        cut = sum(len(line) + 1 for line in lines[:middle]) + max(len(lines[middle]) // 2, 1)
        return body[: min(cut, len(body) - 1)]
    if fault.kind == "malformed":
        lines = body.splitlines(keepends=True)
        lines.insert(len(lines) // 2, b'{"user_login": "broken", "day": \n')
        lines.insert(1, b"not json at all\n")
        return b"".join(lines)
    return body


def _parse(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0
