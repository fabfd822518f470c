"""Sharded collection's membership and unit leases on Kubernetes `coordination.k8s.io/v1` Leases.

One Lease per live replica (its membership, renewed every round) and one Lease per work unit, all
labelled with the deployment's group (derived from ``leader_election.lease_name``) so that one LIST with
a label selector reads them all. Names come from `lease_names` (readable part + hash). The rules are
those of the leader Lease (`leader.kubernetes`): a Lease is expired when it has not changed for its
``leaseDurationSeconds`` *as this process observed it* on its monotonic clock; every write carries the
resourceVersion it read, so a race ends in 409 for the loser. A unit Lease's ``leaseTransitions`` is its
fencing epoch and grows on every acquisition (docs/scaling.md, "Kubernetes Leases").

Fencing stays in the store: after winning a unit Lease, the new holder raises the unit's epoch in the
store (`UnitFenceStore.raise_unit_epoch`, set-if-greater) to its term before `acquire_unit` returns it,
so from then on every write of an older term is refused; every renewal raises it again (a Redis that
lost its data gets the epoch back, a later term found there ends this one). When the store is ahead of the Lease (Leases
deleted, or the units were leased in Redis before) the new term starts above the store's epoch.

The batch calls of a coordination round (`renew_units`, `acquire_units`, `release_units`) send their
writes concurrently, `MAX_CONCURRENT_WRITES` at a time, so a round costs about one LIST and a few round
trips of PUTs, not one round trip per unit held.

It never decides assignments or timing (`leader.shards.ShardCoordinator` does) and never raises
anything but `LeaseError` / `StoreError` for expected failures. A malformed Lease object is logged and
treated as a dead member or a unit of unknown holder, never a crash; a malformed listing is a
`LeaseError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import structlog

from github_stats_exporter.leader.base import LeaseError
from github_stats_exporter.leader.kubernetes import (
    DEFAULT_REQUEST_TIMEOUT,
    ApiServer,
    LeaseApiClient,
    failure,
    lease_seconds,
    micro_time,
)
from github_stats_exporter.leader.lease_names import group_label, lease_object_name
from github_stats_exporter.store.base import UnitFenceStore, UnitRenewal

log = structlog.get_logger(__name__)

GROUP_LABEL = "github-stats-exporter/shard-group"
"""Label on every Lease of sharded collection: the deployment's group (one LIST selects them all)."""
KIND_LABEL = "github-stats-exporter/lease-kind"
"""Label saying what a Lease is: ``member`` or ``unit``."""
KEY_ANNOTATION = "github-stats-exporter/key"
"""Annotation holding the exact replica identity or unit name the Lease's name was derived from."""
MAX_LEASE_TRANSITIONS = 2**31 - 1
"""``leaseTransitions`` is an int32 in the Lease API: the highest term a unit Lease can carry."""
T = TypeVar("T")

MAX_CONCURRENT_WRITES = 16
"""Unit Lease writes of one batch in flight at once: a round of 60 units costs about four round trips,
not 60, while a burst stays small for the API server's priority and fairness."""
MEMBER, UNIT = "member", "unit"
_GET, _PUT, _POST, _DELETE, _LIST = "GET", "PUT", "POST", "DELETE", "LIST"


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """One Lease of the group as read from the API; ``problem`` is non-empty for a malformed one."""

    name: str
    kind: str
    key: str
    holder: str
    duration: int
    transitions: int
    version: str
    body: Mapping[str, Any]
    problem: str = ""


