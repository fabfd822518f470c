"""Per-day records kept in the store: a 1-day report is fetched once, reduced, and read back afterwards.

`DayFiles` names one record per day under a prefix (``<prefix>/<YYYY-MM-DD>``) in the `CheckpointStore`,
encoded with `store/codec.py`. A caller asks `get_or_fetch` for a day: a stored record is returned
without touching GitHub; otherwise the caller's fetch runs and its result is stored (an empty result,
such as a 204 day, is stored too, so the day is not asked again). `prune` drops days that left the
window. This module decides nothing about reports: it must not know endpoints, rows or metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Generic, TypeVar

from github_stats_exporter.store import codec
from github_stats_exporter.store.base import CheckpointStore

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 40 * 86400.0
"""A day record outlives the 28-day window with room; one left behind by a removed scope then expires."""


class DayFiles(Generic[T]):
    """Day records of one report of one scope (``kind`` is the record type the codec decodes)."""

    def __init__(
        self, store: CheckpointStore, prefix: str, kind: type[T], ttl_seconds: float = DEFAULT_TTL_SECONDS
    ) -> None:
        if not prefix or prefix.endswith("/"):
            msg = f"prefix must be non-empty without a trailing slash, got {prefix!r}"
            raise ValueError(msg)
        self._store = store
        self.prefix = prefix
        self._kind = kind
        self._ttl = ttl_seconds

    def name(self, day: str) -> str:
        """The checkpoint name of ``day``'s record."""
        date.fromisoformat(day)  # a malformed day must never become a name
        return f"{self.prefix}/{day}"

    async def get(self, day: str) -> T | None:
        """The stored record of ``day``; None when absent or unreadable (then it is fetched again)."""
        raw = await self._store.get_checkpoint(self.name(day))
        if raw is None:
            return None
        try:
            return codec.decode(raw, self._kind)
        except codec.RecordError:
            return None

    async def put(self, day: str, record: T) -> None:
        await self._store.set_checkpoint(self.name(day), codec.encode(record), self._ttl)

    async def get_or_fetch(self, day: str, fetch: Callable[[str], Awaitable[T]]) -> tuple[T, bool]:
        """``day``'s record and whether it was fetched now (False: read from the store)."""
        stored = await self.get(day)
        if stored is not None:
            return stored, False
        record = await fetch(day)
        await self.put(day, record)
        return record, True

    async def days(self) -> list[str]:
        """Days with a stored record, oldest first."""
        names = await self._store.checkpoint_names(self.prefix + "/")
        return sorted(name.rsplit("/", 1)[1] for name in names)

    async def prune(self, oldest: str) -> int:
        """Delete the records of days before ``oldest``; returns how many went."""
        gone = 0
        for day in await self.days():
            if day < oldest:
                await self._store.delete_checkpoint(self.name(day))
                gone += 1
        return gone
