"""Repository shards: an org's listing cut into equal parts in the order of a stable hash of the repository id."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from github_stats_exporter.scrape.shard import WHOLE_ORG, RepoShard, stable_hash


@dataclass(frozen=True, slots=True)
class Item:
    repo_id: int | None
    name: str


def listing(ids: list[int]) -> list[Item]:
    return [Item(i, f"r{i}") for i in ids]


def parts(items: list[Item], count: int) -> list[list[Item]]:
    return [RepoShard(i, count).select(items) for i in range(count)]


@given(
    ids=st.lists(st.integers(min_value=1, max_value=10**9), unique=True, max_size=300),
    count=st.integers(1, 9),
)
def test_the_parts_of_a_listing_are_disjoint_equal_and_hold_all_of_it(ids: list[int], count: int) -> None:
    """Every repository in exactly one shard; the parts' sizes differ by at most one."""
    items = listing(ids)
    cut = parts(items, count)
    assert sorted(r.repo_id or 0 for part in cut for r in part) == sorted(ids)
    sizes = [len(part) for part in cut]
    assert max(sizes) - min(sizes) <= 1


@given(
    ids=st.lists(st.integers(min_value=1, max_value=10**9), unique=True, min_size=1, max_size=300),
    count=st.integers(2, 9),
    data=st.data(),
)
def test_a_repository_joining_or_leaving_moves_at_most_one_other_across_each_cut(
    ids: list[int], count: int, data: st.DataObject
) -> None:
    """A new or deleted repository moves at most ``count - 1`` of the others to another shard."""
    new = data.draw(st.integers(min_value=1, max_value=10**9).filter(lambda i: i not in ids))
    before = {r.repo_id: s for s, part in enumerate(parts(listing(ids), count)) for r in part}
    after = {r.repo_id: s for s, part in enumerate(parts(listing([*ids, new]), count)) for r in part}
    assert sum(before[i] != after[i] for i in ids) <= count - 1
    gone = data.draw(st.sampled_from(ids))
    fewer = {
        r.repo_id: s
        for s, part in enumerate(parts(listing([i for i in ids if i != gone]), count))
        for r in part
    }
    assert sum(before[i] != fewer[i] for i in ids if i != gone) <= count - 1


def test_the_part_does_not_depend_on_the_listing_order_and_keeps_it() -> None:
    """Replicas that get the same repositories in another order select the same ones, in their own order."""
    items = listing(list(range(1, 1001)))
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    for index in range(3):
        mine = RepoShard(index, 3).select(items)
        theirs = RepoShard(index, 3).select(shuffled)
        assert set(mine) == set(theirs)
        assert theirs == [r for r in shuffled if r in set(mine)]


def test_a_thousand_repositories_in_three_shards_are_334_333_333() -> None:
    """What a bucket per hash mod 3 did not give: its biggest of 60 such parts held 376 (docs/scaling.md)."""
    sizes = sorted(len(part) for part in parts(listing(list(range(5000, 6000))), 3))
    assert sizes == [333, 333, 334]


def test_the_hash_is_fixed_across_processes() -> None:
    """Not Python's salted ``hash``: a repository stays in its part after a restart."""
    assert stable_hash("id:1296269") == 0x4AD40CF149F1A975
    assert [RepoShard(i, 4).select(listing([1296269, 1, 2, 3])) for i in range(4)] == [
        RepoShard(i, 4).select(listing([3, 2, 1, 1296269])) for i in range(4)
    ]


def test_a_repository_without_an_id_is_placed_by_its_lower_case_name() -> None:
    """A listing item without an id still lands in one shard, the same whatever the name's case."""
    upper = [Item(None, "Api"), *listing(list(range(1, 10)))]
    lower = [Item(None, "api"), *listing(list(range(1, 10)))]
    assert [len(RepoShard(i, 5).select(upper)) for i in range(5)] == [2] * 5
    assert [any(r.repo_id is None for r in RepoShard(i, 5).select(upper)) for i in range(5)] == [
        any(r.repo_id is None for r in RepoShard(i, 5).select(lower)) for i in range(5)
    ]


def test_the_whole_org_holds_everything() -> None:
    """The default shard (one of one) holds every repository, in the listing's order."""
    items = [Item(None, "x"), Item(12, "y")]
    assert WHOLE_ORG.whole
    assert WHOLE_ORG.select(items) == items


@pytest.mark.parametrize(("index", "count"), [(0, 0), (3, 3), (-1, 2)])
def test_a_shard_that_does_not_exist_is_refused(index: int, count: int) -> None:
    """An index outside 0..count-1 or a count below 1 is a caller bug and raises."""
    with pytest.raises(ValueError, match="does not exist"):
        RepoShard(index, count)
