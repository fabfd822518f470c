"""The seat collector without a server: options, a page that is not a seat list, a store that fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from github_stats_exporter import metrics
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.transport import Answer, MockTransport, Request
from github_stats_exporter.model import Snapshot
from github_stats_exporter.scrape.copilot_seats import SeatOptions, SeatsCollector, snapshot_key
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

NOW = 1_780_000_000.0
SEAT = {"created_at": "2026-01-01T00:00:00Z", "assignee": {"login": "ann", "id": 1, "type": "User"}}


class FailingPuts(MemorySnapshotStore):
    """A memory store whose writes fail, as Redis does while it restarts."""

    async def put(self, snapshot: Snapshot) -> int:
        msg = "redis restarting"
        raise StoreUnavailable(msg)


class Health:
    def __init__(self) -> None:
        self.reports: list[tuple[str, str, bool, str]] = []

    def report(self, component: str, member: str, healthy: bool, detail: str = "") -> None:
        self.reports.append((component, member, healthy, detail))


def client(pages: dict[str, Any], metrics_: SelfMetrics) -> GitHubClient:
    async def answer(request: Request) -> Answer:
        body = pages[request.url.path]
        headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
        return Answer(200, headers, json.dumps(body).encode())

    options = ClientOptions(base_url="https://api.github.com", max_attempts=1, initial_backoff=0.0)
    return GitHubClient(
        options, TokenAuth("t"), org="acme", metrics=metrics_, transport=MockTransport(answer)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"scope": "team", "scope_id": "x", "interval_seconds": 1.0}, id="bad-scope"),
        pytest.param({"scope": "org", "scope_id": "", "interval_seconds": 1.0}, id="no-id"),
        pytest.param({"scope": "org", "scope_id": "acme", "interval_seconds": 0.0}, id="no-interval"),
    ],
)
def test_options_are_checked(kwargs: dict[str, Any]) -> None:
    """A seat collector needs org or enterprise, an id and a positive interval."""
    with pytest.raises(ValueError, match=r"seat scope|interval"):
        SeatOptions(**kwargs)


async def test_a_page_that_is_not_a_seat_list_is_a_fetch_error() -> None:
    """A 200 whose body is not a seat page fails the collection (health, counter) and publishes nothing."""
    self_metrics, health = SelfMetrics(), Health()
    store = MemorySnapshotStore(clock=lambda: NOW)
    pages = {
        "/orgs/acme/copilot/billing": {"seat_breakdown": {}},
        "/orgs/acme/copilot/billing/seats": {"x": 1},
    }
    collector = SeatsCollector(
        client(pages, self_metrics),
        store,
        self_metrics,
        SeatOptions("org", "acme", 60.0),
        health=health,
        clock=lambda: NOW,
    )
    assert not await collector.tick()
    labels = {"org": "acme", "scope": "org", "result": "fetch_error"}
    assert self_metrics.value(metrics.COPILOT_SEAT_COLLECTIONS, labels) == 1
    assert health.reports[-1][:3] == ("github_api_copilot_org_seats", "acme", False)
    key = snapshot_key("org", "acme")
    assert key not in await store.get_many([key])


async def test_a_store_failure_is_counted_and_not_a_health_verdict_on_github() -> None:
    """A failed write is `store_error`; GitHub answered, so the seat component is not marked unhealthy."""
    self_metrics, health = SelfMetrics(), Health()
    pages = {
        "/orgs/acme/copilot/billing": {"seat_breakdown": {"total": 1}},
        "/orgs/acme/copilot/billing/seats": {"total_seats": 1, "seats": [SEAT]},
    }
    collector = SeatsCollector(
        client(pages, self_metrics),
        FailingPuts(clock=lambda: NOW),
        self_metrics,
        SeatOptions("org", "acme", 60.0),
        health=health,
        clock=lambda: NOW,
    )
    assert not await collector.tick()
    labels = {"org": "acme", "scope": "org", "result": "store_error"}
    assert self_metrics.value(metrics.COPILOT_SEAT_COLLECTIONS, labels) == 1
    assert health.reports == []
