"""Which repositories of an org one shard collects: a stable hash of the repository id, modulo the shards.

An org with ``github.orgs[].shards: N`` is collected as N work units (docs/scaling.md); repository
``r`` belongs to shard ``blake2b(id) mod N``, the same on every replica and across restarts, so a
repository moves only when N changes. A listing without an id (never from GitHub) hashes the
lower-case name instead. This module decides membership only; it fetches and stores nothing.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass


def stable_bucket(key: str, buckets: int) -> int:
    """``key``'s bucket in ``0..buckets-1``; the same everywhere (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


@dataclass(frozen=True, slots=True)
class RepoShard:
    """Shard ``index`` of ``count``; ``RepoShard(0, 1)`` (`WHOLE_ORG`) holds every repository."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            msg = f"shard {self.index} of {self.count} does not exist (0 <= index < count, count >= 1)"
            raise ValueError(msg)

    @property
    def whole(self) -> bool:
        return self.count == 1

    def holds(self, repo_id: int | None, name: str) -> bool:
        """True when the repository with this id (or, lacking one, this name) belongs to this shard."""
        if self.count == 1:
            return True
        return _bucket(repo_id, name if repo_id is None else "", self.count) == self.index

    @property
    def label(self) -> str:
        """``2/4`` for shard 2 of 4 (health details, unit names)."""
        return f"{self.index}/{self.count}"


# Each unit filters its org's whole listing twice a cycle (activity, then LOC), and the same
# repositories hash to the same buckets every time: hash each one once per process
# (docs/benchmarks.md, "One listing per cycle").
@functools.lru_cache(maxsize=1 << 17)
def _bucket(repo_id: int | None, name: str, count: int) -> int:
    key = f"id:{repo_id}" if repo_id is not None else f"name:{name.lower()}"
    return stable_bucket(key, count)


WHOLE_ORG = RepoShard()
