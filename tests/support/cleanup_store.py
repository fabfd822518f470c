"""A memory store that counts key listings and snapshot deletes, and can refuse the next deletes.

For the collectors' cleanup tests: what left the selection is deleted once, a refused delete is tried
again, and the store's keys are listed only now and then (a listing scans the whole snapshot index).
"""

from __future__ import annotations

from github_stats_exporter.model import SnapshotKey
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore


class CleanupCountingStore(MemorySnapshotStore):
    """`MemorySnapshotStore` with ``listings`` and ``deletes`` counted; the next ``failing`` deletes raise,
    and so does every listing while ``listing_fails``."""

    listings = 0
    deletes = 0
    failing = 0
    listing_fails = False

    async def keys(self, prefix: SnapshotKey) -> list[SnapshotKey]:
        self.listings += 1
        if self.listing_fails:
            msg = "redis is restarting"
            raise StoreUnavailable(msg)
        return await super().keys(prefix)

    async def delete(self, key: SnapshotKey) -> None:
        self.deletes += 1
        if self.failing:
            self.failing -= 1
            msg = "redis is restarting"
            raise StoreUnavailable(msg)
        await super().delete(key)
