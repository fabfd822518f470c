"""Which series of the page occur more than once: the duplicate index the page cache keeps per snapshot.

The page serves each series once (the first snapshot by key order wins), so the cache must know the
series that two snapshots (or one snapshot twice) claim. Snapshots are indexed by their series hashes
as 56-bit keys (`to_index_keys`), and only where they can collide: two snapshots whose scopes give one
label different values share no series (`EncodedSnapshot.scope`, written with the fragments), so the
snapshots are grouped by the value of one label that every scope has, and a group of one snapshot its
writer found free of repeats needs no hash set at all. A cold start of snapshots that a label tells
apart therefore costs a few dictionary operations per snapshot instead of a set entry per series.

This module must not render anything; it answers "which keys are duplicates" and nothing else.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import chain

from github_stats_exporter.exposition.encoder import EncodedSnapshot
from github_stats_exporter.model import SnapshotKey

KEY_MASK = (1 << 56) - 1
"""`to_index_keys` turns a stored series hash ``h`` into ``h & KEY_MASK``."""
_MOST_SIGNIFICANT_BYTE = 7 if sys.byteorder == "little" else 0


def to_index_keys(hashes: array[int]) -> array[int]:
    """Turn series hashes into index keys in place (their low 56 bits) and return the same array.

    The top byte of every hash is zeroed by one C-level strided assignment, without a copy; the caller
    must own the array (the cache does: it comes fresh from unpacking or encoding). Python ints below
    2**60 are smaller and faster to hash and store than 64-bit ones. Two series whose keys collide
    (~1e-5 for a million series) only make the cache compare those snapshots' lines exactly (by text),
    which keeps both; a collision never drops a series.
    """
    with memoryview(hashes) as view, view.cast("B") as raw:
        raw[_MOST_SIGNIFICANT_BYTE :: hashes.itemsize] = bytes(len(hashes))
    return hashes


class SeriesIndex:
    """Keys of a set of snapshots, maintained per changed snapshot with set operations in C.

    ``_extra`` only holds keys seen more than once (duplicates are rare), with their occurrence count.
    """

    __slots__ = ("_all", "_extra")

    def __init__(self) -> None:
        self._all: set[int] = set()
        self._extra: dict[int, int] = {}

    @property
    def duplicates(self) -> frozenset[int]:
        return frozenset(self._extra)

    def copy(self) -> SeriesIndex:
        clone = SeriesIndex()
        clone._all = self._all.copy()
        clone._extra = self._extra.copy()
        return clone

    def add_all(self, hashes: Iterable[array[int]]) -> None:
        """Index many snapshots at once; one set build when none of their series repeats (a cold start)."""
        hashes = list(hashes)
        if not self._all:
            total = sum(map(len, hashes))
            every = set(chain.from_iterable(hashes))
            if len(every) == total:
                self._all = every
                return
        for one in hashes:
            self.add(one)

    def add(self, hashes: array[int]) -> None:
        new = set(hashes)
        counts = Counter(hashes) if len(new) != len(hashes) else None
        for h in new.intersection(self._all):
            self._extra[h] = self._extra.get(h, 1) + (counts[h] if counts else 1)
        if counts:
            for h, n in counts.items():
                if n > 1 and h not in self._all:
                    self._extra[h] = n
        self._all |= new

    def remove(self, hashes: array[int]) -> None:
        old = set(hashes)
        if self._extra:
            counts = Counter(hashes) if len(old) != len(hashes) else None
            for h in old.intersection(self._extra):
                left = self._extra[h] - (counts[h] if counts else 1)
                if left > 1:
                    self._extra[h] = left
                else:
                    del self._extra[h]
                if left > 0:
                    old.discard(h)  # another occurrence still owns it
        self._all -= old


class _Group:
    """Snapshots with one value of the partition label; hashed only once it could hold a duplicate."""

    __slots__ = ("index", "members")

    def __init__(self) -> None:
        self.members: dict[SnapshotKey, array[int]] = {}
        self.index: SeriesIndex | None = None

    def copy(self) -> _Group:
        clone = _Group()
        clone.members = self.members.copy()
        clone.index = self.index.copy() if self.index is not None else None
        return clone

    def fill(self, members: Mapping[SnapshotKey, EncodedSnapshot]) -> None:
        self.members = {key: entry.hashes for key, entry in members.items()}
        if len(members) > 1 or not all(entry.unique for entry in members.values()):
            self.index = SeriesIndex()
            self.index.add_all(self.members.values())

    def add(self, key: SnapshotKey, entry: EncodedSnapshot) -> None:
        if self.index is None and (self.members or not entry.unique):
            self.index = SeriesIndex()
            self.index.add_all(self.members.values())
        self.members[key] = entry.hashes
        if self.index is not None:
            self.index.add(entry.hashes)

    def remove(self, key: SnapshotKey) -> None:
        hashes = self.members.pop(key)
        if self.index is not None:
            self.index.remove(hashes)


def _common_label(entries: Mapping[SnapshotKey, EncodedSnapshot]) -> str | None:
    """The label in every snapshot's scope that tells the most snapshots apart (None: there is none)."""
    names: set[str] | None = None
    for entry in entries.values():
        if entry.scope is None:
            return None
        names = set(entry.scope) if names is None else names.intersection(entry.scope)
        if not names:
            return None
    if not names:
        return None
    spread = {name: len({entry.scope[name] for entry in entries.values() if entry.scope}) for name in names}
    return max(sorted(names), key=spread.__getitem__)


