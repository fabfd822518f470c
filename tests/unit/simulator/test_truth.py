"""Ground truth checked against an independent brute-force walk of the simulator's REST responses."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.truth import activity_truth, loc_week_start

DAY = 86400
NOREPLY = re.compile(r"(?:\d+\+)?(.+)@users\.noreply\.github\.com")


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def who(user: dict[str, Any] | None) -> str:
    return "unknown" if user is None else str(user["login"])


def commit_login(item: dict[str, Any]) -> str:
    if item["author"] is not None:
        return str(item["author"]["login"])
    git = item["commit"]["author"]
    match = NOREPLY.fullmatch(git["email"] or "")
    if match:
        return match.group(1)
    return "unlinked_git_author" if git["name"] or git["email"] else "unattributed_commit"


async def brute_force_activity(
    api: Any, org: str, repo: str, now: float
) -> dict[tuple[str, str, str, str], float]:
    """Counts of every 24h activity series of one repo, computed only from REST responses."""
    lo = now - DAY
    counts: Counter[tuple[str, str]] = Counter()
    last: dict[str, float] = {}

    def add(metric: str, user: str, t: float) -> None:
        if lo <= t < now:
            counts[metric, user] += 1
            last[user] = max(last.get(user, t), t)

    base = f"/repos/{org}/{repo}"
    commits, _ = await api.walk(f"{base}/commits?per_page=100&since={iso(lo)}")
    for c in commits:
        add("gh_activity_commits_24h", commit_login(c), ts(c["commit"]["committer"]["date"]))
    pulls, _ = await api.walk(f"{base}/pulls?state=all&per_page=100")
    for p in pulls:
        add("gh_activity_prs_opened_24h", who(p["user"]), ts(p["created_at"]))
        if p["merged_at"]:
            add("gh_activity_prs_merged_24h", who(p["user"]), ts(p["merged_at"]))
        reviews, _ = await api.walk(f"{base}/pulls/{p['number']}/reviews?per_page=100")
        for r in reviews:
            if r["state"] != "PENDING" and r["submitted_at"]:
                add("gh_activity_reviews_submitted_24h", who(r["user"]), ts(r["submitted_at"]))
    comments, _ = await api.walk(f"{base}/issues/comments?per_page=100")
    for cm in comments:
        add("gh_activity_issue_comments_24h", who(cm["user"]), ts(cm["created_at"]))
    out = {(metric, org, repo, user): float(n) for (metric, user), n in counts.items()}
    out.update({("gh_activity_last_event_unixtime", org, repo, user): t for user, t in last.items()})
    return out


def only(truth: dict[tuple[str, str, str, str], float], org: str, repo: str, loc: bool) -> dict[Any, float]:
    return {k: v for k, v in truth.items() if k[1] == org and k[2] == repo and ("_loc_" in k[0]) == loc}


def busiest_repo(sim: Simulator, now: float) -> str:
    truth = activity_truth(sim.world, now)
    per_repo = Counter(k[2] for k in truth if k[1] == "acme" and "_loc_" not in k[0])
    return per_repo.most_common(1)[0][0]


async def test_activity_truth_matches_brute_force_at_two_times(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """For the busiest repo, truth equals counts derived from the raw API now and five hours later."""
    repo = busiest_repo(sim, clock.now())
    first = await brute_force_activity(api, "acme", repo, clock.now())
    assert first == only(sim.truth(), "acme", repo, loc=False)
    clock.advance(5 * 3600)
    second = await brute_force_activity(api, "acme", repo, clock.now())
    assert second == only(sim.truth(), "acme", repo, loc=False)
    assert first != second


async def stats_when_ready(api: Any, org: str, repo: str) -> list[dict[str, Any]]:
    for _ in range(5):
        status, body, _ = await api.get(f"/repos/{org}/{repo}/stats/contributors")
        if status == 200:
            return list(body)
    raise AssertionError("stats/contributors never became ready")


async def test_loc_truth_matches_contributor_stats(sim: Simulator, api: Any, clock: SimClock) -> None:
    """Weekly LOC truth equals the latest complete week of stats/contributors, unlinked authors as "unknown"."""
    repo = busiest_repo(sim, clock.now())
    w = loc_week_start(clock.now())
    expected: dict[Any, float] = {}
    for entry in await stats_when_ready(api, "acme", repo):
        user = who(entry["author"])
        week = next(x for x in entry["weeks"] if x["w"] == w)
        if week["a"] or week["d"]:
            expected["gh_activity_loc_added_weekly", "acme", repo, user] = float(week["a"])
            expected["gh_activity_loc_removed_weekly", "acme", repo, user] = float(week["d"])
    assert expected
    assert expected == only(sim.truth(), "acme", repo, loc=True)


async def test_huge_repo_truth_is_the_sum_of_commit_details(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """For the huge repo, LOC truth is what summing commit details of the week's non-merge commits gives."""
    now = clock.now()
    w = loc_week_start(now)
    commits, _ = await api.walk(f"/repos/acme/monorepo/commits?per_page=100&since={iso(w)}")
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for c in commits:
        authored = ts(c["commit"]["author"]["date"])
        if len(c["parents"]) > 1 or not w <= authored < w + 7 * DAY:
            continue
        _, detail, _ = await api.get(f"/repos/acme/monorepo/commits/{c['sha']}")
        added[who(c["author"])] += detail["stats"]["additions"]
        removed[who(c["author"])] += detail["stats"]["deletions"]
    expected = {("gh_activity_loc_added_weekly", "acme", "monorepo", u): float(n) for u, n in added.items()}
    expected.update(
        {("gh_activity_loc_removed_weekly", "acme", "monorepo", u): float(n) for u, n in removed.items()}
    )
    assert expected == only(sim.truth(), "acme", "monorepo", loc=True)


