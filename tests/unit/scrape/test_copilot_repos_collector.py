"""The repository collector with scripted links and files: windows, bad rows, 204 days, the enterprise label."""

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
from github_stats_exporter.metrics import MetricSpec
from github_stats_exporter.model import Snapshot
from github_stats_exporter.scrape.copilot_map import MAX_LABEL_VALUES
from github_stats_exporter.scrape.copilot_repos import RepoOptions, ReposCollector, snapshot_key
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

NOW = 1_780_000_000.0
PRS = "gh_copilot_usage_pull_requests_"


def repo(
    name: str, day: str, owner: str = "acme", review: list[dict[str, Any]] | None = None, **prs: Any
) -> dict[str, Any]:
    return {
        "day": day,
        "repo_id": 1,
        "repo_owner_name": owner,
        "repo_name": name,
        "repo_visibility": "PRIVATE",
        "pull_requests": prs,
        "pull_request_review_times": review or [],
    }


def stages(authored: str = "human", reviewed: str = "human", **minutes: float) -> dict[str, Any]:
    return {"authored_by": authored, "reviewed_by": reviewed, "total_merged": 1, **minutes}


class FailingPuts(MemorySnapshotStore):
    """A memory store whose snapshot writes fail, as Redis does while it restarts."""

    async def put(self, snapshot: Snapshot) -> int:
        msg = "redis restarting"
        raise StoreUnavailable(msg)


