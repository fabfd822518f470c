"""Snapshot fragments across a rolling upgrade, on a real Redis: an older writer's snapshots are served.

An exporter from before fragments existed writes a snapshot hash with ``v``, ``n`` and ``d`` only (its
put script is reproduced below, byte for byte). Its snapshots must be served by a new replica (decode +
encode), and when it rewrites a snapshot that a new writer had stored with fragments, the stale
fragments it cannot remove must never be served.
"""

from __future__ import annotations

import msgspec
import pytest
from redis.asyncio import Redis
from tests.support.redis_server import RedisProcess

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import ExpositionCache, Format, pack_snapshot
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = pytest.mark.integration

WIDGETS = SnapshotKey("activity", ("acme", "widgets"))
GADGETS = SnapshotKey("activity", ("acme", "gadgets"))
OLD_ONLY = SnapshotKey("activity", ("acme", "old-only"))

PREVIOUS_RELEASE_PUT = """
local field, n, budget, ttl = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local added = n - tonumber(redis.call('HGET', KEYS[3], field) or '0')
if budget > 0 and added > 0 and tonumber(redis.call('GET', KEYS[5]) or '0') + added > budget then
  redis.call('HINCRBYFLOAT', KEYS[6], ARGV[6], added)
  return {-1, added}
end
local v = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], 'v', v, 'n', n, 'd', ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
redis.call('HSET', KEYS[2], field, v)
redis.call('HSET', KEYS[3], field, n)
redis.call('INCRBY', KEYS[5], added)
return {v, 0}
"""


def activity(key: SnapshotKey, *users: str, value: float = 1) -> Snapshot:
    samples = tuple(
        m.ACTIVITY_COMMITS.sample(value, {"org": "acme", "repo": key.parts[-1], "user": u}) for u in users
    )
    return Snapshot(key, samples, 1000.0)


async def old_put(client: Redis, prefix: str, snapshot: Snapshot) -> None:
    """A put as the previous release did it (documented key model: JSON field, msgpack payload)."""
    field = msgspec.json.encode((snapshot.key.kind, *snapshot.key.parts)).decode()
    payload = msgspec.msgpack.encode((snapshot.produced_at, snapshot.meta, snapshot.samples))
    refused = msgspec.json.encode((m.STORE_SERIES_REFUSED.name, (("kind", snapshot.key.kind),)))
    keys = [
        f"{prefix}:snap:{field}",
        *(f"{prefix}:{k}" for k in ("index", "nseries", "gen", "series", "counters")),
    ]
    args: list[str | bytes | int] = [field, payload, len(snapshot.samples), 0, 0, refused]
    await client.eval(PREVIOUS_RELEASE_PUT, len(keys), *keys, *args)


async def test_a_new_replica_serves_an_older_writers_snapshots_and_never_stale_fragments(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """Mixed old and new writes give the page a memory store with the final data gives; no stale series."""
    client = Redis(host="127.0.0.1", port=redis_server.port)
    async with RedisSnapshotStore.standalone(
        "127.0.0.1", redis_server.port, key_prefix=key_prefix, fragments=pack_snapshot
    ) as new_writer:
        await new_writer.put(activity(WIDGETS, "alice"))
        await new_writer.put(activity(GADGETS, "bob"))
        await old_put(client, key_prefix, activity(WIDGETS, "carol", value=3))  # leaves alice's fragments
        await old_put(client, key_prefix, activity(OLD_ONLY, "dora", value=2))
        replica = ExpositionCache(new_writer, SelfMetrics())
        await replica.refresh()
        assert set(await new_writer.get_fragments([WIDGETS, GADGETS, OLD_ONLY])) == {GADGETS}
        reference_store = MemorySnapshotStore()
        for snap in (
            activity(WIDGETS, "carol", value=3),
            activity(GADGETS, "bob"),
            activity(OLD_ONLY, "dora", value=2),
        ):
            await reference_store.put(snap)
        reference = ExpositionCache(reference_store, SelfMetrics())
        await reference.refresh()
        for fmt in Format:
            assert b"".join(replica.parts(fmt)[0]) == b"".join(reference.parts(fmt)[0])
        assert b'user="alice"' not in b"".join(replica.parts(Format.TEXT)[0])
        # The new writer takes the snapshot back: fragments again, and the page follows.
        await new_writer.put(activity(WIDGETS, "erin", value=5))
        assert await replica.refresh()
        assert set(await new_writer.get_fragments([WIDGETS])) == {WIDGETS}
        assert b'gh_activity_commits_24h{org="acme",repo="widgets",user="erin"} 5\n' in replica.body(
            Format.TEXT
        )
    await client.aclose()