def test_truth_changes_as_the_clock_advances(sim: Simulator) -> None:
    """Moving time forward by a few hours adds new events and drops old ones from the 24h window."""
    now = sim.world.spec.start
    before, after = sim.truth(now), sim.truth(now + 4 * 3600)
    activity_keys = {k for k in before if "_loc_" not in k[0]}
    assert before != after
    assert activity_keys - after.keys() or any(before[k] != after.get(k) for k in activity_keys)


def test_archived_and_disabled_repos_only_with_include_archived(sim: Simulator) -> None:
    """Archived and disabled repos contribute nothing by default; include_archived brings the disabled one back."""
    now = sim.world.spec.start
    default = activity_truth(sim.world, now)
    everything = activity_truth(sim.world, now, include_archived=True)
    assert not {k for k in default if k[2] in ("legacy-archive", "disabled-mirror")}
    assert {k for k in everything if k[2] == "disabled-mirror"}
    # Archived ten days ago: still in last week's LOC, never in the 24h window.
    assert not {k for k in everything if k[2] == "legacy-archive" and "_loc_" not in k[0]}


def test_idle_and_empty_repos_have_no_commit_series(sim: Simulator) -> None:
    """The idle repo has no 24h series at all; the empty repo has no commit or LOC series."""
    truth = sim.truth()
    assert not [k for k in truth if k[2] == "dormant-tool" and "_loc_" not in k[0]]
    assert not [
        k for k in truth if k[2] == "empty-placeholder" and (k[0].endswith("commits_24h") or "_loc_" in k[0])
    ]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(
            datetime(2026, 5, 28, 20, 26, tzinfo=UTC), datetime(2026, 5, 17, tzinfo=UTC), id="thursday"
        ),
        pytest.param(
            datetime(2026, 5, 31, 0, 0, tzinfo=UTC), datetime(2026, 5, 24, tzinfo=UTC), id="sunday-midnight"
        ),
        pytest.param(
            datetime(2026, 5, 30, 23, 59, tzinfo=UTC), datetime(2026, 5, 17, tzinfo=UTC), id="saturday-night"
        ),
    ],
)
def test_loc_week_start_is_latest_complete_sunday_week(now: datetime, expected: datetime) -> None:
    """The LOC week is the newest Sunday-00:00-UTC week that has fully ended."""
    w = loc_week_start(now.timestamp())
    assert w == expected.timestamp()
    assert datetime.fromtimestamp(w, UTC).weekday() == 6
    assert datetime.fromtimestamp(w, UTC) + timedelta(days=7) <= now
