"""The team collector's join with scripted links and files: per-day join, nulls, bad rows, 204 days, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from tests.support.health import HealthStates
from tests.support.report_script import END, START, Script, ndjson

from github_stats_exporter import metrics
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.copilot import ReportDownloader
from github_stats_exporter.github.errors import ServerError
from github_stats_exporter.health import FoldedHealth
from github_stats_exporter.scrape.copilot_teams import TeamOptions, TeamsCollector, snapshot_key
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

NOW = 1_780_000_000.0
ORG_ID = "900"


def member(user: int, slug: str, day: str, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "user_login": f"u{user}",
        "day": day,
        "organization_id": ORG_ID,
        "team_id": 1,
        "slug": slug,
        **extra,
    }


def usage(user: int, day: str, **values: Any) -> dict[str, Any]:
    return {"user_id": user, "user_login": f"u{user}", "day": day, "organization_id": ORG_ID, **values}


@dataclass
class Rig:
    store: MemorySnapshotStore = field(default_factory=MemorySnapshotStore)
    metrics: SelfMetrics = field(default_factory=SelfMetrics)
    health: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def collector(self, script: Script) -> TeamsCollector:
        rig = self

        return TeamsCollector(
            cast(GitHubClient, object()),
            cast(ReportDownloader, script),
            self.store,
            self.metrics,
            TeamOptions("org", "acme", 3600.0),
            health=FoldedHealth(HealthStates(rig.health)),
            clock=lambda: NOW,
            links=script,
        )

    async def series(self) -> dict[tuple[str, str, str], float]:
        key = snapshot_key("org", "acme")
        snap = (await self.store.get_many([key]))[key]
        return {
            (
                s.name.removeprefix("gh_copilot_team_"),
                dict(s.labels)["team"],
                dict(s.labels)["window"],
            ): s.value
            for s in snap.samples
        }

    def dropped(self, reason: str) -> float:
        labels = {"org": "acme", "scope": "teams", "reason": reason}
        return self.metrics.value(metrics.COPILOT_RECORDS_DROPPED, labels)


async def test_each_day_joins_its_own_membership_and_a_user_counts_in_every_team() -> None:
    """u1 moves from web to ops between the days; u2 is in both teams; u3 has no activity (inner join)."""
    script = Script(
        {
            ("user_teams", START): ndjson(
                member(1, "web", START), member(2, "web", START), member(2, "ops", START)
            ),
            ("user_teams", END): ndjson(
                member(1, "ops", END), member(2, "web", END), member(2, "ops", END), member(3, "ops", END)
            ),
            ("users", START): ndjson(
                usage(1, START, loc_added_sum=10, ai_credits_used=1.5), usage(2, START, loc_added_sum=1)
            ),
            ("users", END): ndjson(
                usage(1, END, loc_added_sum=100), usage(2, END, loc_added_sum=1000, ai_credits_used=2.0)
            ),
        }
    )
    rig = Rig()
    assert await rig.collector(script).tick()
    got = await rig.series()
    assert got[("loc_added_sum", "web", "28d")] == 10 + 1 + 1000
    assert got[("loc_added_sum", "ops", "28d")] == 1 + 100 + 1000
    assert got[("loc_added_sum", "web", "1d")] == 1000
    assert got[("loc_added_sum", "ops", "1d")] == 100 + 1000
    assert got[("active_users", "web", "28d")] == 2
    assert got[("active_users", "ops", "28d")] == 2  # u3 never had a row
    assert got[("active_users", "web", "1d")] == 1
    assert got[("ai_credits_used", "web", "28d")] == 3.5
    assert got[("ai_credits_used", "ops", "1d")] == 2.0
    # Absent counters have no series at all.
    assert not any(name == "loc_deleted_sum" for name, _, _ in got)


async def test_bad_rows_are_counted_and_never_joined() -> None:
    """Rows without slug or entity, rows of another day, undecodable lines and another org's user drop out."""
    script = Script(
        {
            ("user_teams", START): ndjson(
                member(1, "web", START),
                {**member(2, "web", START), "slug": None},
                member(3, "web", "2026-05-01"),
                {**member(4, "web", START), "organization_id": None},
            )
            + b"{not json\n",
            ("users", START): ndjson(
                usage(1, START, loc_added_sum=5), {**usage(1, START), "organization_id": "7", "user_id": 1}
            ),
        }
    )
    rig = Rig()
    assert await rig.collector(script).tick()
    assert await rig.series() == {("loc_added_sum", "web", "28d"): 5, ("active_users", "web", "28d"): 1}
    assert rig.dropped("malformed") == 2
    assert rig.dropped("other_day") == 1
    assert rig.dropped("parse_error") == 1


async def test_a_day_without_teams_does_not_ask_for_its_users_report() -> None:
    """A 204 (or empty) membership day is stored as empty and its users report is never requested."""
    script = Script(
        {
            ("user_teams", END): ndjson(member(1, "web", END)),
            ("users", END): ndjson(usage(1, END, loc_added_sum=2)),
        }
    )
    rig = Rig()
    collector = rig.collector(script)
    assert await collector.tick()
    assert ("users", "1d", START) not in script.calls
    assert await collector.tick()
    assert [c for c in script.calls if c[1] == "1d"] == [
        ("user_teams", "1d", START),
        ("user_teams", "1d", END),
        ("users", "1d", END),
    ]


async def test_a_failing_day_fails_the_pass_without_publishing() -> None:
    """A link error on one day: no snapshot, health unhealthy, run counted as fetch_error."""
    script = Script(
        {("user_teams", START): ServerError(500, "down", "x", "/p"), ("user_teams", END): ndjson()}
    )
    rig = Rig()
    assert not await rig.collector(script).tick()
    assert snapshot_key("org", "acme") not in await rig.store.get_many([snapshot_key("org", "acme")])
    assert rig.health["github_api_copilot_org_teams"][0] is False
    runs = {"org": "acme", "scope": "teams", "result": "fetch_error"}
    assert rig.metrics.value(metrics.COPILOT_SCRAPE_RUNS, runs) == 1


@pytest.mark.parametrize(
    ("scope", "scope_id"), [pytest.param("team", "x", id="bad-scope"), pytest.param("org", "", id="no-id")]
)
def test_options_refuse_a_bad_scope(scope: str, scope_id: str) -> None:
    """Only org or enterprise scopes with an id."""
    with pytest.raises(ValueError):
        TeamOptions(scope, scope_id, 60.0)  # type: ignore[arg-type]
