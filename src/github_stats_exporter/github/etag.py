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
`ETagCache` is process memory and does no I/O. `SharedResponses` keeps the same entries in the store
for every replica (docs/scaling.md, "Shared ETags"): a replica that takes over a unit, or lists an org
another replica listed, then asks with the validator the cluster last saw. Neither ever stores request
headers, so no credentials end up in a cache.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import msgspec
import structlog

from github_stats_exporter.store.base import StoreError

log = structlog.get_logger(__name__)

SHARED_FORMAT = 1
"""Version of the encoding `encode_entry` writes; a value of another version is ignored (a miss)."""


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """What a 304 stands for: the validator and the raw body and headers of the original 200."""

    etag: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    """The 200's headers as (name, value) pairs: tuples of strings, which the GC stops tracking."""
    shared_at: float = 0.0
    """When this process last wrote or read the entry in the shared store (0: never)."""


_Kept = tuple[str, bytes, tuple[tuple[str, str], ...], float]
"""A `CachedResponse` as the cache holds it: the fields in a plain tuple."""


class ETagCache:
    """Least-recently-used map from URL to `CachedResponse`, holding at most ``max_entries``.

    Entries are held as plain tuples of their fields, not as `CachedResponse` objects: a process keeps
    one per URL it asks (tens of thousands), and the cyclic garbage collector stops tracking a tuple of
    strings, bytes and numbers after one pass, while it scans every dataclass instance on every full
    collection (docs/benchmarks.md, "Fewer objects for the garbage collector").
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, _Kept] = OrderedDict()
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
        kept = self._entries.get(url)
        if kept is None:
            return None
        self._entries.move_to_end(url)
        return CachedResponse(*kept)

    def put(self, url: str, entry: CachedResponse) -> None:
        if self._max <= 0:
            return
        self._entries[url] = (entry.etag, entry.body, entry.headers, entry.shared_at)
        self._entries.move_to_end(url)
        self._trim()

    def _trim(self) -> None:
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
            self.evictions += 1

    def discard(self, url: str) -> None:
        self._entries.pop(url, None)


class _SharedEntry(msgspec.Struct, array_like=True):
    version: int
    etag: str
    headers: list[tuple[str, str]]
    body: bytes


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_SharedEntry)


def encode_entry(entry: CachedResponse) -> bytes:
    """The stored form of an entry: msgpack of (version, etag, headers, body), compressed.

    Level 1 zlib: JSON listings shrink several times over at a fraction of a millisecond per page,
    and the store holds one value per URL of every org (docs/scaling.md, "Shared ETags").
    """
    packed = _ENCODER.encode(
        _SharedEntry(SHARED_FORMAT, entry.etag, [(str(k), str(v)) for k, v in entry.headers], entry.body)
    )
    return zlib.compress(packed, 1)


def decode_entry(value: bytes) -> CachedResponse | None:
    """The entry `encode_entry` wrote, or None for a value this version cannot read (never raises)."""
    try:
        entry = _DECODER.decode(zlib.decompress(value))
    except (zlib.error, msgspec.DecodeError):
        return None
    if entry.version != SHARED_FORMAT or not entry.etag:
        return None
    return CachedResponse(entry.etag, entry.body, tuple((str(k), str(v)) for k, v in entry.headers))


def url_key(url: str) -> str:
    """The store key of a URL: a digest, so keys stay short and carry no query string into the store."""
    return hashlib.blake2b(url.encode(), digest_size=16).hexdigest()


class ResponseExchange(Protocol):
    """Where replicas keep shared answers (`store.base.ResponseStore` is one)."""

    async def get_response(self, scope: str, key: str, ttl_seconds: float) -> bytes | None: ...

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None: ...


WRITE_BATCH = 64
"""Entries written to the store in one round trip; a cold start writes one per request it makes."""
WRITE_DELAY = 1.0
"""Seconds an entry may wait for its batch: the next request of the org after that writes it."""
MISS_STREAK = 64
"""Lookups in a row that found nothing, after which only every `SAMPLE_EVERY`-th URL is looked up."""
SAMPLE_EVERY = 16


class SharedResponses:
    """The ETag cache entries of one org kept in the store for every replica.

    Entries are written in batches (`WRITE_BATCH`, or `WRITE_DELAY` after the oldest was queued, by the
    next `put` or `flush_due`; `flush` at shutdown) rather than one awaited write per request. An
    entry still queued when the process dies is lost, which costs its next asker one full request.
    Lookups are sampled while they keep missing (`MISS_STREAK`, then one URL in `SAMPLE_EVERY`): in a
    cold start, or for the new URLs of a steady cycle, nobody has an entry, and a read per request
    (with a write per request) made a cold start 16 to 20 % slower, 2 % with batches and sampling
    (docs/benchmarks.md, on shared ETags). The first sampled hit (a unit that moved here) restores
    every lookup. Every failure is a miss: a store that is down or a value that does not decode costs
    one full request, never a failed one.
    """

    def __init__(
        self,
        exchange: ResponseExchange,
        scope: str,
        ttl: float = 86_400.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.exchange = exchange
        self.scope = scope
        """The org (with its installation): answers depend on who asks, so scopes never mix."""
        self.ttl = ttl
        """An entry nobody reads or writes for this long is forgotten; a user re-writes it after half."""
        self._clock = clock
        self._queued: dict[str, bytes] = {}
        self._queued_at = 0.0
        self._misses = 0
        self._unasked = 0

    def worth_asking(self) -> bool:
        """Whether to look the next URL up: always, unless the last `MISS_STREAK` lookups all missed."""
        if self._misses < MISS_STREAK:
            return True
        self._unasked += 1
        if self._unasked < SAMPLE_EVERY:
            return False
        self._unasked = 0
        return True

    async def get(self, url: str) -> CachedResponse | None:
        """The entry the cluster last stored for ``url`` (its TTL reset), or None."""
        key = url_key(url)
        queued = self._queued.get(key)
        try:
            value = (
                queued if queued is not None else await self.exchange.get_response(self.scope, key, self.ttl)
            )
        except StoreError as exc:
            log.warning("shared etag not read", scope=self.scope, error=str(exc))
            return None
        entry = None if value is None else decode_entry(value)
        if value is not None and entry is None:
            log.warning("shared etag ignored: unreadable value", scope=self.scope)
        return entry

    def tally(self, hit: bool) -> None:
        """Count a lookup made for a URL this process had no entry for (what `worth_asking` decides on)."""
        self._misses = 0 if hit else self._misses + 1

    async def put(self, url: str, entry: CachedResponse) -> None:
        """Queue ``entry`` for ``url``; writes the batch when it is full or due."""
        if not self._queued:
            self._queued_at = self._clock()
        self._queued[url_key(url)] = encode_entry(entry)
        await self.flush_due()

    async def flush_due(self) -> None:
        """Write the queued entries if the batch is full or its oldest entry waited `WRITE_DELAY`."""
        if len(self._queued) >= WRITE_BATCH or (
            self._queued and self._clock() - self._queued_at >= WRITE_DELAY
        ):
            await self.flush()

    async def flush(self) -> None:
        """Write every queued entry now (logged and dropped when the store refuses: a cache)."""
        batch, self._queued = self._queued, {}
        if not batch:
            return
        try:
            await self.exchange.put_responses(self.scope, batch, self.ttl)
        except StoreError as exc:
            log.warning("shared etags not written", scope=self.scope, entries=len(batch), error=str(exc))

    def stale(self, entry: CachedResponse, now: float) -> bool:
        """True when ``entry`` was last seen in the store over half a TTL ago: time to write it again."""
        return now - entry.shared_at >= self.ttl / 2
