"""The LOC hourly commit-detail budget on a real Redis, drawn by two replicas at the same moment.

Each replica has its own client (its own connections); their grants interleave on the server, and the
total booked never exceeds the cap.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.support.redis_server import RedisProcess

from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = pytest.mark.integration


async def test_two_replicas_granting_at_once_book_exactly_the_cap(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    """Sixty concurrent grants from two stores on one Redis book the cap exactly, however they interleave."""
    async with (
        RedisSnapshotStore.standalone("127.0.0.1", redis_server.port, key_prefix=key_prefix) as a,
        RedisSnapshotStore.standalone("127.0.0.1", redis_server.port, key_prefix=key_prefix) as b,
    ):
        grants = await asyncio.gather(
            *(store.take_budget("loc/acme/490000", 4, 70, 7200) for _ in range(30) for store in (a, b))
        )
        assert sum(grants) == 70
        assert all(0 <= g <= 4 for g in grants)
        assert await a.budget_used("loc/acme/490000") == await b.budget_used("loc/acme/490000") == 70
