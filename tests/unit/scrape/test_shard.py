"""Repository shards: a stable partition of an org's repositories by repository id."""

from __future__ import annotations

import pytest

from github_stats_exporter.scrape.shard import WHOLE_ORG, RepoShard, stable_bucket


def test_every_repository_belongs_to_exactly_one_shard() -> None:
    """For any shard count, each repository id is held by one shard and one only."""
    for count in (1, 2, 3, 7):
        shards = [RepoShard(i, count) for i in range(count)]
        for repo_id in range(500):
            assert sum(s.holds(repo_id, f"r{repo_id}") for s in shards) == 1


def test_buckets_are_stable_across_processes_and_balanced() -> None:
    """The bucket of an id is a fixed function (not Python's salted hash) and spreads ids evenly."""
    assert [stable_bucket(f"id:{i}", 4) for i in range(8)] == [stable_bucket(f"id:{i}", 4) for i in range(8)]
    assert stable_bucket("id:1296269", 4) == 1
    sizes = [sum(RepoShard(i, 4).holds(repo_id, "") for repo_id in range(4000)) for i in range(4)]
    assert min(sizes) > 900


def test_a_repository_without_an_id_is_sharded_by_its_lower_case_name() -> None:
    """A listing item without an id still lands in one shard, the same whatever the name's case."""
    shards = [RepoShard(i, 5) for i in range(5)]
    assert [s.holds(None, "Api") for s in shards] == [s.holds(None, "api") for s in shards]
    assert sum(s.holds(None, "api") for s in shards) == 1


def test_remembered_membership_stays_the_hash() -> None:
    """Each repository is hashed once per process; asking again (from the memo) answers the same."""
    for _ in range(2):
        for repo_id in range(200):
            assert RepoShard(stable_bucket(f"id:{repo_id}", 3), 3).holds(repo_id, "ignored")
    assert RepoShard(stable_bucket("name:api", 3), 3).holds(None, "API")


def test_the_whole_org_holds_everything() -> None:
    """The default shard (one of one) holds every repository."""
    assert WHOLE_ORG.whole
    assert WHOLE_ORG.holds(None, "x")
    assert WHOLE_ORG.holds(12, "y")


@pytest.mark.parametrize(("index", "count"), [(0, 0), (3, 3), (-1, 2)])
def test_a_shard_that_does_not_exist_is_refused(index: int, count: int) -> None:
    """An index outside 0..count-1 or a count below 1 is a caller bug and raises."""
    with pytest.raises(ValueError, match="does not exist"):
        RepoShard(index, count)
