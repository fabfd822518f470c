"""Which of the simulator's repositories a shard collects, as the exporter's collectors select them.

The collectors cut the org's listing (archived and disabled repositories left out, as
`RepoDirectory` does by default) into equal parts (`RepoShard.select`); tests and benchmarks that
check a unit's repositories must cut the same listing. It reads the simulator's world only.
"""

from __future__ import annotations

from dataclasses import dataclass

from github_stats_exporter.scrape.shard import RepoShard
from github_stats_exporter.simulator.world import World


@dataclass(frozen=True, slots=True)
class _Listed:
    repo_id: int | None
    name: str


def shard_repos(world: World, org: str, index: int, count: int) -> list[str]:
    """The names of ``org``'s repositories that shard ``index`` of ``count`` collects."""
    listing = [
        _Listed(info.id, info.name) for info in world.repos(org) if info.kind not in ("archived", "disabled")
    ]
    return [repo.name for repo in RepoShard(index, count).select(listing)]