class KubernetesUnitLeases:
    """`leader.base.UnitLeases` on Kubernetes Leases, with the fences raised in ``fences``."""

    def __init__(
        self,
        api: ApiServer,
        *,
        namespace: str,
        group: str,
        fences: UnitFenceStore,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        units: Iterable[str] = (),
    ) -> None:
        """``units`` names every work unit of the configuration: unit Leases of other units (``shards``
        lowered, a Copilot scope removed) are deleted once released or expired. Empty: none is deleted."""
        self._client = LeaseApiClient(
            api, namespace=namespace, session=session, request_timeout=request_timeout
        )
        self._namespace = namespace
        self._group = group
        self._label = group_label(group)
        self._fences = fences
        self._clock = clock
        self._wall = wall
        self._leases: dict[str, LeaseRecord] = {}
        self._seen: dict[str, tuple[str, float]] = {}
        """Lease name -> (the resourceVersion last seen, when this process first saw it)."""
        self._reported: set[tuple[str, str]] = set()
        self._undeletable: set[tuple[str, str]] = set()
        self._units = frozenset(units)

    def member_lease(self, member: str) -> str:
        """The name of ``member``'s membership Lease."""
        return lease_object_name(self._group, MEMBER, member)

    def unit_lease(self, unit: str) -> str:
        """The name of ``unit``'s Lease."""
        return lease_object_name(self._group, UNIT, unit)

    @property
    def selector(self) -> str:
        """The label selector that lists every Lease of this group."""
        return f"{GROUP_LABEL}={self._label}"

    # --- membership ------------------------------------------------------------------------------
    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        await self._list()
        if member:
            await self._beat(member, ttl_seconds)
        await self._forget_dead_members(member)
        await self._forget_removed_units()
        now = self._clock()
        live = {
            record.key
            for record in self._leases.values()
            if record.kind == MEMBER
            and not record.problem
            and record.holder == record.key
            and self._live(record, now)
        }
        return sorted(live)

    async def leave(self, member: str) -> None:
        name = self.member_lease(member)
        record = self._leases.pop(name, None)
        # The cached version may be stale (a renewal cut off by the shutdown may still have landed): read
        # the Lease again once when the delete's precondition fails.
        for _ in range(2):
            if record is None:
                status, body = await self._client.call(_GET, self._client.url(name))
                if status == 404:
                    return
                if status != 200:
                    raise failure(_GET, status, body)
                record = self._parse(body)
            if await self._delete(record) != 409:
                return
            record = None

    # --- units -----------------------------------------------------------------------------------
    async def acquire_unit(self, unit: str, holder: str, ttl_seconds: float) -> int:
        name = self.unit_lease(unit)
        record = self._leases.get(name)
        # A malformed Lease has an unknown holder: it is taken over only once it expired.
        taken = record is not None and (bool(record.problem) or record.holder not in ("", holder))
        if record is not None and taken and self._live(record, self._clock()):
            return 0
        floor = (await self._fences.unit_epochs([unit]))[unit]
        epoch = max(record.transitions if record is not None else 0, floor) + 1
        if epoch > MAX_LEASE_TRANSITIONS:
            # Redis unit leases seed epochs at Redis's time in ms (docs/scaling.md, "Limits"); a Lease
            # cannot carry such a term, and a lower one would let the old terms' writes through.
            msg = (
                f"unit {unit!r}: its fencing epoch in the store ({floor}) is beyond what a Lease's"
                " leaseTransitions (int32) can hold; it was leased with Redis unit leases before: stop every"
                " replica and delete the store's unit epoch keys (docs/scaling.md, 'Kubernetes Leases')"
            )
            raise LeaseError(msg, reason="rejected")
        stamp = micro_time(self._wall())
        spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": lease_seconds(ttl_seconds),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": epoch,
        }
        written = await self._write(record, name, UNIT, unit, spec)
        if written is None:
            return 0  # another replica wrote it first: its term, not ours
        # The fence moves before the term is handed out, so no write of this term can precede it.
        current = await self._fences.raise_unit_epoch(unit, epoch)
        if current != epoch:
            log.warning(
                "shard unit term already over in the store", unit=unit, epoch=epoch, store_epoch=current
            )
            return 0
        return epoch

    async def renew_unit(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        return (await self.renew_units({unit: epoch}, holder, ttl_seconds))[unit].renewed

    async def _renew_lease(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        """Extend the unit's Lease for ``holder``'s term ``epoch``; False when the term is not ours."""
        name = self.unit_lease(unit)
        record = self._leases.get(name)
        if record is None or record.problem or record.holder != holder or record.transitions != epoch:
            return False
        spec = dict(_spec(record.body))
        spec.update(
            holderIdentity=holder,
            leaseDurationSeconds=lease_seconds(ttl_seconds),
            renewTime=micro_time(self._wall()),
        )
        return await self._write(record, name, UNIT, unit, spec) is not None

    async def release_unit(self, unit: str, holder: str) -> None:
        name = self.unit_lease(unit)
        status, body = await self._client.call(_GET, self._client.url(name))
        if status == 404:
            return
        if status != 200:
            raise failure(_GET, status, body)
        record = self._parse(body)
        self._observe(record, self._clock())
        if record.problem or record.holder != holder:
            return
        spec = dict(_spec(record.body))
        # Like the leader Lease: an empty holder with a 1 s duration, so the next owner takes it at once.
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=micro_time(self._wall()))
        await self._write(record, name, UNIT, unit, spec)

    async def acquire_units(self, units: Sequence[str], holder: str, ttl_seconds: float) -> dict[str, int]:
        return await self._each(units, lambda unit: self.acquire_unit(unit, holder, ttl_seconds))

    async def renew_units(
        self, terms: Mapping[str, int], holder: str, ttl_seconds: float
    ) -> dict[str, UnitRenewal]:
        written = await self._each(list(terms), lambda u: self._renew_lease(u, holder, terms[u], ttl_seconds))
        # Re-assert the fences after the renewals, all in one store call (docs/scaling.md, "Cost of a
        # round"): a Redis that lost its data gets the terms' epochs back (the Lease, not Redis, is the
        # record of a term), and a later term found there ends ours.
        landed = {unit: terms[unit] for unit, ok in written.items() if ok}
        current = await self._fences.raise_unit_epochs(landed) if landed else {}
        out: dict[str, UnitRenewal] = {}
        lost: list[str] = []
        for unit, epoch in terms.items():
            if unit in landed and current[unit] == epoch:
                out[unit] = UnitRenewal(True, holder, epoch)
                continue
            if unit in landed:
                log.warning(
                    "shard unit term already over in the store",
                    unit=unit,
                    epoch=epoch,
                    store_epoch=current[unit],
                )
            lost.append(unit)
        if lost:
            for unit, (found, epoch) in (await self.unit_holders(lost)).items():
                out[unit] = UnitRenewal(False, found, epoch)
        return out

    async def release_units(self, units: Iterable[str], holder: str) -> None:
        await self._each(list(units), lambda unit: self.release_unit(unit, holder))

    async def _each(self, units: Sequence[str], call: Callable[[str], Awaitable[T]]) -> dict[str, T]:
        """``call`` of every unit, at most `MAX_CONCURRENT_WRITES` at once; the first failure is raised
        once every call has ended (none is left running)."""
        gate = asyncio.Semaphore(MAX_CONCURRENT_WRITES)
        names = list(dict.fromkeys(units))

        async def one(unit: str) -> T:
            async with gate:
                return await call(unit)

        results = await asyncio.gather(*(one(unit) for unit in names), return_exceptions=True)
        out: dict[str, T] = {}
        for unit, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            out[unit] = result
        return out

    async def unit_holders(self, units: Iterable[str]) -> dict[str, tuple[str, int]]:
        now = self._clock()
        out: dict[str, tuple[str, int]] = {}
        for unit in units:
            record = self._leases.get(self.unit_lease(unit))
            if record is None:
                out[unit] = ("", 0)
                continue
            live = bool(record.holder) and not record.problem and self._live(record, now)
            out[unit] = (record.holder if live else "", record.transitions)
        return out

    async def close(self) -> None:
        await self._client.close()

    # --- the Lease objects -----------------------------------------------------------------------
    async def _list(self) -> None:
        status, body = await self._client.call(
            _GET, self._client.collection, params={"labelSelector": self.selector}
        )
        if status != 200:
            raise failure(_LIST, status, body)
        items = body.get("items")
        if not isinstance(items, list):
            msg = f"LIST Leases answered a {body.get('kind') or 'document'} without an items list"
            raise LeaseError(msg, reason="rejected")
        now = self._clock()  # after the answer: a change we see happened before this moment
        leases: dict[str, LeaseRecord] = {}
        for item in items:
            record = self._parse(item)
            if record.name:
                leases[record.name] = record
                self._observe(record, now)
        self._seen = {name: seen for name, seen in self._seen.items() if name in leases}
        self._leases = leases

    async def _beat(self, member: str, ttl_seconds: float) -> None:
        name = self.member_lease(member)
        record = self._leases.get(name)
        stamp = micro_time(self._wall())
        spec: dict[str, Any] = {
            "holderIdentity": member,
            "leaseDurationSeconds": lease_seconds(ttl_seconds),
            "renewTime": stamp,
        }
        if record is None or record.problem or record.holder != member:
            spec.update(acquireTime=stamp, leaseTransitions=record.transitions + 1 if record else 0)
        else:
            spec = {**_spec(record.body), **spec}
        if await self._write(record, name, MEMBER, member, spec) is None:
            msg = f"membership Lease {name} changed while renewing it"
            raise LeaseError(msg, reason="conflict")

    async def _forget_dead_members(self, member: str) -> None:
        """Delete membership Leases of replicas gone for a full lease (pod names do not come back)."""
        now = self._clock()
        await self._forget(
            [
                record
                for record in self._leases.values()
                if record.kind == MEMBER
                and record.key != member
                and not (record.holder and self._live(record, now))
            ],
            "dead member Lease not deleted",
        )

    async def _forget_removed_units(self) -> None:
        """Delete Leases of units no longer configured once nobody holds them (a holder with the older
        configuration, during a rollout, keeps its Lease until it releases it or its lease runs out)."""
        if not self._units:
            return
        now = self._clock()
        await self._forget(
            [
                record
                for record in self._leases.values()
                if record.kind == UNIT
                and not record.problem
                and record.key not in self._units
                and not (record.holder and self._live(record, now))
            ],
            "removed unit Lease not deleted",
        )

    async def _forget(self, records: Sequence[LeaseRecord], failed: str) -> None:
        for record in records:
            if (record.name, record.version) in self._undeletable:
                continue
            try:
                await self._delete(record)
            except LeaseError as exc:
                # Logged once per Lease version (a Role without `delete` would otherwise log every round).
                self._undeletable.add((record.name, record.version))
                log.warning(failed, lease=record.name, reason=exc.reason, detail=exc.detail)
            else:
                self._leases.pop(record.name, None)

    async def _delete(self, record: LeaseRecord) -> int:
        """DELETE ``record`` unless it changed since it was read; the status (404 gone, 409 changed)."""
        # The precondition makes it a no-op when the Lease changed since it was read (a member came back).
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"resourceVersion": record.version},
        }
        status, body = await self._client.call(_DELETE, self._client.url(record.name), options)
        if status not in (200, 202, 404, 409):
            raise failure(_DELETE, status, body)
        return status

    async def _write(
        self, record: LeaseRecord | None, name: str, kind: str, key: str, spec: Mapping[str, Any]
    ) -> LeaseRecord | None:
        """PUT ``spec`` over ``record`` (POST a new Lease without one); None when another writer won."""
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self._namespace,
            "labels": {GROUP_LABEL: self._label, KIND_LABEL: kind},
            "annotations": {KEY_ANNOTATION: key},
        }
        body: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": dict(spec)}
        ok: tuple[int, ...] = (200, 201)
        if record is None:
            method, url = _POST, self._client.collection
        else:
            kept = record.body.get("metadata")
            metadata = {**metadata, **(kept if isinstance(kept, dict) else {})}
            metadata["resourceVersion"] = record.version
            metadata["labels"] = {**_labels(record.body), GROUP_LABEL: self._label, KIND_LABEL: kind}
            annotations = metadata.get("annotations")
            kept_annotations = annotations if isinstance(annotations, dict) else {}
            metadata["annotations"] = {**kept_annotations, KEY_ANNOTATION: key}
            method, url, ok = _PUT, self._client.url(name), (200,)
        body["metadata"] = metadata
        status, answer = await self._client.call(method, url, body)
        if status == 409:
            return None
        if status not in ok:
            raise failure(method, status, answer)
        written = self._parse(answer)
        if written.problem or written.name != name:
            msg = f"{method} Lease {name} answered an unreadable Lease: {written.problem or 'another name'}"
            raise LeaseError(msg, reason="rejected")
        self._leases[name] = written
        self._observe(written, self._clock())
        return written

    def _observe(self, record: LeaseRecord, now: float) -> None:
        seen = self._seen.get(record.name)
        if seen is None or seen[0] != record.version:
            self._seen[record.name] = (record.version, now)

    def _live(self, record: LeaseRecord, now: float) -> bool:
        """Not expired: changed within its own duration, as this process observed it."""
        seen = self._seen.get(record.name)
        if seen is None:
            return True  # never observed yet: it starts its full duration now
        return now < seen[1] + max(1, record.duration)

    def _parse(self, item: object) -> LeaseRecord:
        record = parse_lease(item, self._group)
        if record.problem and (record.name, record.version) not in self._reported:
            self._reported.add((record.name, record.version))
            log.warning("shard Lease malformed", lease=record.name or "(unnamed)", problem=record.problem)
        return record


