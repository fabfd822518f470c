"""A fake Kubernetes Lease API (coordination.k8s.io/v1) on 127.0.0.1:0, for the leader and shard tests.

The fake keeps Lease objects with resourceVersions like an API server: POST of an existing Lease and
PUT with a stale or missing resourceVersion answer 409/422, DELETE honours a resourceVersion
precondition (409), a LIST filters by an equality label selector, and renewTime/acquireTime that are
not MicroTime with exactly six fractional digits answer 400. Tests can require a bearer token per
request, script failures for chosen callers, and read every request it saw. It serves in the test's
event loop, so exporter processes started by the test can use it too.
"""

from __future__ import annotations

import asyncio
import copy
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

NAMESPACE, LEASE = "monitoring", "gse-leader"

MICRO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LEASE_PATH = re.compile(
    r"/apis/coordination\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/leases(?:/(?P<name>[^/]+))?"
)
NAMESPACE, LEASE = "monitoring", "gse-leader"


@dataclass
class Seen:
    method: str
    path: str
    token: str
    body: dict[str, Any] | None
    query: str = ""


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
    canned: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    """(method, status, body) answered once, in order, before the request is looked at."""
    outage: int = 0
    """While non-zero every request answers this status (the API server unreachable for everyone)."""
    delay: float = 0.0
    hold_puts: int = 0
    """While non-zero, PUTs wait until this many are in flight together, then all go on (and it resets):
    a writer that sends its PUTs one by one never gets past the first."""
    most_puts_in_flight: int = 0
    """The most PUTs this fake has had in flight at once."""
    server: TestServer | None = None
    _puts_in_flight: int = 0
    _puts_released: asyncio.Event = field(default_factory=asyncio.Event)
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

    def answer_next(self, method: str, status: int, body: dict[str, Any]) -> None:
        """Answer the next ``method`` request with ``body`` as it is (a broken or foreign API server)."""
        self.canned.append((method, status, body))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def __aenter__(self) -> FakeLeaseApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        body = await request.json() if request.can_read_body else None
        self.seen.append(Seen(request.method, request.path, token, copy.deepcopy(body), request.query_string))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.method == "PUT":
            self._puts_in_flight += 1
            self.most_puts_in_flight = max(self.most_puts_in_flight, self._puts_in_flight)
            try:
                await self._hold_put()
                return await self._answer(request, body, token)
            finally:
                self._puts_in_flight -= 1
        return await self._answer(request, body, token)

    async def _hold_put(self) -> None:
        if not self.hold_puts:
            return
        if self._puts_in_flight >= self.hold_puts:
            self.hold_puts = 0
            self._puts_released.set()
            self._puts_released = asyncio.Event()
            return
        await self._puts_released.wait()

    async def _answer(
        self, request: web.Request, body: dict[str, Any] | None, token: str
    ) -> web.StreamResponse:
        if self.outage:
            return _status(self.outage, "scripted outage")
        if self.tokens is not None and token not in self.tokens:
            return _status(401, "Unauthorized")
        if token in self.failing_tokens:
            return _status(self.failing_tokens[token], "scripted failure")
        for i, (method, status, canned) in enumerate(self.canned):
            if method == request.method:
                del self.canned[i]
                return web.json_response(canned, status=status)
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
        if request.method == "GET":
            return self._list(namespace, request.query.get("labelSelector", ""))
        if request.method == "DELETE" and name:
            return self._delete(namespace, name, body)
        if request.method == "POST" and not name:
            return self._create(namespace, body)
        if request.method == "PUT" and name:
            return self._update(namespace, name, body)
        return _status(405, "method not allowed")

    def _list(self, namespace: str, selector: str) -> web.Response:
        wanted: dict[str, str] = {}
        for term in filter(None, selector.split(",")):
            key, sep, value = term.replace("==", "=").partition("=")
            if not sep or "!" in key:
                return _status(400, f"unable to parse requirement: {term!r} (this fake knows only k=v)")
            wanted[key.strip()] = value.strip()
        items = [
            lease
            for (ns, _), lease in sorted(self.leases.items())
            if ns == namespace
            and all(lease["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        return web.json_response(
            {
                "kind": "LeaseList",
                "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"resourceVersion": str(self._version)},
                "items": items,
            }
        )

    def _delete(self, namespace: str, name: str, body: Any) -> web.Response:
        current = self.leases.get((namespace, name))
        if current is None:
            return _status(404, f'leases "{name}" not found')
        wanted = ((body or {}).get("preconditions") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            return _status(
                409,
                f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": the '
                "ResourceVersion in the precondition does not match",
            )
        del self.leases[(namespace, name)]
        self._version += 1
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200})

    def _create(self, namespace: str, body: Any) -> web.Response:
        name = body["metadata"]["name"]
        if (namespace, name) in self.leases:
            return _status(409, f'leases "{name}" already exists')
        problem = _invalid(body.get("spec", {}))
        if problem:
            return _status(400, problem)
        self._version += 1
        kept = {k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")}
        body["metadata"] = {
            **kept,
            "name": name,
            "namespace": namespace,
            "resourceVersion": str(self._version),
        }
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
        kept = {k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")}
        body["metadata"] = {**current["metadata"], **kept, "resourceVersion": str(self._version)}
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
    transitions = spec.get("leaseTransitions")
    if transitions is not None and not (isinstance(transitions, int) and 0 <= transitions < 2**31):
        # leaseTransitions is an int32 in coordination.k8s.io/v1.
        return f'Lease in version "v1" cannot be handled as a Lease: leaseTransitions: {transitions!r} out of int32'
    return ""


def _status(code: int, message: str) -> web.Response:
    return web.json_response(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code},
        status=code,
    )
