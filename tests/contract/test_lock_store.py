"""Contract of the LockStore port, run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.store.base import Store

TTL = 0.1
PAST_TTL = 0.15


async def test_lock_is_exclusive_until_released(store: Store) -> None:
    """A held lock refuses a second taker until it is released; other names are independent."""
    assert await store.try_lock("job/1", 30)
    assert not await store.try_lock("job/1", 30)
    assert await store.try_lock("job/2", 30)
    await store.release_lock("job/1")
    assert await store.try_lock("job/1", 30)


async def test_lock_expires_after_its_ttl(store: Store, store_backend: StoreBackend) -> None:
    """A lock nobody releases frees itself after its TTL."""
    assert await store.try_lock("job/1", TTL)
    await store_backend.elapse(PAST_TTL)
    assert await store.try_lock("job/1", 30)


async def test_release_of_an_unheld_lock_is_a_no_op(store: Store) -> None:
    """Releasing a lock nobody holds does not fail."""
    await store.release_lock("never-taken")
    assert await store.try_lock("never-taken", 30)


@pytest.mark.parametrize("ttl", [pytest.param(0, id="zero"), pytest.param(-1.5, id="negative")])
async def test_non_positive_lock_ttls_are_rejected(store: Store, ttl: float) -> None:
    """A TTL of zero or less is a caller bug and raises ValueError instead of taking a dead lock."""
    with pytest.raises(ValueError, match="ttl"):
        await store.try_lock("job", ttl)
