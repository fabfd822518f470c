"""build_store: the memory and the Redis store keep snapshots for the same effective retention.

The configured `store.retention` is raised by `snapshot_retention` (two refreshes of the slowest
source, two days with Copilot on); both backends must get the raised value, not only Redis.
"""

from __future__ import annotations

from typing import Any

import pytest

from github_stats_exporter.app.runtime import build_store, snapshot_retention
from github_stats_exporter.config import Settings, parse_config
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore

DAY = 86400.0
KEY = SnapshotKey("copilot", ("acme", "org", "28d"))


def settings_with(**sections: Any) -> Settings:
    return parse_config(
        {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]}, **sections},
        environ={"GH_TOKEN": "ghp_exampletoken"},
    )


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        pytest.param({"copilot": {"enabled": True}}, 2 * DAY, id="copilot-on-defaults"),
        pytest.param({"store": {"retention": "1h"}}, 2 * DAY, id="short-retention-raised-by-loc"),
        pytest.param({"store": {"retention": "30d"}}, 30 * DAY, id="long-retention-kept"),
    ],
)
def test_snapshot_retention_covers_the_slowest_refresh(sections: dict[str, Any], expected: float) -> None:
    """The effective retention is the configured one, raised to two refreshes of every source."""
    assert snapshot_retention(settings_with(**sections)) == expected


async def test_memory_store_keeps_a_snapshot_for_the_effective_retention() -> None:
    """With Copilot on and default config, a snapshot written at t is served until t + 2 days (not 24h)."""
    settings = settings_with(copilot={"enabled": True})
    assert settings.store.retention.total_seconds() == DAY  # configured: shorter than effective
    clock = FakeClock(1_000_000.0)
    store = build_store(settings, clock)
    assert isinstance(store, MemorySnapshotStore)
    written = clock.now
    await store.put(Snapshot(KEY, (Sample("gh_copilot_users", (("org", "acme"),), 1.0),), written))

    clock.now = written + DAY + 60  # past the configured retention
    assert KEY in await store.get_many([KEY])
    clock.now = written + 2 * DAY - 1
    assert KEY in await store.get_many([KEY])
    clock.now = written + 2 * DAY + 1
    assert KEY not in await store.get_many([KEY])


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_both_backends_get_the_same_effective_retention(backend: str) -> None:
    """build_store hands snapshot_retention to either backend (building a Redis store does not connect)."""
    settings = settings_with(copilot={"enabled": True}, store={"backend": backend, "retention": "2h"})
    store = build_store(settings, FakeClock(0.0))
    effective = snapshot_retention(settings)
    assert effective == 2 * DAY
    if isinstance(store, MemorySnapshotStore):
        assert store._retention == effective
    else:
        assert isinstance(store, RedisSnapshotStore)
        assert store._ttl_ms == round(effective * 1000)
