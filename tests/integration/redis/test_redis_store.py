"""The Redis store and the page cache against real Redis: Sentinel, outages, restarts, shared totals."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.redis_server import RedisProcess, free_port, send_command

from github_stats_exporter import metrics as m
from github_stats_exporter.cluster_counters import ClusterCounters
from github_stats_exporter.exposition import ExpositionCache, Format, pack_snapshot
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = pytest.mark.integration

MASTER_SET = "gse-test"
WIDGETS = SnapshotKey("activity", ("acme", "widgets"))
GADGETS = SnapshotKey("activity", ("acme", "gadgets"))


def activity(key: SnapshotKey, *users: str, value: float = 1) -> Snapshot:
    samples = tuple(
        m.ACTIVITY_COMMITS.sample(value, {"org": "acme", "repo": key.parts[-1], "user": u}) for u in users
    )
    return Snapshot(key, samples, 1000.0)


def standalone(server: RedisProcess, prefix: str) -> RedisSnapshotStore:
    return RedisSnapshotStore.standalone("127.0.0.1", server.port, key_prefix=prefix)


async def test_sentinel_mode_finds_the_master_and_serves_the_contract(
    sentinel_setup: tuple[RedisProcess, RedisProcess], key_prefix: str
) -> None:
    """A store built from the Sentinel address writes to the master Sentinel names and reads back."""
    master, sentinel = sentinel_setup
    async with RedisSnapshotStore.sentinel(
        [("127.0.0.1", sentinel.port)], MASTER_SET, key_prefix=key_prefix
    ) as store:
        version = await store.put(activity(WIDGETS, "alice", "bob"))
        assert await store.versions() == {WIDGETS: version}
        assert len((await store.get_many([WIDGETS]))[WIDGETS].samples) == 2
    assert f"{key_prefix}:index".encode() in send_command(master.port, "KEYS", f"{key_prefix}:*")


async def test_sentinel_mode_with_no_reachable_sentinel_is_unavailable(key_prefix: str) -> None:
    """Without a reachable Sentinel every call fails with StoreUnavailable, never silently."""
    async with RedisSnapshotStore.sentinel(
        [("127.0.0.1", free_port())], MASTER_SET, key_prefix=key_prefix
    ) as store:
        with pytest.raises(StoreUnavailable):
            await store.ping()


async def test_startup_with_redis_down_is_not_ready_until_redis_comes(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """A cache on an unreachable Redis has no page (not ready) and becomes ready once Redis answers."""
    redis_server.stop()
    async with standalone(redis_server, key_prefix) as store:
        cache = ExpositionCache(store, SelfMetrics())
        with pytest.raises(StoreUnavailable):
            await cache.refresh()
        readiness = [cache.ready]
        redis_server.start()
        await store.put(activity(WIDGETS, "alice"))
        await cache.refresh()
        readiness.append(cache.ready)
        assert readiness == [False, True]
        assert b'user="alice"' in cache.body(Format.TEXT)


async def test_restart_keeps_serving_and_loses_nothing(redis_server: RedisProcess, key_prefix: str) -> None:
    """While Redis restarts the cache serves its last page; afterwards data, versions and counters are intact."""
    self_metrics = SelfMetrics()
    async with standalone(redis_server, key_prefix) as store:
        cache = ExpositionCache(store, self_metrics)
        await store.put(activity(WIDGETS, "alice", "bob", value=3))
        await store.put(activity(GADGETS, "carol"))
        self_metrics.inc(m.HTTP_REQUESTS, {"path": "/metrics", "code": "200"}, 4)
        await cache.refresh()
        page = cache.body(Format.OPENMETRICS)
        versions = await store.versions()

        redis_server.stop()
        self_metrics.inc(m.HTTP_REQUESTS, {"path": "/metrics", "code": "200"})
        with pytest.raises(StoreUnavailable):
            await cache.refresh()
        assert cache.ready
        assert cache.body(Format.OPENMETRICS).split(b"gh_exporter_")[0] == page.split(b"gh_exporter_")[0]
        with pytest.raises(StoreUnavailable):
            await store.put(activity(WIDGETS, "dora"))

        redis_server.start()
        await cache.refresh()
        assert await store.versions() == versions
        assert cache.body(Format.OPENMETRICS).split(b"gh_exporter_")[0] == page.split(b"gh_exporter_")[0]
        newer = await store.put(activity(WIDGETS, "dora"))
        assert newer > max(versions.values())
        await cache.refresh()
        assert b'user="dora"' in cache.body(Format.TEXT)
        totals = await store.counters()
        assert totals[(m.HTTP_REQUESTS.name, (("path", "/metrics"), ("code", "200")))] == 5


async def test_two_caches_on_one_redis_serve_identical_store_bytes(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """Two replicas' caches render byte-identical business series and the same cluster counter totals."""
    async with standalone(redis_server, key_prefix) as writer:
        for i in range(30):
            await writer.put(activity(SnapshotKey("activity", ("acme", f"r{i}")), "alice", f"u{i}", value=i))
    metrics_a, metrics_b = SelfMetrics(), SelfMetrics()
    async with (
        standalone(redis_server, key_prefix) as store_a,
        standalone(redis_server, key_prefix) as store_b,
    ):
        cache_a, cache_b = ExpositionCache(store_a, metrics_a), ExpositionCache(store_b, metrics_b)
        metrics_a.inc(m.HTTP_REQUESTS, {"path": "/metrics", "code": "200"}, 2)
        metrics_b.inc(m.HTTP_REQUESTS, {"path": "/metrics", "code": "200"}, 5)
        for cache in (cache_a, cache_b, cache_a):
            await cache.refresh()
        body_a, body_b = cache_a.body(Format.OPENMETRICS), cache_b.body(Format.OPENMETRICS)
        business = [line for line in body_a.splitlines() if line.startswith(b"gh_activity_")]
        assert len(business) == 60
        assert business == [line for line in body_b.splitlines() if line.startswith(b"gh_activity_")]
        line = b'gh_exporter_http_requests_total{path="/metrics",code="200"} 7'
        assert line in body_a.splitlines()
        assert line in body_b.splitlines()


