"""A `CollectionStore` whose writes carry one work unit's fence, for the collectors of that unit.

In sharded collection (docs/scaling.md) a collector writes only while its replica holds the unit: each
snapshot put and checkpoint write goes through `UnitLeaseStore.put_fenced` / `set_checkpoint_fenced`
with the epoch of the current term, so a replica whose term ended cannot overwrite the new holder's
work. Without a term (epoch 0) nothing is written. Reads, deletes and budget grants pass straight
through (a delete of a repository that left the org is the same whoever does it; a budget is the
org's). It decides nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import Fence, FencedOut, Store, StoredFragments


class FencedStore:
    """``inner`` with every write fenced by ``unit`` at the epoch ``epoch()`` returns."""

    def __init__(self, inner: Store, unit: str, epoch: Callable[[], int]) -> None:
        self._inner = inner
        self._unit = unit
        self._epoch = epoch

    def _fence(self) -> Fence:
        epoch = self._epoch()
        if epoch <= 0:
            raise FencedOut(self._unit, 0, -1)
        return Fence(self._unit, epoch)

    async def put(self, snapshot: Snapshot) -> int:
        return await self._inner.put_fenced(snapshot, self._fence())

    async def set_checkpoint(self, name: str, value: bytes, ttl_seconds: float | None = None) -> None:
        await self._inner.set_checkpoint_fenced(name, value, ttl_seconds, self._fence())

    async def take_budget(self, name: str, wanted: int, cap: int, ttl_seconds: float) -> int:
        # A budget is the org's, not the unit's: a stale holder's grant only spends what it then uses.
        return await self._inner.take_budget(name, wanted, cap, ttl_seconds)

    async def budget_used(self, name: str) -> int:
        return await self._inner.budget_used(name)

    async def delete(self, key: SnapshotKey) -> None:
        await self._inner.delete(key)

    async def delete_checkpoint(self, name: str) -> None:
        await self._inner.delete_checkpoint(name)

    async def generation(self) -> int:
        return await self._inner.generation()

    async def versions(self) -> dict[SnapshotKey, int]:
        return await self._inner.versions()

    async def keys(self, prefix: SnapshotKey) -> list[SnapshotKey]:
        return await self._inner.keys(prefix)

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        return await self._inner.get_many(keys)

    async def get_fragments(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, StoredFragments]:
        return await self._inner.get_fragments(keys)

    async def series_total(self) -> int:
        return await self._inner.series_total()

    async def get_checkpoint(self, name: str) -> bytes | None:
        return await self._inner.get_checkpoint(name)

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        return await self._inner.get_checkpoints(names)

    async def checkpoint_names(self, prefix: str) -> list[str]:
        return await self._inner.checkpoint_names(prefix)
