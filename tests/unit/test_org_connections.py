"""How many connections an org's HTTP session may open: room for every unit the replica may hold."""

from __future__ import annotations

import pytest

from github_stats_exporter.app.assembly import org_connections
from github_stats_exporter.config import parse_config

ENV = {"GH_TOKEN": "ghp_exampletoken"}


def org(**fields: object):
    config = {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN", **fields}]}}
    return parse_config(config, environ=ENV).github.orgs[0]


@pytest.mark.parametrize(("concurrency", "shards"), [(4, 1), (4, 3), (8, 5), (1, 2)])
def test_a_replica_holding_every_shard_runs_all_of_them_at_full_concurrency(
    concurrency: int, shards: int
) -> None:
    """Sharded: every shard's requests fit at once, with as many again for the org's other collectors."""
    cfg = org(per_org_concurrency=concurrency, shards=shards)
    assert org_connections(cfg, sharded=True) >= concurrency * shards + concurrency


def test_single_mode_ignores_the_shards() -> None:
    """In single mode one collector per org runs: twice its concurrency, whatever `shards` says."""
    assert org_connections(org(per_org_concurrency=4, shards=3), sharded=False) == 8
    assert org_connections(org(per_org_concurrency=1), sharded=False) == 4  # never below 4