class DuplicateIndex:
    """The page's duplicate keys, from snapshots grouped by the value of one label their scopes share.

    Without such a label (a snapshot without a scope, or scopes with no label in common) all snapshots
    form one group, hashed as a whole. The label stays while every snapshot's scope has it, so an
    update costs in proportion to the changed snapshots' groups; when it stops fitting, the grouping
    is rebuilt once.
    """

    __slots__ = ("_group_of", "_groups", "_label")

    def __init__(self) -> None:
        self._label: str | None = None
        self._groups: dict[str | None, _Group] = {}
        self._group_of: dict[SnapshotKey, str | None] = {}

    @property
    def duplicates(self) -> frozenset[int]:
        found = [group.index.duplicates for group in self._groups.values() if group.index is not None]
        return frozenset().union(*found)

    def copy(self) -> DuplicateIndex:
        clone = DuplicateIndex()
        clone._label = self._label
        clone._groups = {value: group.copy() for value, group in self._groups.items()}
        clone._group_of = self._group_of.copy()
        return clone

    def _value(self, entry: EncodedSnapshot) -> str | None:
        return entry.scope[self._label] if self._label is not None and entry.scope is not None else None

    def update(
        self,
        entries: Mapping[SnapshotKey, EncodedSnapshot],
        changed: Iterable[SnapshotKey],
        removed: Iterable[SnapshotKey],
    ) -> None:
        """Follow ``entries`` (every snapshot of the page, after the change) given what changed and left."""
        label = self._label
        if label is None or not all(e.scope is not None and label in e.scope for e in entries.values()):
            label = _common_label(entries)
        if label != self._label or not self._groups:
            self._rebuild(entries, label)
            return
        for key in removed:
            self._remove(key)
        for key in changed:
            if key in self._group_of:
                self._remove(key)
            entry = entries[key]
            value = self._value(entry)
            self._groups.setdefault(value, _Group()).add(key, entry)
            self._group_of[key] = value

    def _remove(self, key: SnapshotKey) -> None:
        value = self._group_of.pop(key)
        group = self._groups[value]
        group.remove(key)
        if not group.members:
            del self._groups[value]

    def _rebuild(self, entries: Mapping[SnapshotKey, EncodedSnapshot], label: str | None) -> None:
        self._label = label
        by_value: dict[str | None, dict[SnapshotKey, EncodedSnapshot]] = {}
        for key, entry in entries.items():
            by_value.setdefault(self._value(entry), {})[key] = entry
        self._groups = {}
        self._group_of = {}
        for value, members in by_value.items():
            group = self._groups[value] = _Group()
            group.fill(members)
            self._group_of |= dict.fromkeys(members, value)
