"""Contract of the CounterStore port (cluster-wide totals), run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.metrics import HTTP_REQUESTS
from github_stats_exporter.store.base import Store

METRICS_200 = (HTTP_REQUESTS.name, (("path", "/metrics"), ("code", "200")))
LIVEZ_200 = (HTTP_REQUESTS.name, (("path", "/livez"), ("code", "200")))


async def test_counter_increments_add_up_across_writers(store_backend: StoreBackend) -> None:
    """Two stores on the same backend see one total: the sum of everything either of them added."""
    first = await store_backend.make()
    await first.add_counters({METRICS_200: 3, LIVEZ_200: 1})
    await first.add_counters({METRICS_200: 2.5})
    assert await first.counters() == {METRICS_200: 5.5, LIVEZ_200: 1}


async def test_a_retried_counter_batch_is_applied_once(store: Store) -> None:
    """The same batch id sent twice (a retry after an unknown outcome) counts once; new ids count again."""
    await store.add_counters({METRICS_200: 4}, batch_id="replica-a-1")
    await store.add_counters({METRICS_200: 4}, batch_id="replica-a-1")
    await store.add_counters({METRICS_200: 1}, batch_id="replica-a-2")
    assert await store.counters() == {METRICS_200: 5}


async def test_negative_counter_increments_are_rejected(store: Store) -> None:
    """A negative increment is a caller bug and changes nothing (counters never go down)."""
    with pytest.raises(ValueError, match=">= 0"):
        await store.add_counters({METRICS_200: 1, LIVEZ_200: -1})
    assert await store.counters() == {}


async def test_empty_counter_batches_change_nothing(store: Store) -> None:
    """Flushing no increments leaves the totals empty."""
    await store.add_counters({}, batch_id="nothing")
    assert await store.counters() == {}
