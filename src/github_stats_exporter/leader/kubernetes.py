"""Leader election on a Kubernetes `coordination.k8s.io/v1` Lease, spoken directly over aiohttp.

In a pod it uses the in-cluster API address (KUBERNETES_SERVICE_HOST/PORT), the service-account CA and
the service-account token, which it re-reads for every request (projected tokens rotate). A takeover
happens only when the Lease has not changed for a full lease duration *as this process observed it*
on its monotonic clock (clock skew between nodes does not matter). Writes carry the resourceVersion
read just before, so a race ends in 409 for the loser, which stays follower. Times are MicroTime with
exactly six fractional digits, as the API server requires. `LeaseApiClient` (the requests) and the
helpers below are shared with the shard leases of `kubernetes_units.py`.

It never ends the process on an API error (they become `LeaseError`) and it never falls back to a
static role: a pod that cannot reach the API server does not lead.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.leader.base import LeaseError
from github_stats_exporter.leader.lease import LeaseElector, LeaseTimings
from github_stats_exporter.selfmetrics import SelfMetrics

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
LEASE_API = "/apis/coordination.k8s.io/v1"
DEFAULT_REQUEST_TIMEOUT = 10.0
_MAX_DETAIL = 200
_GET, _PUT, _POST = "GET", "PUT", "POST"


class ElectorSetupError(ExporterError, RuntimeError):
    """The elector cannot work in this environment (not in a pod, no token, no CA); fix and restart."""

    transient = False


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: UTC, exactly six fractional digits, ``Z`` (2026-11-25T10:00:00.123456Z)."""
    if moment.tzinfo is None:
        msg = "MicroTime needs an aware datetime"
        raise ValueError(msg)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ApiServer:
    """Where the Lease API is and how to authenticate: in-cluster values, or injected ones in tests."""

    base_url: str
    token_path: Path | None = None
    ca_path: Path | None = None

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str] | None = None, account_dir: Path = SERVICE_ACCOUNT_DIR
    ) -> ApiServer:
        """The pod's API server; raises `ElectorSetupError` outside a pod or without a mounted token."""
        env = os.environ if environ is None else environ
        host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
        port = env.get("KUBERNETES_SERVICE_PORT", "").strip()
        if not host or not port:
            msg = (
                "leader_election.backend kubernetes needs to run in a pod: KUBERNETES_SERVICE_HOST and "
                "KUBERNETES_SERVICE_PORT are not set (use backend: redis outside Kubernetes)"
            )
            raise ElectorSetupError(msg)
        token, ca = account_dir / "token", account_dir / "ca.crt"
        for path, what in ((token, "token"), (ca, "CA certificate")):
            if not path.is_file():
                msg = (
                    f"service-account {what} {path} is missing; mount the service-account token "
                    "(automountServiceAccountToken: true)"
                )
                raise ElectorSetupError(msg)
        if ":" in host:
            host = f"[{host}]"
        return cls(f"https://{host}:{port}", token, ca)


_Record = tuple[object, ...]


