"""Unit fencing epochs across a Redis that restarts without its data (docs/scaling.md, "Limits").

A replica's term of a unit lives in its memory; the unit's epoch lives in Redis. When Redis restarts
empty, a new holder's first epoch must still be above every epoch handed out before the loss: a replica
that kept an old term (it was paused, or had not renewed yet) must have its writes refused, not
accepted because the restarted counter happens to reach its old number again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.redis_server import RedisProcess

from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.base import Fence, FencedOut
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = pytest.mark.integration

UNIT = "repos:org/acme#0/2"
KEY = SnapshotKey("activity", ("acme", "api"))


def snapshot(value: float) -> Snapshot:
    return Snapshot(KEY, (Sample("gh_activity_commits_24h", (("org", "acme"),), value),), 1000.0)


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server without persistence: a restart loses every key."""
    server = RedisProcess(tmp_path / "volatile").start()
    try:
        yield server
    finally:
        server.stop()


def replica(server: RedisProcess, prefix: str) -> RedisSnapshotStore:
    return RedisSnapshotStore.standalone("127.0.0.1", server.port, key_prefix=prefix)


async def test_a_term_from_before_a_data_loss_is_never_current_again(
    volatile_redis: RedisProcess, key_prefix: str
) -> None:
    """After Redis restarts empty, every new term's epoch is above the old term's, whose writes are refused."""
    async with replica(volatile_redis, key_prefix) as r1:
        old = await r1.acquire_unit(UNIT, "r1", 30.0)
        assert old > 0
        await r1.put_fenced(snapshot(1), Fence(UNIT, old))

    volatile_redis.stop()
    volatile_redis.start()  # empty: no lease, no epoch, no snapshot

    async with replica(volatile_redis, key_prefix) as r1, replica(volatile_redis, key_prefix) as r2:
        assert await r2.unit_epochs([UNIT]) == {UNIT: 0}
        terms = []
        for _ in range(3):  # the unit moves a few times after the loss
            terms.append(await r2.acquire_unit(UNIT, "r2", 30.0))
            await r2.release_unit(UNIT, "r2")
        current = await r2.acquire_unit(UNIT, "r2", 30.0)
        assert all(term > old for term in [*terms, current]), (old, terms, current)
        assert terms == sorted(set(terms))
        # r1 still believes in its old term: refused, whatever the unit's history since the loss.
        with pytest.raises(FencedOut) as refused:
            await r1.put_fenced(snapshot(666), Fence(UNIT, old))
        assert (refused.value.epoch, refused.value.current) == (old, current)
        with pytest.raises(FencedOut):
            await r1.set_checkpoint_fenced("activity/ledger/acme/api", b"stale", None, Fence(UNIT, old))
        assert not await r1.renew_unit(UNIT, "r1", old, 30.0)
        assert await r2.renew_unit(UNIT, "r2", current, 30.0)
        await r2.put_fenced(snapshot(2), Fence(UNIT, current))
        assert (await r2.get_many([KEY]))[KEY].samples[0].value == 2
        assert await r2.get_checkpoint("activity/ledger/acme/api") is None
