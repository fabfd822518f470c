"""Contract of the ResponseStore port (shared ETags), run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.store.base import Store

SCOPE = "acme:installation:1"


async def test_a_value_reads_back_byte_for_byte(store: Store) -> None:
    value = bytes(range(256)) * 4
    await store.put_responses(SCOPE, {"k1": value}, 60)
    assert await store.get_response(SCOPE, "k1", 60) == value
    assert await store.get_response(SCOPE, "k2", 60) is None


async def test_a_batch_writes_every_value(store: Store) -> None:
    values = {f"k{i}": f"value {i}".encode() for i in range(100)}
    await store.put_responses(SCOPE, values, 60)
    await store.put_responses(SCOPE, {}, 60)  # nothing to write is no error
    assert {k: await store.get_response(SCOPE, k, 60) for k in values} == values


async def test_a_write_replaces_the_value(store: Store) -> None:
    await store.put_responses(SCOPE, {"k1": b"old"}, 60)
    await store.put_responses(SCOPE, {"k1": b"new"}, 60)
    assert await store.get_response(SCOPE, "k1", 60) == b"new"


async def test_scopes_are_separate(store: Store) -> None:
    await store.put_responses(SCOPE, {"k1": b"one"}, 60)
    assert await store.get_response("acme:installation:2", "k1", 60) is None
    assert await store.get_response("other:installation:1", "k1", 60) is None


async def test_a_value_nobody_uses_expires(store: Store, store_backend: StoreBackend) -> None:
    await store.put_responses(SCOPE, {"k1": b"v"}, 0.1)
    await store_backend.elapse(0.15)
    assert await store.get_response(SCOPE, "k1", 60) is None


async def test_a_read_resets_the_time_to_live(store: Store, store_backend: StoreBackend) -> None:
    """A value read within its TTL lives another TTL from the read (what keeps entries in use alive)."""
    await store.put_responses(SCOPE, {"k1": b"v"}, 0.2)
    await store_backend.elapse(0.12)
    assert await store.get_response(SCOPE, "k1", 0.2) == b"v"
    await store_backend.elapse(0.12)  # 0.24 s after the write, 0.12 s after the read
    assert await store.get_response(SCOPE, "k1", 0.2) == b"v"


@pytest.mark.parametrize("ttl", [0.0, -1.0])
async def test_a_time_to_live_must_be_positive(store: Store, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await store.put_responses(SCOPE, {"k1": b"v"}, ttl)
    with pytest.raises(ValueError, match="ttl"):
        await store.get_response(SCOPE, "k1", ttl)
