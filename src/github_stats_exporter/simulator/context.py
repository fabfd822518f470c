"""The state every simulated endpoint shares (world, clock, auth, budgets, faults, accounting) and the
request pipeline that applies faults, authentication, rate limits, ETags and accounting in GitHub's order.

Route modules supply handlers that turn a request into a :class:`Reply`; they never touch budgets or counters.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from github_stats_exporter.simulator.accounting import RequestStats
from github_stats_exporter.simulator.auth import Authenticator, AuthError, Principal
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultInjector, FaultRule
from github_stats_exporter.simulator.ratelimit import RateLimiter, RateState
from github_stats_exporter.simulator.world import World

DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
SECONDARY_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
PRIMARY_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"


class ApiError(Exception):
    """A GitHub-style error reply raised by a handler (still counts against the caller's budget)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@dataclass(slots=True)
class Reply:
    """What a handler answers: a status, a JSON body (None for 202/204 without one) and extra headers.

    ``org`` names whose budget line the request is booked under in :class:`RequestStats`.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    org: str = ""
    etag: bool = True


Handler = Callable[[web.Request, Principal, FaultRule | None], Awaitable[Reply]]
Fingerprint = Callable[[web.Request, Principal], Hashable | None]
"""What a reply depends on besides the request's path and query (None: unknown, always render).

Two requests for the same path and query with equal fingerprints get the same body; the pipeline
then answers a matching ``If-None-Match`` with 304 without rendering the body again.
"""
VALIDATORS_MAX = 1_000_000
"""Remembered (path and query -> fingerprint, ETag) pairs; past this the memory starts over."""


def dump(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def error_body(status: int, message: str, docs: str = DOCS, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra, "documentation_url": docs, "status": str(status)}


def etag_matches(header: str, tag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` (a list, ``*``, ``W/`` prefixes) against our tag."""
    if header.strip() == "*":
        return True
    opaque = tag.removeprefix("W/")
    return any(part.strip().removeprefix("W/") == opaque for part in header.split(","))


@dataclass(slots=True)
class SimContext:
    """Shared simulator state plus the settings that shape responses."""

    world: World
    clock: SimClock
    auth: Authenticator
    limiter: RateLimiter
    faults: FaultInjector
    stats: RequestStats
    rate_limit_status: int = 403
    stats_warmup_requests: int = 1
    warmup_overrides: dict[tuple[str, str], int] = field(default_factory=dict)
    api_url: str = ""
    download_url: str = ""
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    holds: set[asyncio.Future[None]] = field(default_factory=set)
    """Requests waiting in `hold` (latency and timeout faults)."""
    validators: dict[tuple[str, str], tuple[Hashable, str, dict[str, str]]] = field(default_factory=dict)
    """(route, path and query) -> (fingerprint, ETag, reply headers) of the last 200 rendered for it."""

    def json_response(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status, body=dump(body), content_type="application/json", charset="utf-8", headers=headers
        )

    async def hold(self, seconds: float) -> None:
        """Wait ``seconds`` or until the simulator stops, whichever comes first (timeouts and latency)."""
        if self.closing.is_set():
            return
        # A future the timer releases, not wait_for over the event: no task per held request.
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        timer = loop.call_later(seconds, _release, done)
        self.holds.add(done)
        try:
            await done
        finally:
            timer.cancel()
            self.holds.discard(done)

    def close(self) -> None:
        """Release every held request (the simulator is stopping)."""
        self.closing.set()
        for held in list(self.holds):
            _release(held)

    def endpoint(
        self, route: str, handler: Handler, *, budget: bool = True, fingerprint: Fingerprint | None = None
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a handler in the pipeline: fault → auth → primary limit → handler → ETag/304 → budget → count.

        With a ``fingerprint``, a conditional request whose path, query and fingerprint match the last
        200 rendered for them, and whose ``If-None-Match`` matches that 200's ETag, is answered 304
        without calling the handler: the same answer, status and headers, at a fraction of the cost.
        """

        async def serve(request: web.Request) -> web.StreamResponse:
            response = await self._serve(route, handler, request, budget, fingerprint)
            self.stats.record(route, response.status)
            match = request.match_info
            if "repo" in match and "owner" in match:
                self.stats.record_repo(route, match["owner"], match["repo"], self.clock.now())
            return response

        return serve

    async def _serve(
        self,
        route: str,
        handler: Handler,
        request: web.Request,
        budget: bool,
        fingerprint: Fingerprint | None = None,
    ) -> web.StreamResponse:
        now = self.clock.now()
        fault = self.faults.pick(route, request.path_qs)
        early = await self.pre_fault(fault, request)
        if early is not None:
            return early
        try:
            principal = self.auth.resolve(request.headers.get("Authorization"))
        except AuthError as exc:
            return self.json_response(exc.status, error_body(exc.status, exc.message))
        # One look at the budget serves both the limit check and a 304's headers (same instant).
        state = self.limiter.peek(principal.budget_key, now) if budget else None
        if state is not None and state.remaining <= 0:
            return self.primary_limited(principal, state)
        inm = request.headers.get("If-None-Match")
        known: Hashable | None = None
        if fingerprint is not None and (fault is None or fault.kind == "latency"):
            known = fingerprint(request, principal)
            seen = self.validators.get((route, request.path_qs)) if known is not None else None
            if inm and seen is not None and seen[0] == known and etag_matches(inm, seen[1]):
                headers = {"X-GitHub-Media-Type": "github.v3; format=json", **seen[2], "ETag": seen[1]}
                if state is not None:
                    headers.update(state.headers())
                return web.Response(status=304, headers=headers)
        try:
            reply = await handler(request, principal, fault)
        except ApiError as exc:
            reply = Reply(exc.status, error_body(exc.status, exc.message, **exc.extra), etag=False)
        headers = {"X-GitHub-Media-Type": "github.v3; format=json", **reply.headers}
        payload = dump(reply.body) if reply.body is not None else b""
        if reply.status == 200 and reply.etag and reply.body is not None:
            tag = '"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
            headers["ETag"] = tag
            if known is not None:
                if len(self.validators) >= VALIDATORS_MAX:
                    self.validators.clear()
                self.validators[route, request.path_qs] = (known, tag, dict(reply.headers))
            if inm and etag_matches(inm, tag):
                # A 304 costs no primary budget, but the headers still report it.
                if budget:
                    headers.update(self.limiter.peek(principal.budget_key, now).headers())
                return web.Response(status=304, headers=headers)
        if budget:
            headers.update(self.limiter.consume(principal.budget_key, now).headers())
            self.stats.record_budget(reply.org or self._org_of(request))
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        payload = post_fault(fault, payload)
        return web.Response(
            status=reply.status,
            body=payload,
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    async def pre_fault(self, fault: FaultRule | None, request: web.Request) -> web.StreamResponse | None:
        """Faults decided before the request is served; None means carry on (possibly after a delay)."""
        if fault is None:
            return None
        retry = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        now = self.clock.now()
        if fault.kind == "latency":
            await self.hold(fault.delay_s)
            return None
        if fault.kind == "timeout":
            await self.hold(fault.delay_s)
            return self.json_response(
                504, error_body(504, "We couldn't respond to your request in time. Sorry about that.")
            )
        if fault.kind == "status":
            message = "Server Error" if fault.status >= 500 else "Simulated failure"
            return self.json_response(fault.status, error_body(fault.status, message), retry)
        principal = self._principal_or_none(request)
        state = self.limiter.peek(principal.budget_key, now) if principal is not None else None
        if fault.kind == "secondary_403":
            headers = {**(state.headers() if state else {}), **retry}
            return self.json_response(
                403, {"message": SECONDARY_MESSAGE, "documentation_url": SECONDARY_DOCS}, headers
            )
        if fault.kind == "rate_limit_429":
            wait = _seconds(fault.retry_after) or 60.0
            headers = state.headers() if state else {}
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now + wait)), **retry})
            subject = principal.subject if principal else "user ID 0"
            return self.json_response(
                429,
                {"message": f"API rate limit exceeded for {subject}.", "documentation_url": PRIMARY_DOCS},
                headers,
            )
        return None

    def primary_limited(self, principal: Principal, state: RateState) -> web.Response:
        body = {
            "message": f"API rate limit exceeded for {principal.subject}.",
            "documentation_url": PRIMARY_DOCS,
        }
        return self.json_response(self.rate_limit_status, body, state.headers())

    def _org_of(self, request: web.Request) -> str:
        """The org a request is about (for booking errors such as 404s), in the world's spelling."""
        name = (
            request.match_info.get("owner")
            or request.match_info.get("org")
            or request.match_info.get("scope_id")
        )
        spec = self.world.org_spec(name) if name else None
        return spec.name if spec is not None else (name or "")

    def _principal_or_none(self, request: web.Request) -> Principal | None:
        try:
            return self.auth.resolve(request.headers.get("Authorization"))
        except AuthError:
            return None


def _release(held: asyncio.Future[None]) -> None:
    if not held.done():
        held.set_result(None)


def post_fault(fault: FaultRule | None, payload: bytes) -> bytes:
    """Body faults on a JSON reply: cut it in half, or make it unparseable."""
    if fault is None or not payload:
        return payload
    if fault.kind == "truncate":
        return payload[: max(1, len(payload) // 2)]
    if fault.kind == "malformed":
        return b'{"message": <html>oops' + payload[:16]
    return payload


def _seconds(retry_after: str | None) -> float | None:
    if retry_after is None:
        return None
    try:
        return float(retry_after)
    except ValueError:
        return None
