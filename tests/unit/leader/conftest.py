"""A fake Kubernetes Lease API on 127.0.0.1:0, plus a manual monotonic clock for the electors under test.

The fake keeps Lease objects with resourceVersions like an API server: POST of an existing Lease and
PUT with a stale or missing resourceVersion answer 409/422, and renewTime/acquireTime that are not
MicroTime with exactly six fractional digits answer 400. Tests can require a bearer token per request,
script failures for chosen callers, and read every request it saw.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from github_stats_exporter.leader.kubernetes import ApiServer, KubernetesElector
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.selfmetrics import SelfMetrics

MICRO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LEASE_PATH = re.compile(
    r"/apis/coordination\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/leases(?:/(?P<name>[^/]+))?"
)
NAMESPACE, LEASE = "monitoring", "gse-leader"
TIMINGS = LeaseTimings(lease_duration=10.0, renew_deadline=6.0, retry_period=2.0)
EPOCH = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class Seen:
    method: str
    path: str
    token: str
    body: dict[str, Any] | None


@dataclass
class FakeLeaseApi:
    """GET/POST/PUT of coordination.k8s.io/v1 Leases with the API server's conflict and format checks."""

    tokens: set[str] | None = None
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    failing_tokens: dict[str, int] = field(default_factory=dict)
    """Requests carrying one of these tokens answer this status (a partitioned or broken caller)."""
    scripted: list[tuple[str, int]] = field(default_factory=list)
    """(method, status) answered once, in order, before the request is looked at."""
    delay: float = 0.0
    server: TestServer | None = None
    _version: int = 0

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def lease(self, name: str = LEASE, namespace: str = NAMESPACE) -> dict[str, Any]:
        return self.leases[(namespace, name)]

    def spec(self, name: str = LEASE) -> dict[str, Any]:
        spec: dict[str, Any] = self.lease(name)["spec"]
        return spec

    def fail_next(self, method: str, status: int) -> None:
        self.scripted.append((method, status))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        body = await request.json() if request.can_read_body else None
        self.seen.append(Seen(request.method, request.path, token, copy.deepcopy(body)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.tokens is not None and token not in self.tokens:
            return _status(401, "Unauthorized")
        if token in self.failing_tokens:
            return _status(self.failing_tokens[token], "scripted failure")
        for i, (method, status) in enumerate(self.scripted):
            if method == request.method:
                del self.scripted[i]
                return _status(status, "scripted failure")
        match = LEASE_PATH.fullmatch(request.path)
        if match is None:
            return _status(404, "no such path")
        namespace, name = match["ns"], match["name"]
        if request.method == "GET" and name:
            lease = self.leases.get((namespace, name))
            return web.json_response(lease) if lease else _status(404, f'leases "{name}" not found')
        if request.method == "POST" and not name:
            return self._create(namespace, body)
        if request.method == "PUT" and name:
            return self._update(namespace, name, body)
        return _status(405, "method not allowed")

    def _create(self, namespace: str, body: Any) -> web.Response:
        name = body["metadata"]["name"]
        if (namespace, name) in self.leases:
            return _status(409, f'leases "{name}" already exists')
        problem = _invalid(body.get("spec", {}))
        if problem:
            return _status(400, problem)
        self._version += 1
        body["metadata"] = {"name": name, "namespace": namespace, "resourceVersion": str(self._version)}
        self.leases[(namespace, name)] = body
        return web.json_response(body, status=201)

    def _update(self, namespace: str, name: str, body: Any) -> web.Response:
        current = self.leases.get((namespace, name))
        if current is None:
            return _status(404, f'leases "{name}" not found')
        version = body.get("metadata", {}).get("resourceVersion")
        if not version:
            return _status(
                422, "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
            )
        if version != current["metadata"]["resourceVersion"]:
            return _status(
                409, "the object has been modified; please apply your changes to the latest version"
            )
        problem = _invalid(body.get("spec", {}))
        if problem:
            return _status(400, problem)
        self._version += 1
        body["metadata"] = {**current["metadata"], "resourceVersion": str(self._version)}
        self.leases[(namespace, name)] = body
        return web.json_response(body)


def _invalid(spec: dict[str, Any]) -> str:
    for key in ("renewTime", "acquireTime"):
        value = spec.get(key)
        if value is not None and not (isinstance(value, str) and MICRO_TIME.fullmatch(value)):
            return f'Lease in version "v1" cannot be handled as a Lease: {key}: invalid MicroTime {value!r}'
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and not (isinstance(duration, int) and duration > 0):
        return "spec.leaseDurationSeconds: must be greater than 0"
    return ""


def _status(code: int, message: str) -> web.Response:
    return web.json_response(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code},
        status=code,
    )


class ManualClock:
    """A monotonic clock that moves only when a test says so; `wall` maps it onto a UTC datetime."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)


@pytest.fixture
async def lease_api() -> AsyncIterator[FakeLeaseApi]:
    api = FakeLeaseApi()
    await api.start()
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_elector(
    lease_api: FakeLeaseApi, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Callable[..., KubernetesElector]]:
    """Electors on the fake API, each with its own token file holding ``token-<identity>``."""
    made: list[KubernetesElector] = []

    def make(identity: str, **options: Any) -> KubernetesElector:
        token_path = tmp_path / f"token-{identity}"
        token_path.write_text(f"token-{identity}\n")
        options.setdefault("timings", TIMINGS)
        options.setdefault("metrics", SelfMetrics())
        options.setdefault("clock", clock)
        elector = KubernetesElector(
            namespace=NAMESPACE,
            lease_name=LEASE,
            identity=identity,
            api=ApiServer(lease_api.base_url, token_path=token_path),
            wall=clock.wall,
            jitter=lambda: 0.0,
            **options,
        )
        made.append(elector)
        return elector

    yield make
    for elector in made:
        await elector.close()
