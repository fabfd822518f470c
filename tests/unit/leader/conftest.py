"""The fake Kubernetes Lease API (tests/support/lease_api.py) on 127.0.0.1:0, plus a manual monotonic
clock for the electors and shard leases under test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.lease_api import LEASE, NAMESPACE, FakeLeaseApi

from github_stats_exporter.leader.kubernetes import ApiServer, KubernetesElector
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.selfmetrics import SelfMetrics

TIMINGS = LeaseTimings(lease_duration=10.0, renew_deadline=6.0, retry_period=2.0)
EPOCH = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class ManualClock:
    """A monotonic clock that moves only when a test says so; `wall` maps it onto a UTC datetime."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)


@pytest.fixture
async def lease_api() -> AsyncIterator[FakeLeaseApi]:
    async with FakeLeaseApi() as api:
        yield api


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_elector(
    lease_api: FakeLeaseApi, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Callable[..., KubernetesElector]]:
    """Electors on the fake API, each with its own token file holding ``token-<identity>``."""
    made: list[KubernetesElector] = []

    def make(identity: str, **options: Any) -> KubernetesElector:
        token_path = tmp_path / f"token-{identity}"
        token_path.write_text(f"token-{identity}\n")
        options.setdefault("timings", TIMINGS)
        options.setdefault("metrics", SelfMetrics())
        options.setdefault("clock", clock)
        elector = KubernetesElector(
            namespace=NAMESPACE,
            lease_name=LEASE,
            identity=identity,
            api=ApiServer(lease_api.base_url, token_path=token_path),
            wall=clock.wall,
            jitter=lambda: 0.0,
            **options,
        )
        made.append(elector)
        return elector

    yield make
    for elector in made:
        await elector.close()