@dataclass
class Rig:
    scope: str = "org"
    store: MemorySnapshotStore = field(default_factory=MemorySnapshotStore)
    metrics: SelfMetrics = field(default_factory=SelfMetrics)
    health: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def collector(self, script: Script) -> ReposCollector:
        return ReposCollector(
            cast(GitHubClient, object()),
            cast(ReportDownloader, script),
            self.store,
            self.metrics,
            RepoOptions(self.scope, "acme", 3600.0),  # type: ignore[arg-type]
            health=FoldedHealth(HealthStates(self.health)),
            clock=lambda: NOW,
            links=script,
        )

    async def series(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        key = snapshot_key(self.scope, "acme")  # type: ignore[arg-type]
        snap = (await self.store.get_many([key]))[key]
        return {(s.name, s.labels): s.value for s in snap.samples}

    def counted(self, spec: MetricSpec, **labels: str) -> float:
        scope = "repos" if self.scope == "org" else "enterprise_repos"
        return self.metrics.value(spec, {"org": "acme", "scope": scope, **labels})


def labels(repo_label: str, window: str, scope: str = "repository") -> tuple[tuple[str, str], ...]:
    return (("org", "acme"), ("repo", repo_label), ("user", "all"), ("scope", scope), ("window", window))


async def test_28d_sums_the_days_and_1d_is_the_newest_day_only() -> None:
    """web is active both days, api only on the first: api has 28d series but none for 1d; medians and
    review stages come from the newest day alone."""
    script = Script(
        {
            ("repos", START): ndjson(
                repo("web", START, total_created=2, median_minutes_to_merge=50.0),
                repo("api", START, total_created=7),
            ),
            ("repos", END): ndjson(
                repo(
                    "web",
                    END,
                    review=[
                        stages(
                            median_minutes_ready_to_first_review=12.5, p90_minutes_final_review_to_merge=90
                        )
                    ],
                    total_created=3,
                    median_minutes_to_merge=None,
                    median_minutes_to_merge_copilot_authored=30.0,
                )
            ),
        }
    )
    rig = Rig()
    assert await rig.collector(script).tick()
    got = await rig.series()
    assert got[PRS + "total_created", labels("web", "28d")] == 5
    assert got[PRS + "total_created", labels("web", "1d")] == 3
    assert got[PRS + "total_created", labels("api", "28d")] == 7
    assert not [k for k in got if k[1] == labels("api", "1d")]
    assert got[PRS + "median_minutes_to_merge_copilot_authored", labels("web", "1d")] == 30.0
    assert not [k for k in got if k[0] == PRS + "median_minutes_to_merge"]  # null on the newest day
    review = {
        dict(lab)["stage"] + "/" + dict(lab)["quantile"]: v for (n, lab), v in got.items() if "review" in n
    }
    assert review == {"ready_to_first_review/0.5": 12.5, "final_review_to_merge/0.9": 90}


async def test_bad_rows_are_skipped_and_counted() -> None:
    """A row without a name, one of another day, a repeated repository and an undecodable line are dropped
    and counted; the good rows still make their series."""
    script = Script(
        {
            ("repos", END): ndjson(
                repo("web", END, total_merged=1),
                {**repo("x", END), "repo_name": None},
                repo("old", "2026-05-01", total_merged=9),
                repo("web", END, total_merged=50),
                {**repo("typed", END), "pull_requests": {"total_merged": "many"}},
            )
            + b"{not json\n"
        }
    )
    rig = Rig()
    assert await rig.collector(script).tick()
    got = await rig.series()
    assert got == {
        (PRS + "total_merged", labels("web", "28d")): 1,
        (PRS + "total_merged", labels("web", "1d")): 1,
    }
    assert rig.counted(metrics.COPILOT_RECORDS_DROPPED, reason="malformed") == 1
    assert rig.counted(metrics.COPILOT_RECORDS_DROPPED, reason="other_day") == 1
    assert rig.counted(metrics.COPILOT_RECORDS_DROPPED, reason="duplicate") == 1
    assert rig.counted(metrics.COPILOT_RECORDS_DROPPED, reason="parse_error") == 2


async def test_204_days_are_stored_empty_and_not_asked_again() -> None:
    """Both days answer 204: the pass succeeds with no series, and the next pass asks only for the window."""
    script = Script({})
    rig = Rig()
    collector = rig.collector(script)
    assert await collector.tick()
    assert await rig.series() == {}
    assert await collector.days.days() == [START, END]
    assert await collector.tick()
    assert [c for c in script.calls if c[1] == "1d"] == [("repos", "1d", START), ("repos", "1d", END)]


async def test_enterprise_rows_are_labelled_owner_slash_name() -> None:
    """Enterprise reports span orgs: two orgs' `web` repositories stay apart, and a row without an owner
    is malformed."""
    script = Script(
        {
            ("repos", END): ndjson(
                repo("web", END, owner="acme", total_created=1),
                repo("web", END, owner="globex", total_created=2),
                {**repo("web", END, total_created=4), "repo_owner_name": None},
            )
        }
    )
    rig = Rig(scope="enterprise")
    assert await rig.collector(script).tick()
    got = await rig.series()
    assert got[PRS + "total_created", labels("acme/web", "1d", "enterprise_repository")] == 1
    assert got[PRS + "total_created", labels("globex/web", "1d", "enterprise_repository")] == 2
    assert rig.counted(metrics.COPILOT_RECORDS_DROPPED, reason="malformed") == 1


async def test_comment_types_over_the_cap_are_dropped_and_counted() -> None:
    """The first MAX_LABEL_VALUES comment types of a pass make series; elements of further types are
    counted in the label-drop counter."""
    kinds = [
        {"comment_type": f"t{i:02d}", "total_copilot_suggestions": 1, "total_copilot_applied_suggestions": 0}
        for i in range(MAX_LABEL_VALUES + 2)
    ]
    script = Script({("repos", END): ndjson(repo("web", END, copilot_suggestions_by_comment_type=kinds))})
    rig = Rig()
    assert await rig.collector(script).tick()
    got = await rig.series()
    family = PRS + "copilot_suggestions_by_comment_type"
    seen = {dict(lab)["comment_type"] for (name, lab) in got if name == family}
    assert len(seen) == MAX_LABEL_VALUES
    assert rig.counted(metrics.COPILOT_LABEL_VALUES_DROPPED, label="comment_type") == 2


async def test_a_failing_day_fails_the_pass_without_publishing() -> None:
    """A link error on one day: no snapshot, health unhealthy, run counted as fetch_error."""
    script = Script({("repos", START): ServerError(500, "down", "x", "/p"), ("repos", END): ndjson()})
    rig = Rig()
    assert not await rig.collector(script).tick()
    assert snapshot_key("org", "acme") not in await rig.store.get_many([snapshot_key("org", "acme")])
    assert rig.health["github_api_copilot_org_repos"][0] is False
    assert rig.counted(metrics.COPILOT_SCRAPE_RUNS, result="fetch_error") == 1


@pytest.mark.parametrize(
    ("scope", "scope_id", "interval"),
    [
        pytest.param("repo", "x", 60.0, id="bad-scope"),
        pytest.param("org", "", 60.0, id="no-id"),
        pytest.param("org", "acme", 0.0, id="no-interval"),
    ],
)
def test_options_refuse_a_bad_scope(scope: str, scope_id: str, interval: float) -> None:
    """Only org or enterprise scopes with an id and a positive interval."""
    with pytest.raises(ValueError):
        RepoOptions(scope, scope_id, interval)  # type: ignore[arg-type]


async def test_rows_without_pull_requests_and_odd_review_elements_keep_what_they_have() -> None:
    """A row without `pull_requests` makes no PR series but keeps its review stages; a review element
    without authors is skipped, the second element of a pair and a repeated comment type are ignored."""
    kind = {
        "comment_type": "bug_risk",
        "total_copilot_suggestions": 2,
        "total_copilot_applied_suggestions": 1,
    }
    script = Script(
        {
            ("repos", END): ndjson(
                {
                    **repo("web", END),
                    "pull_requests": None,
                    "pull_request_review_times": [
                        stages(median_minutes_final_review_to_merge=4.0),
                        stages(median_minutes_final_review_to_merge=99.0),
                        stages(authored=None, median_minutes_final_review_to_merge=7.0),  # type: ignore[arg-type]
                    ],
                },
                repo(
                    "api",
                    END,
                    copilot_suggestions_by_comment_type=[kind, {**kind, "total_copilot_suggestions": 50}],
                ),
            )
        }
    )
    rig = Rig()
    assert await rig.collector(script).tick()
    got = await rig.series()
    assert not [k for k in got if k[0].startswith(PRS) and dict(k[1])["repo"] == "web"]
    review = [v for (name, lab), v in got.items() if "review" in name]
    assert review == [4.0]
    by_type = got[
        PRS + "copilot_suggestions_by_comment_type", (*labels("api", "1d"), ("comment_type", "bug_risk"))
    ]
    assert by_type == 2


async def test_a_failing_window_call_fails_the_pass() -> None:
    """The 28-day users link call fails: fetch_error, unhealthy, no day is asked for."""

    class NoWindow(Script):
        async def fetch_links(self, ref: Any, window: str, day: str | None = None) -> Any:
            if window == "28d":
                raise ServerError(502, "bad gateway", "x", "/p")
            return await super().fetch_links(ref, window, day)

    script = NoWindow({})
    rig = Rig()
    assert not await rig.collector(script).tick()
    assert rig.counted(metrics.COPILOT_SCRAPE_RUNS, result="fetch_error") == 1
    assert rig.health["github_api_copilot_org_repos"][0] is False
    assert script.calls == []


async def test_a_store_failure_is_counted_and_not_a_health_verdict_on_github() -> None:
    """A failed snapshot write is `store_error`; GitHub answered, so the component is not marked unhealthy."""
    rig = Rig(store=FailingPuts(clock=lambda: NOW))
    assert not await rig.collector(Script({("repos", END): ndjson(repo("web", END, total_created=1))})).tick()
    assert rig.counted(metrics.COPILOT_SCRAPE_RUNS, result="store_error") == 1
    assert "github_api_copilot_org_repos" not in rig.health
