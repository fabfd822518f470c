"""The duplicate index: the keys of series that occur more than once, however the snapshots are grouped."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import EncodedSnapshot, pack_snapshot, unpack_fragments
from github_stats_exporter.exposition.series_index import KEY_MASK, DuplicateIndex, to_index_keys
from github_stats_exporter.model import SnapshotKey

SERIES = st.tuples(st.sampled_from("uvw"), st.sampled_from("rs"), st.sampled_from("ab"))  # user, repo, org


def entry(series: list[tuple[str, str, str]], *, scoped: bool) -> EncodedSnapshot:
    """A snapshot as the cache keeps it: read back from what the writer stored, hashes as index keys."""
    rows = [m.ACTIVITY_COMMITS.sample(1, {"org": o, "repo": r, "user": u}) for u, r, o in series]
    stored = unpack_fragments(pack_snapshot(rows), 1)
    # Unscoped: what an older writer's fragments (no scope) and snapshots encoded locally look like.
    keyed = replace(stored, hashes=to_index_keys(stored.hashes))
    return keyed if scoped else replace(keyed, scope=None, unique=False)


def expected(entries: dict[SnapshotKey, EncodedSnapshot]) -> frozenset[int]:
    counts = Counter(key for e in entries.values() for key in e.hashes)
    return frozenset(key for key, n in counts.items() if n > 1)


OPS = st.lists(
    st.tuples(
        st.sampled_from("abcd"),  # snapshot key
        st.one_of(st.none(), st.lists(SERIES, max_size=5)),  # None deletes the snapshot
        st.booleans(),  # stored with a scope (this writer) or without (an older one)
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, batch=st.integers(1, 4), copy=st.booleans())
def test_duplicates_match_counting_every_series(
    ops: list[tuple[str, list[tuple[str, str, str]] | None, bool]], batch: int, copy: bool
) -> None:
    """After any sequence of puts and deletes, applied in batches, the duplicates are the keys seen twice or more."""
    index = DuplicateIndex()
    entries: dict[SnapshotKey, EncodedSnapshot] = {}
    for start in range(0, len(ops), batch):
        before = set(entries)
        put: set[SnapshotKey] = set()
        for name, series, scoped in ops[start : start + batch]:
            key = SnapshotKey(name)
            if series is None:
                entries.pop(key, None)
                put.discard(key)
            else:
                entries[key] = entry(series, scoped=scoped)
                put.add(key)
        if copy:
            index = index.copy()
        index.update(entries, sorted(put, key=str), sorted(before - set(entries), key=str))
        assert index.duplicates == expected(entries)


def test_snapshots_a_label_tells_apart_are_not_hashed_and_the_same_series_twice_is_found() -> None:
    """Scoped snapshots of distinct repos need no hashing; a series claimed by two snapshots of one repo is a duplicate."""
    index = DuplicateIndex()
    entries = {SnapshotKey(r): entry([("u", r, "a"), ("v", r, "a")], scoped=True) for r in "rs"}
    index.update(entries, list(entries), [])
    assert index.duplicates == frozenset()
    entries[SnapshotKey("t")] = entry([("v", "r", "a")], scoped=True)
    index.update(entries, [SnapshotKey("t")], [])
    assert index.duplicates == frozenset(entries[SnapshotKey("t")].hashes)
    del entries[SnapshotKey("r")]
    index.update(entries, [], [SnapshotKey("r")])
    assert index.duplicates == frozenset()


def test_index_keys_are_the_low_56_bits_of_the_hashes_in_place() -> None:
    """Index keys keep the low 56 bits of each series hash, in the same array, whatever its sign."""
    hashes = array("q", [-1, -(2**63), 2**62 + 5, 7, 0])
    assert to_index_keys(hashes) is hashes
    assert hashes.tolist() == [(2**56) - 1, 0, 5, 7, 0]
    assert all(0 <= key <= KEY_MASK for key in hashes)
