"""Contract of the CheckpointStore port (bytes records, TTL, delete, prefix listing), run per adapter."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.store.base import Store

TTL = 0.1
PAST_TTL = 0.15


async def test_checkpoint_round_trip_and_replace(store: Store) -> None:
    """A record reads back byte for byte, a second write replaces it, unknown names read as None."""
    assert await store.get_checkpoint("activity/acme") is None
    await store.set_checkpoint("activity/acme", b'{"since":"2026-01-01T00:00:00Z"}')
    assert await store.get_checkpoint("activity/acme") == b'{"since":"2026-01-01T00:00:00Z"}'
    await store.set_checkpoint("activity/acme", b"later")
    assert await store.get_checkpoint("activity/acme") == b"later"


async def test_checkpoint_keeps_any_bytes(store: Store) -> None:
    """Records are opaque: bytes that are not UTF-8, NUL bytes and the empty value come back unchanged."""
    await store.set_checkpoint("binary", b"\x00\xff\xfe\x80")
    await store.set_checkpoint("empty", b"")
    assert await store.get_checkpoint("binary") == b"\x00\xff\xfe\x80"
    assert await store.get_checkpoint("empty") == b""


async def test_checkpoint_expires_after_its_ttl(store: Store, store_backend: StoreBackend) -> None:
    """A record with a TTL reads as None once the TTL has passed; one without a TTL stays."""
    await store.set_checkpoint("short", b"1", ttl_seconds=TTL)
    await store.set_checkpoint("forever", b"2")
    assert await store.get_checkpoint("short") is not None
    await store_backend.elapse(PAST_TTL)
    assert await store.get_checkpoint("short") is None
    assert await store.get_checkpoint("forever") == b"2"


async def test_rewrite_without_ttl_makes_a_record_permanent(
    store: Store, store_backend: StoreBackend
) -> None:
    """Writing a record again without a TTL drops the TTL of the previous write."""
    await store.set_checkpoint("cp", b"1", ttl_seconds=TTL)
    await store.set_checkpoint("cp", b"2")
    await store_backend.elapse(PAST_TTL)
    assert await store.get_checkpoint("cp") == b"2"


async def test_delete_removes_a_checkpoint(store: Store) -> None:
    """A deleted record reads as None and is not listed; deleting an absent one is a no-op."""
    await store.set_checkpoint("loc/acme/widgets/state", b"1")
    await store.set_checkpoint("loc/acme/gadgets/state", b"2")
    await store.delete_checkpoint("loc/acme/widgets/state")
    await store.delete_checkpoint("never/written")
    assert await store.get_checkpoint("loc/acme/widgets/state") is None
    assert await store.checkpoint_names("loc/") == ["loc/acme/gadgets/state"]


async def test_names_are_listed_by_prefix_and_sorted(store: Store) -> None:
    """checkpoint_names returns every live name that starts with the prefix (plain text), sorted."""
    for name in (
        "loc/acme/b/state",
        "loc/acme/a/state",
        "loc/acme-labs/a/state",
        "loc/acme/a/commits/7",
        "cp*",
    ):
        await store.set_checkpoint(name, b"x")
    assert await store.checkpoint_names("loc/acme/") == [
        "loc/acme/a/commits/7",
        "loc/acme/a/state",
        "loc/acme/b/state",
    ]
    assert await store.checkpoint_names("loc/acme/a/commits/") == ["loc/acme/a/commits/7"]
    assert await store.checkpoint_names("cp*") == ["cp*"]
    assert await store.checkpoint_names("nothing/") == []
    assert len(await store.checkpoint_names("")) == 5


async def test_expired_names_are_not_listed(store: Store, store_backend: StoreBackend) -> None:
    """A record past its TTL disappears from the listing too."""
    await store.set_checkpoint("dedup/a", b"1", ttl_seconds=TTL)
    await store.set_checkpoint("dedup/b", b"1", ttl_seconds=30)
    await store_backend.elapse(PAST_TTL)
    assert await store.checkpoint_names("dedup/") == ["dedup/b"]


@pytest.mark.parametrize("ttl", [pytest.param(0, id="zero"), pytest.param(-1.5, id="negative")])
async def test_non_positive_checkpoint_ttls_are_rejected(store: Store, ttl: float) -> None:
    """A TTL of zero or less is a caller bug and raises ValueError instead of writing a dead record."""
    with pytest.raises(ValueError, match="ttl"):
        await store.set_checkpoint("cp", b"1", ttl_seconds=ttl)
    assert await store.get_checkpoint("cp") is None


async def test_get_checkpoints_reads_many_records_at_once(store: Store, store_backend: StoreBackend) -> None:
    """Many names read in one call give the same records one call per name gives; absent and expired ones are left out."""
    names = [f"activity/ledger/acme/repo{i:04d}" for i in range(1_201)]
    for i, name in enumerate(names):
        if i % 3:
            await store.set_checkpoint(name, f"ledger {i}".encode())
    await store.set_checkpoint("short", b"gone soon", ttl_seconds=TTL)
    await store_backend.elapse(PAST_TTL)
    found = await store.get_checkpoints([*names, "short", "never/written"])
    assert found == {name: f"ledger {i}".encode() for i, name in enumerate(names) if i % 3}
    assert await store.get_checkpoints([]) == {}
