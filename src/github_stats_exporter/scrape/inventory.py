"""Which repositories of an org may still have a stored snapshot of one kind, for the collectors' cleanup.

A collector deletes the snapshots of repositories that left its selection. Asking the store for the
org's keys scans its whole snapshot index (in Redis, thousands of fields), so `SnapshotInventory`
asks at most once per `RELIST_SECONDS` and in between keeps the answer up to date from what the
collector tells it: the names it selected, and the ones it removed. The hourly listing still finds
snapshots another replica wrote while it held the unit (docs/benchmarks.md, "One key scan an hour").
`sweep` runs the cleanup the same way for every collector: a store that fails delays a removal, never
the collector's pass. This module keeps names and calls the collector's removal; it deletes nothing
itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set

import structlog

from github_stats_exporter.model import SnapshotKey
from github_stats_exporter.store.base import SnapshotStore, StoreError

log = structlog.get_logger(__name__)

RELIST_SECONDS = 3600.0
"""How often the org's stored keys are listed again."""


class SnapshotInventory:
    """Repositories of ``org`` that may have a ``kind`` snapshot: the store's last listing, plus what was selected since."""

    def __init__(self, store: SnapshotStore, kind: str, org: str, clock: Callable[[], float]) -> None:
        self._store = store
        self._kind = kind
        self._org = org
        self._prefix = SnapshotKey(kind, (org,))
        self._clock = clock
        self._known: set[str] | None = None
        self._listed_at = -float("inf")

    async def missing(self, current: Set[str]) -> list[str]:
        """The known repositories not in ``current``, sorted; lists the store first when it is time.

        A `StoreError` from the listing propagates, and the next call lists again.
        """
        now = self._clock()
        if self._known is None or now - self._listed_at >= RELIST_SECONDS:
            stored = await self._store.keys(self._prefix)
            self._known = {key.parts[1] for key in stored if len(key.parts) == 2}
            self._listed_at = now
        return sorted(self._known - current)

    def forget(self, repo: str) -> None:
        """``repo``'s snapshot is gone (a removal that fails is not forgotten, so it is tried again)."""
        if self._known is not None:
            self._known.discard(repo)

    def remember(self, selected: Set[str]) -> None:
        """These repositories are selected now, so they may have a snapshot from here on."""
        if self._known is not None:
            self._known |= selected

    async def sweep(self, current: Set[str], remove: Callable[[str], Awaitable[None]]) -> None:
        """``remove`` every known repository not in ``current``, then remember ``current``.

        A listing or a removal that raises `StoreError` is logged and tried again on the next sweep;
        the caller's pass goes on either way.
        """
        try:
            gone = await self.missing(current)
        except StoreError as exc:
            log.warning(f"{self._kind} snapshot inventory unavailable", org=self._org, error=str(exc))
            gone = []
        for repo in gone:
            try:
                await remove(repo)
            except StoreError as exc:
                log.warning(
                    f"{self._kind} snapshot of a removed repo kept", org=self._org, repo=repo, error=str(exc)
                )
                continue
            self.forget(repo)
        self.remember(current)