async def test_gc_forgets_expired_snapshots_and_the_page_drops_them(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """After retention an unrefreshed snapshot leaves the page; gc cleans the index and series count."""
    async with RedisSnapshotStore.standalone(
        "127.0.0.1", redis_server.port, key_prefix=key_prefix, retention_seconds=0.1
    ) as store:
        cache = ExpositionCache(store, SelfMetrics())
        await store.put(activity(WIDGETS, "alice"))
        await cache.refresh()
        assert b'user="alice"' in cache.body(Format.TEXT)
        await asyncio.sleep(0.15)
        assert await store.gc(0) == 1
        assert await store.series_total() == 0
        await cache.refresh()
        assert b'user="alice"' not in cache.body(Format.TEXT)


async def test_a_redis_that_refuses_writes_shows_in_the_flush_failing_gauge(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """Redis at maxmemory (reads work, writes refused): the per-process gauge grows, and 0 once writes return."""
    now = [1_000_000.0]
    self_metrics = SelfMetrics()
    labels = {"path": "/metrics", "code": "200"}
    async with standalone(redis_server, key_prefix) as store:
        counters = ClusterCounters(store, self_metrics, epoch_seconds=30, clock=lambda: now[0])
        self_metrics.inc(m.HTTP_REQUESTS, labels, 2)
        await counters.sync()
        assert self_metrics.value(m.STORE_FLUSH_FAILING) == 0
        assert send_command(redis_server.port, "CONFIG", "SET", "maxmemory", "1").startswith(b"+OK")
        try:
            self_metrics.inc(m.HTTP_REQUESTS, labels)
            seen = []
            for _ in range(3):
                with pytest.raises(StoreUnavailable, match="OutOfMemoryError"):
                    await counters.sync()
                seen.append(self_metrics.value(m.STORE_FLUSH_FAILING))
                now[0] += 30
            assert seen == [0, 30, 60]
            assert await store.generation() >= 0  # reads still answer: only the flush fails
        finally:
            send_command(redis_server.port, "CONFIG", "SET", "maxmemory", "0")
        await counters.sync()
        assert self_metrics.value(m.STORE_FLUSH_FAILING) == 0
        assert (await store.counters())[(m.HTTP_REQUESTS.name, tuple(labels.items()))] == 3


async def test_a_replica_reads_fragments_in_batches_into_the_same_page(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """Fragments of more snapshots than one read batch holds build the page a memory store builds, in both formats."""
    snaps = [
        activity(SnapshotKey("activity", ("acme", f"r{i:03}")), "alice", f"u{i}", value=i) for i in range(250)
    ]
    reference_store = MemorySnapshotStore(fragments=pack_snapshot)
    async with RedisSnapshotStore.standalone(
        "127.0.0.1", redis_server.port, key_prefix=key_prefix, fragments=pack_snapshot
    ) as writer:
        for snap in snaps:
            await writer.put(snap)
            await reference_store.put(snap)
        gone = SnapshotKey("activity", ("acme", "never-written"))
        found = await writer.get_fragments([gone, *(s.key for s in snaps)])
        assert set(found) == {s.key for s in snaps}
    async with standalone(redis_server, key_prefix) as store:
        replica = ExpositionCache(store, SelfMetrics())
        reference = ExpositionCache(reference_store, SelfMetrics())
        await replica.refresh()
        await reference.refresh()
        assert replica.series_count == 500
        for fmt in Format:
            assert b"".join(replica.parts(fmt)[0]) == b"".join(reference.parts(fmt)[0])
            assert replica.parts(fmt, gzip=True)[0] == reference.parts(fmt, gzip=True)[0]