def parse_lease(item: object, group: str) -> LeaseRecord:
    """A Lease object of the API, of the group named ``group``, as a `LeaseRecord`; what is wrong with it
    goes to ``problem``.

    A record with a problem keeps what could be read: a member with a problem is not live, a unit
    with a problem has no holder until a full lease duration passed without a change and it is taken
    over (rewritten whole).
    """
    if not isinstance(item, dict):
        return LeaseRecord("", "", "", "", 0, 0, "", {}, problem=f"a {type(item).__name__}, not an object")
    metadata = item.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name, version = metadata.get("name"), metadata.get("resourceVersion")
    name = name if isinstance(name, str) else ""
    version = version if isinstance(version, str) else ""
    labels = _labels(item)
    annotations = metadata.get("annotations")
    key = annotations.get(KEY_ANNOTATION) if isinstance(annotations, dict) else None
    kind = labels.get(KIND_LABEL, "")
    spec = item.get("spec")
    problems: list[str] = []
    if not name or not version:
        problems.append("metadata.name or metadata.resourceVersion missing")
    if labels.get(GROUP_LABEL) != group_label(group) or kind not in (MEMBER, UNIT):
        problems.append(f"labels {GROUP_LABEL}/{KIND_LABEL} are not this group's")
    if not isinstance(key, str) or not key:
        problems.append(f"annotation {KEY_ANNOTATION} missing")
        key = ""
    elif name and lease_object_name(group, kind, key) != name:
        problems.append(f"annotation {KEY_ANNOTATION} {key[:80]!r} does not give this name")
    if not isinstance(spec, dict):
        problems.append("spec is not an object")
        spec = {}
    holder = spec.get("holderIdentity", "")
    if not isinstance(holder, str):
        problems.append("spec.holderIdentity is not a string")
        holder = ""
    duration = spec.get("leaseDurationSeconds", 0)
    if not _count(duration):
        problems.append("spec.leaseDurationSeconds is not a whole number")
        duration = 0
    transitions = spec.get("leaseTransitions", 0)
    if not _count(transitions):
        problems.append("spec.leaseTransitions is not a whole number")
        transitions = 0
    return LeaseRecord(
        name, kind, key, holder, int(duration), int(transitions), version, item, problem="; ".join(problems)
    )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _labels(item: Mapping[str, Any]) -> dict[str, Any]:
    metadata = item.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return dict(labels) if isinstance(labels, dict) else {}


def _spec(item: Mapping[str, Any]) -> dict[str, Any]:
    spec = item.get("spec")
    return dict(spec) if isinstance(spec, dict) else {}
