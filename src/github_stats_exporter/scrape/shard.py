"""Which repositories of an org one shard collects: equal parts of the org's listing, cut in hash order.

An org with ``github.orgs[].shards: N`` is collected as N work units (docs/scaling.md). Every
repository has a stable hash of its id (blake2b, the same on every replica and across restarts; a
listing item without an id hashes its lower-case name). The org's listed repositories, ordered by
that hash, are cut into N runs of equal length (sizes differ by at most one), and shard ``i`` takes
the ``i``-th. A bucket per ``hash mod N`` would need no listing, but its parts are only equal on
average: at 1,000 repositories and 3 shards its biggest of 60 parts held 376 (13 % above a third),
and the biggest unit sets the cycle's length (docs/scaling.md, "Sharded collection"). A repository that
joins or leaves the listing moves at most one other repository across each of the N - 1 cuts.

This module decides membership only; it fetches and stores nothing.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class Listed(Protocol):
    """A listing item: the repository's id (None when GitHub did not send one) and its name."""

    @property
    def repo_id(self) -> int | None: ...

    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=Listed)


def shard_key(repo_id: int | None, name: str) -> str:
    """What a repository is hashed by: its id, or, lacking one (never from GitHub), its lower-case name."""
    return f"id:{repo_id}" if repo_id is not None else f"name:{name.lower()}"


# Every unit cuts its org's listing at every tick: hashing 1,000 ids again took 1.6 ms a cut.
@functools.lru_cache(maxsize=1 << 16)
def stable_hash(key: str) -> int:
    """``key``'s 64-bit hash; the same everywhere (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


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

    def select(self, listing: Sequence[R]) -> list[R]:
        """This shard's part of the org's whole ``listing``, in the listing's order.

        Every shard must be given the same listing (the collectors all select from the org's
        `RepoDirectory`): the parts of one listing are disjoint and together hold all of it.
        """
        if self.count == 1:
            return list(listing)
        keys = [shard_key(repo.repo_id, repo.name) for repo in listing]
        order = sorted(range(len(listing)), key=lambda i: (stable_hash(keys[i]), keys[i]))
        size = len(listing)
        mine = order[size * self.index // self.count : size * (self.index + 1) // self.count]
        return [listing[i] for i in sorted(mine)]

    @property
    def label(self) -> str:
        """``2/4`` for shard 2 of 4 (health details, unit names)."""
        return f"{self.index}/{self.count}"


WHOLE_ORG = RepoShard()
