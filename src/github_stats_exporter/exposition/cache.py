"""The `/metrics` page cache: reloads only snapshots whose version changed and serves ready bytes.

Only `ExpositionCache.refresh` talks to the store; serving a scrape never touches the store and never
renders more than the small self-metrics part. A changed snapshot is read as the fragments its writer
stored with it (`SnapshotStore.get_fragments`: the page is the list of those fragments under the
family headers, served as they are, and no sample is decoded); a snapshot without fragments (written
by an older version, or by a store without an encoder) or with fragments this version cannot read is
fetched with `get_many` and encoded here. Both paths produce the same bytes. Series that two
snapshots both claim are served once (the first snapshot by key order wins);
`series_index.DuplicateIndex` says which.

Families are owned by one side: a family present in the store's snapshots is rendered from the store
only, and the process's own samples of that family are dropped, so every family stays contiguous.
Store families come first (sorted by name), then the self-metric families (sorted by name).

Self-metric counters are cluster-wide: each refresh lets `cluster_counters.ClusterCounters` flush this
process's increments and fetch the totals to serve; every scrape renders what it serves at that moment.
The cache takes part in no counter protocol itself. Gauges stay per process.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_codec
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from github_stats_exporter.cluster_counters import ClusterCounters, CountersStore
from github_stats_exporter.exposition.compression import gzip_pieces
from github_stats_exporter.exposition.encoder import (
    EOF,
    EncodedSnapshot,
    FragmentsError,
    encode_samples,
    family_header,
    series_hash,
    unpack_fragments,
)
from github_stats_exporter.exposition.negotiation import Format
from github_stats_exporter.exposition.series_index import KEY_MASK, DuplicateIndex, to_index_keys
from github_stats_exporter.metrics import (
    CACHE_REFRESH_DURATION,
    FAMILIES,
    SERIES_LOADED,
    STORE_SERIES,
)
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import SnapshotStore, StoredFragments

log = structlog.get_logger(__name__)

GZIP_LEVEL = 6
_PRECOMPRESS_BYTES = 256 * 1024
"""Below this size compressing on the event loop costs less than handing the work to a thread."""


def _drop_seen(fragment: bytes, duplicates: frozenset[int], seen: set[str]) -> tuple[bytes, int]:
    """Drop lines whose series was already emitted (slow path, only for snapshots holding a duplicate)."""
    kept: list[str] = []
    dropped = 0
    # Split on "\n" only: label values may hold other line separators (\r, U+2028) unescaped.
    for line in str(fragment, "utf-8").split("\n")[:-1]:
        prefix = line.rpartition(" ")[0]
        if series_hash(prefix) & KEY_MASK in duplicates:
            if prefix in seen:
                dropped += 1
                continue
            seen.add(prefix)
        kept.append(line + "\n")
    return "".join(kept).encode("utf-8"), dropped


def _key_order(key: SnapshotKey) -> tuple[str, tuple[str, ...]]:
    return key.kind, key.parts


@dataclass(slots=True)
class _Page:
    """The store part of the page; replaced as a whole, never edited (but for what is cached per format).

    ``families`` lists each family (sorted) with its sample fragments in key order. A format's page is
    the list of its pieces: each family's header, then that family's fragments (slices of the bytes
    read from the store). Nothing joins them into one body; the server sends the pieces as they are.
    """

    families: list[tuple[str, list[bytes]]]
    counts: dict[str, int]
    duplicates: int
    size: int
    by_format: dict[Format, tuple[bytes, ...]] = field(default_factory=dict)
    gzipped: dict[Format, bytes] = field(default_factory=dict)

    @property
    def series(self) -> int:
        return sum(self.counts.values())

    def pieces(self, fmt: Format) -> tuple[bytes, ...]:
        pieces = self.by_format.get(fmt)
        if pieces is None:
            listed: list[bytes] = []
            for name, fragments in self.families:
                listed.append(family_header(FAMILIES[name], fmt))
                listed += fragments
            # Two threads may both build a missing tuple; they build equal ones.
            pieces = self.by_format[fmt] = tuple(listed)
        return pieces

    def gzip(self, fmt: Format) -> bytes:
        head = self.gzipped.get(fmt)
        if head is None:
            head = self.gzipped[fmt] = gzip_pieces(self.pieces(fmt), GZIP_LEVEL)
        return head


def _build_page(
    entries: dict[SnapshotKey, EncodedSnapshot],
    order: list[SnapshotKey],
    index: DuplicateIndex,
) -> _Page:
    duplicates = index.duplicates
    seen: set[str] = set()
    by_family: dict[str, list[bytes]] = {}
    counts: dict[str, int] = {}
    dropped = 0
    for key in order:
        entry = entries[key]
        involved = bool(duplicates) and not duplicates.isdisjoint(entry.hashes)
        for name, fragment in entry.fragments.items():
            count = entry.counts[name]
            if involved:
                fragment, gone = _drop_seen(fragment, duplicates, seen)
                dropped += gone
                count -= gone
            by_family.setdefault(name, []).append(fragment)
            counts[name] = counts.get(name, 0) + count
    families = sorted(by_family.items())
    size = sum(len(fragment) for _, fragments in families for fragment in fragments)
    return _Page(families, counts, dropped, size)


@dataclass(slots=True)
class _State:
    """Everything the cache derives from the store; the thread path builds a new one, the loop swaps it in.

    The entries' ``hashes`` are index keys (`series_index.to_index_keys`), not the stored 64-bit hashes.
    """

    entries: dict[SnapshotKey, EncodedSnapshot] = field(default_factory=dict)
    order: list[SnapshotKey] = field(default_factory=list)
    index: DuplicateIndex = field(default_factory=DuplicateIndex)
    page: _Page | None = None
    encoded: int = 0
    skipped: int = 0


def _unpack(stored: dict[SnapshotKey, StoredFragments]) -> dict[SnapshotKey, EncodedSnapshot]:
    """The fragments this version can read; the others are left out (their snapshots are encoded here).

    Empties ``stored`` as it goes: each stored value can be freed as soon as its lines are copied out,
    so a cold start holds the values and their copies together only one snapshot at a time.
    """
    found: dict[SnapshotKey, EncodedSnapshot] = {}
    for key in list(stored):
        item = stored.pop(key)
        try:
            found[key] = unpack_fragments(item.data, item.version)
        except FragmentsError as exc:
            log.warning("stored_fragments_unreadable", key=str(key), error=str(exc))
    return found


def _apply(
    state: _State,
    loaded: dict[SnapshotKey, EncodedSnapshot],
    fetched: dict[SnapshotKey, Snapshot],
    removed: list[SnapshotKey],
    *,
    copy: bool,
    precompress: frozenset[Format] = frozenset(),
) -> tuple[_State, _Page]:
    """Take the loaded fragments, encode the fetched snapshots, drop the removed ones, rebuild the page.

    With ``copy`` the given state is left untouched (for a worker thread whose result may be discarded).
    """
    encoded = loaded | {key: encode_samples(snap.samples, snap.version) for key, snap in fetched.items()}
    for entry in encoded.values():
        to_index_keys(entry.hashes)  # fresh arrays, owned here
    entries = dict(state.entries) if copy else state.entries
    index = state.index.copy() if copy else state.index
    keys_changed = bool(removed) or any(key not in entries for key in encoded)
    for key in removed:
        del entries[key]
    entries |= encoded
    index.update(entries, encoded, removed)
    order = sorted(entries, key=_key_order) if keys_changed else state.order
    page = _build_page(entries, order, index)
    for fmt in precompress:
        page.gzip(fmt)
    skipped = sum(entry.skipped for entry in encoded.values())
    return _State(entries, order, index, page, state.encoded + len(encoded), state.skipped + skipped), page


class CacheNotReady(RuntimeError):
    """The cache has not completed a refresh yet, so there is no page to serve."""


class PageStore(SnapshotStore, CountersStore, Protocol):
    """What the page cache uses: snapshots, plus what its default `ClusterCounters` needs."""


class ExpositionCache:
    """Pre-rendered `/metrics` bodies, rebuilt from the store only for snapshots whose version changed.

    `refresh` is the only method that talks to the store; `parts` serves bytes built earlier plus the
    small self-metrics part. Work over ``offload_threshold`` samples (or on a page of more than ten
    times that many series) runs in a worker thread so the event loop keeps serving scrapes.

    ``counters`` supplies the cluster-wide counter totals; without it the cache serves the store's
    latest totals as for one replica (`ClusterCounters` without epochs).
    """

    def __init__(
        self,
        store: PageStore,
        self_metrics: SelfMetrics,
        *,
        counters: ClusterCounters | None = None,
        clock: Callable[[], float] = time.time,
        offload_threshold: int = 20000,
    ) -> None:
        self._store = store
        self._counters = (
            counters if counters is not None else ClusterCounters(store, self_metrics, clock=clock)
        )
        self._self_metrics = self_metrics
        self._clock = clock
        self._offload_threshold = offload_threshold
        self._lock = asyncio.Lock()
        self._state = _State()
        self._generation: int | None = None
        self._dirty = False
        self._gzip_wanted: set[Format] = set()
        self._self_key: tuple[int, tuple[int, int], frozenset[str]] | None = None
        self._self_bodies: dict[Format, bytes] = {}
        self.last_success_unixtime: float | None = None

    @property
    def ready(self) -> bool:
        """True once a refresh has succeeded (there is a page to serve)."""
        return self._state.page is not None

    @property
    def series_count(self) -> int:
        """Series in the store part of the page, after dropping duplicates."""
        page = self._state.page
        return page.series if page is not None else 0

    @property
    def duplicate_series(self) -> int:
        """Series left out of the current page because an earlier snapshot (by key order) has them."""
        page = self._state.page
        return page.duplicates if page is not None else 0

    @property
    def encoded_snapshots(self) -> int:
        """Snapshots (re)loaded since start, from fragments or encoded here: a refresh loads only what changed."""
        return self._state.encoded

    @property
    def skipped_samples(self) -> int:
        """Samples never rendered since start: unknown family, or a negative/NaN counter value."""
        return self._state.skipped

    async def refresh(self) -> bool:
        """Bring the page up to date with the store; True when the page changed.

        Store errors propagate after leaving the last good page in place, so a failing store never
        empties `/metrics`; the caller marks health degraded and retries. With nothing changed a
        refresh costs a fixed number of store calls: the generation plus what `ClusterCounters.sync` needs
        (the totals read with one replica).
        """
        async with self._lock:
            started = self._clock()
            generation = await self._store.generation()
            await self._counters.sync()
            state = self._state
            if generation == self._generation and not self._dirty:
                self.last_success_unixtime = self._clock()
                return False
            self._self_metrics.set(STORE_SERIES, None, float(await self._store.series_total()))
            versions = await self._store.versions()
            changed = [
                k for k, v in versions.items() if k not in state.entries or state.entries[k].version != v
            ]
            loaded = _unpack(await self._store.get_fragments(changed)) if changed else {}
            missing = [k for k in changed if k not in loaded]
            fetched = await self._store.get_many(missing) if missing else {}
            # Keys listed by versions() but gone by the reads were deleted in between. A set, not the
            # list: a membership test per page entry in a list of thousands stalled the loop for seconds.
            changed_keys = set(changed)
            removed = [
                k
                for k in state.entries
                if k not in versions or (k in changed_keys and k not in loaded and k not in fetched)
            ]
            if not loaded and not fetched and not removed and not self._dirty and state.page is not None:
                self._generation = generation
                self.last_success_unixtime = self._clock()
                return False
            # Encoding costs per sample; concatenating loaded fragments costs per byte, far less.
            work = (
                sum(len(snap.samples) for snap in fetched.values())
                + sum(len(entry.hashes) for entry in loaded.values()) // 10
            )
            page_series = state.page.series if state.page is not None else 0
            if work >= self._offload_threshold or page_series >= 10 * self._offload_threshold:
                state, page = await asyncio.to_thread(
                    _apply,
                    state,
                    loaded,
                    fetched,
                    removed,
                    copy=True,
                    precompress=frozenset(self._gzip_wanted),
                )
            else:
                # In place is safe: nothing awaits between the first change and the swap below, and if
                # _apply raises half-way the dirty flag forces a rebuild on the next refresh.
                self._dirty = True
                state, page = _apply(state, loaded, fetched, removed, copy=False)
            self._commit(state, page, generation, started)
            await self._precompress(page)
            return True

    async def _precompress(self, page: _Page) -> None:
        """Gzip a large new page off the loop for formats scrapers asked gzipped, so they do not wait."""
        wanted = [f for f in self._gzip_wanted if f not in page.gzipped]
        if not wanted or page.size < _PRECOMPRESS_BYTES:
            return
        await asyncio.to_thread(lambda: [page.gzip(f) for f in wanted])

    def _commit(self, state: _State, page: _Page, generation: int, started: float) -> None:
        old_page = self._state.page
        self._state = state
        self._generation = generation
        self._dirty = False
        for name in (old_page.counts.keys() if old_page is not None else set()) - page.counts.keys():
            self._self_metrics.remove(SERIES_LOADED, {"metric": name})
        for name, count in page.counts.items():
            self._self_metrics.set(SERIES_LOADED, {"metric": name}, float(count))
        now = self._clock()
        self._self_metrics.set(CACHE_REFRESH_DURATION, None, max(0.0, now - started))
        self.last_success_unixtime = now

    def body(self, fmt: Format, gzip: bool = False) -> bytes:
        """The full page as one bytes object (a copy): store part, self-metrics part and, for OpenMetrics, ``# EOF``.

        With ``gzip`` the result is two gzip members (cached store part, fresh small tail); RFC 1952
        readers decode a multi-member stream to the concatenation of the members. The server uses
        `parts`, which copies nothing.
        """
        pieces, tail = self.parts(fmt, gzip)
        return b"".join((*pieces, tail))

    def parts(self, fmt: Format, gzip: bool = False) -> tuple[tuple[bytes, ...], bytes]:
        """The page as the cached store part's pieces and a small fresh tail.

        The pieces are the page's own bytes (family headers and slices of the stored fragments); with
        ``gzip`` they are one compressed member. The first gzip request after a small refresh
        compresses on the caller's thread; later refreshes precompress in the worker thread for
        formats that were asked for gzipped.
        """
        page = self._state.page
        if page is None:
            msg = "the exposition cache has not completed a refresh yet"
            raise CacheNotReady(msg)
        tail = self._self_part(page)[fmt]
        if not gzip:
            return page.pieces(fmt), tail
        self._gzip_wanted.add(fmt)
        return (page.gzip(fmt),), gzip_codec.compress(tail, GZIP_LEVEL, mtime=0)

    def _self_part(self, page: _Page) -> dict[Format, bytes]:
        owned = frozenset(page.counts)
        # Asked at every scrape: with epochs the served totals switch at a wall-clock moment, not a refresh.
        key = (self._self_metrics.generation, self._counters.served_version(), owned)
        if key != self._self_key:
            samples = [s for s in self._self_metrics.gauge_samples() if s.name not in owned]
            totals = self._counters.served_totals()
            samples += [Sample(name, labels, v) for (name, labels), v in totals.items() if name not in owned]
            # Series in a fixed order: replicas hold the same totals in different dict orders, and
            # every replica must serve the same bytes (docs/metrics.md).
            samples.sort(key=lambda s: (s.name, s.labels))
            part = _build_page({_SELF: encode_samples(samples)}, [_SELF], DuplicateIndex())
            self._self_bodies = {
                Format.OPENMETRICS: b"".join((*part.pieces(Format.OPENMETRICS), EOF)),
                Format.TEXT: b"".join(part.pieces(Format.TEXT)),
            }
            self._self_key = key
        return self._self_bodies


_SELF = SnapshotKey("self")
