"""Bounded LRU cache of ETags and raw response bodies, keyed by the exact request URL (query included).

A cached entry lets the client send ``If-None-Match``; a 304 answer (free for the primary rate
limit) then stands for the stored body, which the client decodes again. Bodies are kept as the
bytes that arrived and headers as pairs of strings, never as parsed JSON or a multidict: a parsed
page is about ten objects the cyclic garbage collector scans on every full collection (1.7 million
in a process collecting 20,000 repositories, docs/benchmarks.md "Event-loop stalls"), while bytes
are one object it does not track.
The bound grows with the org: a steady cycle asks every cached URL once, in the same order, so an
LRU cache even slightly smaller than that working set misses on every request (each 304 becomes a
200 that costs rate limit). The client raises the bound from the org's repository count
(`GitHubClient.fit_etag_cache`; docs/configuration.md, `github.etag_cache_entries`).
Process memory only; it does no I/O and never stores request headers (so no credentials end up here).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """What a 304 stands for: the validator and the raw body and headers of the original 200."""

    etag: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    """The 200's headers as (name, value) pairs: tuples of strings, which the GC stops tracking."""


class ETagCache:
    """Least-recently-used map from URL to `CachedResponse`, holding at most ``max_entries``."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self.evictions = 0
        """Entries dropped to stay within the bound, since the cache was made."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        return self._max

    def resize(self, max_entries: int) -> None:
        """Hold at most ``max_entries`` from now on; a lower bound drops the least recently used at once."""
        self._max = max(0, max_entries)
        self._trim()

    def get(self, url: str) -> CachedResponse | None:
        entry = self._entries.get(url)
        if entry is not None:
            self._entries.move_to_end(url)
        return entry

    def put(self, url: str, entry: CachedResponse) -> None:
        if self._max <= 0:
            return
        self._entries[url] = entry
        self._entries.move_to_end(url)
        self._trim()

    def _trim(self) -> None:
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
            self.evictions += 1

    def discard(self, url: str) -> None:
        self._entries.pop(url, None)