class LeaseApiClient:
    """Requests to the Lease collection of one namespace; the bearer token is re-read for every request."""

    def __init__(
        self,
        api: ApiServer,
        *,
        namespace: str,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        base = api.base_url.rstrip("/")
        self.collection = f"{base}{LEASE_API}/namespaces/{namespace}/leases"
        self._token_path = api.token_path
        self._ssl: ssl.SSLContext | bool = True
        if api.base_url.startswith("https://"):
            self._ssl = ssl.create_default_context(cafile=str(api.ca_path) if api.ca_path else None)
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)

    def url(self, name: str) -> str:
        """The URL of the Lease ``name``."""
        return f"{self.collection}/{name}"

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _token(self) -> str:
        if self._token_path is None:
            return ""
        try:
            return self._token_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            msg = f"cannot read {self._token_path}: {exc.strerror}"
            raise LeaseError(msg, reason="token") from exc

    async def call(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One request; the status and the decoded JSON object (empty when the answer had none)."""
        headers = {"Accept": "application/json"}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(
                method, url, json=body, params=params, headers=headers, ssl=self._ssl
            ) as resp:
                status, raw = resp.status, await resp.read()
        except TimeoutError as exc:
            msg = f"{method} Lease timed out"
            raise LeaseError(msg, reason="timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            msg = f"{method} Lease: {type(exc).__name__}"
            raise LeaseError(msg, reason="network") from exc
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {}
        if status < 300 and not isinstance(decoded, dict):
            msg = f"{method} Lease answered {status} without a JSON object"
            raise LeaseError(msg, reason="rejected")
        return status, decoded if isinstance(decoded, dict) else {}


class KubernetesLease:
    """A `LeaseLock` on one Lease object; keeps the last observed record and when it changed."""

    def __init__(
        self,
        api: ApiServer,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = LeaseApiClient(
            api, namespace=namespace, session=session, request_timeout=request_timeout
        )
        self._call = self._client.call
        self._collection = self._client.collection
        self._url = self._client.url(name)
        self._namespace, self._name, self._identity = namespace, name, identity
        # leaseDurationSeconds is a whole number; rounding up keeps every replica on the safe side.
        self._duration_seconds = lease_seconds(lease_duration)
        self._wall = wall
        self._observed: _Record | None = None
        self._observed_at = 0.0

    @property
    def lease_url(self) -> str:
        return self._url

    async def try_acquire_or_renew(self, now: float, leading: bool) -> bool:
        del leading  # the Lease itself says whether this identity holds it
        status, lease = await self._call("GET", self._url)
        if status == 404:
            return await self._create(now)
        if status != 200:
            raise failure(_GET, status, lease)
        spec = _spec(lease)
        self._observe(spec, now)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self._identity and not self._expired(spec, now):
            return False
        stamp = micro_time(self._wall())
        renewed = dict(spec)
        renewed.update(
            holderIdentity=self._identity,
            leaseDurationSeconds=self._duration_seconds,
            renewTime=stamp,
        )
        if holder != self._identity:
            renewed["acquireTime"] = stamp
            renewed["leaseTransitions"] = _int(spec.get("leaseTransitions")) + 1
        lease["spec"] = renewed
        status, updated = await self._call("PUT", self._url, lease)
        if status != 200:
            raise failure(_PUT, status, updated)
        self._observe(_spec(updated), now)
        return True

    async def release(self) -> bool:
        status, lease = await self._call("GET", self._url)
        if status == 404:
            return False
        if status != 200:
            raise failure(_GET, status, lease)
        spec = _spec(lease)
        if spec.get("holderIdentity") != self._identity:
            return False
        stamp = micro_time(self._wall())
        cleared = dict(spec)
        # Like client-go: an empty holder with a 1 s duration, so followers take over on their next try.
        cleared.update(holderIdentity="", leaseDurationSeconds=1, renewTime=stamp)
        lease["spec"] = cleared
        status, updated = await self._call("PUT", self._url, lease)
        if status != 200:
            raise failure(_PUT, status, updated)
        return True

    async def close(self) -> None:
        await self._client.close()

    async def _create(self, now: float) -> bool:
        stamp = micro_time(self._wall())
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": {
                "holderIdentity": self._identity,
                "leaseDurationSeconds": self._duration_seconds,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        status, created = await self._call("POST", self._collection, lease)
        if status not in (200, 201):
            raise failure(_POST, status, created)
        self._observe(_spec(created), now)
        return True

    def _observe(self, spec: Mapping[str, Any], now: float) -> None:
        record: _Record = tuple(
            spec.get(key)
            for key in (
                "holderIdentity",
                "leaseDurationSeconds",
                "acquireTime",
                "renewTime",
                "leaseTransitions",
            )
        )
        if record != self._observed:
            self._observed, self._observed_at = record, now

    def _expired(self, spec: Mapping[str, Any], now: float) -> bool:
        # The record's own duration is what its holder promised; our clock measures since we saw it change.
        duration = _int(spec.get("leaseDurationSeconds")) or self._duration_seconds
        return now >= self._observed_at + duration


def lease_seconds(duration: float) -> int:
    """``leaseDurationSeconds`` for a duration: a whole number of seconds, rounded up, at least 1."""
    return max(1, math.ceil(duration))


def _spec(lease: Mapping[str, Any]) -> dict[str, Any]:
    spec = lease.get("spec")
    return dict(spec) if isinstance(spec, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def failure(method: str, status: int, body: Mapping[str, Any]) -> LeaseError:
    """The `LeaseError` of an unexpected answer, its reason from the status (409 is ``conflict``)."""
    message = body.get("message")
    detail = f"{method} Lease answered {status}"
    if isinstance(message, str) and message:
        detail = f"{detail}: {message[:_MAX_DETAIL]}"
    if status == 409:
        return LeaseError(detail, reason="conflict")
    if status in (401, 403):
        return LeaseError(detail, reason="unauthorized")
    if status == 429 or status >= 500:
        return LeaseError(detail, reason="server_error")
    return LeaseError(detail, reason="rejected")


class KubernetesElector(LeaseElector):
    """A `LeaseElector` on a Kubernetes Lease; builds the in-cluster `ApiServer` unless given one."""

    def __init__(
        self,
        *,
        namespace: str,
        lease_name: str,
        identity: str,
        timings: LeaseTimings,
        api: ApiServer | None = None,
        metrics: SelfMetrics | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self.lease = KubernetesLease(
            api or ApiServer.in_cluster(),
            namespace=namespace,
            name=lease_name,
            identity=identity,
            lease_duration=timings.lease_duration,
            session=session,
            request_timeout=request_timeout,
            wall=wall,
        )
        super().__init__(
            self.lease,
            identity=identity,
            timings=timings,
            metrics=metrics,
            clock=clock,
            sleep=sleep,
            jitter=jitter,
        )
