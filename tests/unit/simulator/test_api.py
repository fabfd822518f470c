"""Tests for the simulated REST endpoints: pagination, filters, ordering, ETags, special repos, stats warm-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tests.unit.simulator.conftest import START

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator

DAY = 86400


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def busy_repo(sim: Simulator) -> str:
    infos = [r for r in sim.world.repos("acme") if r.kind == "normal"]
    return max(infos, key=lambda r: len(sim.world.repo("acme", r.name).commits)).name


@pytest.mark.parametrize(
    "per_page", [pytest.param(7, id="7"), pytest.param(100, id="100"), pytest.param(30, id="default")]
)
async def test_pagination_walks_every_commit_exactly_once(
    sim: Simulator, api: Any, clock: SimClock, per_page: int
) -> None:
    """Following rel="next" yields each visible commit once, newest first, with absolute API URLs."""
    repo = busy_repo(sim)
    query = "" if per_page == 30 else f"?per_page={per_page}"
    items, pages = await api.walk(f"/repos/acme/{repo}/commits{query}")
    visible = sim.world.repo("acme", repo).visible_commits(clock.now())
    assert [c["sha"] for c in items] == [c.sha for c in reversed(visible)]
    assert pages == -(-len(visible) // per_page)


async def test_link_header_has_next_and_last_and_is_absent_on_one_page(sim: Simulator, api: Any) -> None:
    """Page 1 links next and last on the API host; a list that fits one page has no Link header."""
    repo = busy_repo(sim)
    _, _, headers = await api.get(f"/repos/acme/{repo}/commits?per_page=5")
    assert f'<{sim.api_url}/repos/acme/{repo}/commits?per_page=5&page=2>; rel="next"' in headers["Link"]
    assert 'rel="last"' in headers["Link"]
    _, body, headers = await api.get("/orgs/acme/repos?per_page=100")
    assert len(body) == 8
    assert "Link" not in headers


async def test_per_page_is_capped_at_100(sim: Simulator, api: Any) -> None:
    """Asking for more than 100 items per page gets 100."""
    _, body, _ = await api.get(f"/repos/acme/{busy_repo(sim)}/commits?per_page=500")
    assert len(body) == 100


async def test_commits_since_until_filter_on_committer_date(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """since/until keep commits whose committer date lies in [since, until]."""
    repo = busy_repo(sim)
    lo, hi = clock.now() - 3 * DAY, clock.now() - DAY
    items, _ = await api.walk(f"/repos/acme/{repo}/commits?per_page=100&since={iso(lo)}&until={iso(hi)}")
    dates = [ts(c["commit"]["committer"]["date"]) for c in items]
    expected = [
        c for c in sim.world.repo("acme", repo).visible_commits(clock.now()) if lo <= c.committed_at <= hi
    ]
    assert dates
    assert all(lo <= d <= hi for d in dates)
    assert len(items) == len(expected)


async def test_commit_detail_has_stats_and_files(sim: Simulator, api: Any) -> None:
    """GET /commits/{sha} returns additions/deletions/total and files that add up to them."""
    repo = busy_repo(sim)
    _, listing, _ = await api.get(f"/repos/acme/{repo}/commits?per_page=1")
    status, detail, _ = await api.get(f"/repos/acme/{repo}/commits/{listing[0]['sha']}")
    assert status == 200
    stats = detail["stats"]
    assert stats["total"] == stats["additions"] + stats["deletions"]
    assert sum(f["additions"] for f in detail["files"]) == stats["additions"]
    status, body, _ = await api.get(f"/repos/acme/{repo}/commits/{'0' * 40}")
    assert (status, body["message"]) == (422, f"No commit found for SHA: {'0' * 40}")


async def test_commits_in_the_future_are_invisible_until_the_clock_reaches_them(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """Advancing the clock reveals new commits at the head of the list."""
    repo = busy_repo(sim)
    _, before, _ = await api.get(f"/repos/acme/{repo}/commits?per_page=1")
    clock.advance(2 * DAY)
    _, after, _ = await api.get(f"/repos/acme/{repo}/commits?per_page=1")
    assert ts(after[0]["commit"]["committer"]["date"]) > ts(before[0]["commit"]["committer"]["date"])
    assert ts(after[0]["commit"]["committer"]["date"]) <= clock.now()


@pytest.mark.parametrize(
    ("query", "field", "descending"),
    [
        pytest.param("", "created_at", True, id="default-created-desc"),
        pytest.param("&sort=updated", "updated_at", False, id="updated-default-asc"),
        pytest.param("&sort=updated&direction=desc", "updated_at", True, id="updated-desc"),
        pytest.param("&sort=created&direction=asc", "created_at", False, id="created-asc"),
    ],
)
async def test_pulls_sort_and_direction_defaults(
    sim: Simulator, api: Any, query: str, field: str, descending: bool
) -> None:
    """Pulls sort by created (desc by default) or updated (asc by default) with a stable order."""
    items, _ = await api.walk(f"/repos/acme/{busy_repo(sim)}/pulls?state=all&per_page=100{query}")
    keys = [(ts(p[field]), p["number"]) for p in items]
    assert keys == sorted(keys, reverse=descending)
    assert len({p["number"] for p in items}) == len(items)


async def test_pulls_state_filter(sim: Simulator, api: Any) -> None:
    """state=open (the default) and state=closed partition state=all; merged PRs are closed."""
    repo = busy_repo(sim)
    every, _ = await api.walk(f"/repos/acme/{repo}/pulls?state=all&per_page=100")
    opened, _ = await api.walk(f"/repos/acme/{repo}/pulls?per_page=100")
    closed, _ = await api.walk(f"/repos/acme/{repo}/pulls?state=closed&per_page=100")
    assert {p["state"] for p in opened} == {"open"}
    assert {p["state"] for p in closed} == {"closed"}
    assert len(opened) + len(closed) == len(every)
    assert all(p["closed_at"] for p in closed)
    assert any(p["merged_at"] for p in closed)


async def test_reviews_are_chronological_and_pending_ones_have_no_submitted_at(
    sim: Simulator, api: Any
) -> None:
    """Reviews come in submission order; PENDING reviews carry submitted_at null."""
    repo = busy_repo(sim)
    data = sim.world.repo("acme", repo)
    now = sim.clock.now()
    pending = next(
        n for n, rs in data.reviews.items() if any(r.state == "PENDING" and r.created_at <= now for r in rs)
    )
    for number in [pending, *sorted(data.reviews, key=lambda n: -len(data.reviews[n]))[:4]]:
        status, reviews, _ = await api.get(f"/repos/acme/{repo}/pulls/{number}/reviews")
        assert status == 200
        times = [r["submitted_at"] for r in reviews if r["submitted_at"]]
        assert times == sorted(times)
        assert all(r["submitted_at"] is None for r in reviews if r["state"] == "PENDING")
    _, reviews, _ = await api.get(f"/repos/acme/{repo}/pulls/{pending}/reviews")
    assert any(r["state"] == "PENDING" for r in reviews)
    status, _, _ = await api.get(f"/repos/acme/{repo}/pulls/999999/reviews")
    assert status == 404


async def test_issue_comments_since_filters_on_updated_at(sim: Simulator, api: Any, clock: SimClock) -> None:
    """since keeps comments updated at or after it (edited old comments included), in ascending id order."""
    repo = busy_repo(sim)
    since = clock.now() - 2 * DAY
    items, _ = await api.walk(f"/repos/acme/{repo}/issues/comments?per_page=100&since={iso(since)}")
    assert items
    assert all(ts(c["updated_at"]) >= since for c in items)
    assert [c["id"] for c in items] == sorted(c["id"] for c in items)
    every, _ = await api.walk(f"/repos/acme/{repo}/issues/comments?per_page=100")
    expected = [c for c in every if ts(c["updated_at"]) >= since]
    assert [c["id"] for c in items] == [c["id"] for c in expected]
    assert any(c["updated_at"] != c["created_at"] for c in every)
    desc, _ = await api.walk(f"/repos/acme/{repo}/issues/comments?per_page=100&sort=created&direction=desc")
    assert [ts(c["created_at"]) for c in desc] == sorted((ts(c["created_at"]) for c in desc), reverse=True)


async def test_org_repos_sort_by_pushed_desc_and_repo_fields(sim: Simulator, api: Any) -> None:
    """sort=pushed&direction=desc orders by pushed_at; repo objects carry the fields the exporter reads."""
    items, _ = await api.walk("/orgs/acme/repos?sort=pushed&direction=desc&per_page=3")
    pushed = [ts(r["pushed_at"]) for r in items]
    assert pushed == sorted(pushed, reverse=True)
    flags = {r["name"]: (r["archived"], r["disabled"]) for r in items}
    assert flags["legacy-archive"] == (True, False)
    assert flags["disabled-mirror"] == (False, True)
    assert {
        "id",
        "full_name",
        "fork",
        "private",
        "default_branch",
        "owner",
        "created_at",
        "updated_at",
    } <= items[0].keys()
    names, _ = await api.walk("/orgs/acme/repos?sort=full_name")
    assert [r["full_name"] for r in names] == sorted(r["full_name"] for r in names)


async def test_other_org_and_unknown_repo_are_404(sim: Simulator, api: Any) -> None:
    """A token scoped to acme cannot see globex, and unknown repos are Not Found."""
    for path in ("/orgs/globex/repos", "/repos/globex/monorepo/commits", "/repos/acme/nope/pulls"):
        status, body, _ = await api.get(path)
        assert (status, body["message"]) == (404, "Not Found")
    # Errors still spend budget, booked under the org the path names.
    assert (sim.stats.rate_limited("globex"), sim.stats.rate_limited("acme")) == (2, 1)


async def test_empty_repo_answers_409_for_commits_and_204_for_stats(sim: Simulator, api: Any) -> None:
    """The empty repo says "Git Repository is empty." for commits and 204 for contributor stats."""
    status, body, _ = await api.get("/repos/acme/empty-placeholder/commits")
    assert (status, body["message"]) == (409, "Git Repository is empty.")
    status, body, _ = await api.get("/repos/acme/empty-placeholder/stats/contributors")
    assert (status, body) == (204, None)


async def test_contributor_stats_warm_up_then_200_then_202_after_new_commits(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """202 {} first, 200 next; once the clock reveals a new head commit, 202 again."""
    repo = busy_repo(sim)
    path = f"/repos/acme/{repo}/stats/contributors"
    status, body, headers = await api.get(path)
    assert (status, body) == (202, {})
    assert "ETag" not in headers
    status, body, _ = await api.get(path)
    assert status == 200
    assert body
    assert (await api.get(path))[0] == 200
    clock.advance(DAY)
    assert (await api.get(path))[0] == 202
    assert (await api.get(path))[0] == 200


async def test_stats_warm_up_override_per_repo(sim: Simulator, api: Any) -> None:
    """A per-repo override makes the first N calls answer 202."""
    repo = busy_repo(sim)
    sim.set_stats_warmup("acme", repo, 3)
    statuses = [(await api.get(f"/repos/acme/{repo}/stats/contributors"))[0] for _ in range(4)]
    assert statuses == [202, 202, 202, 200]


async def test_huge_repo_stats_zero_additions_and_deletions(sim: Simulator, api: Any) -> None:
    """The ≥10k-commit repo reports a=0 and d=0 in every week while commit counts stay real."""
    await api.get("/repos/acme/monorepo/stats/contributors")
    status, body, _ = await api.get("/repos/acme/monorepo/stats/contributors")
    assert status == 200
    weeks = [w for entry in body for w in entry["weeks"]]
    assert all(w["a"] == 0 and w["d"] == 0 for w in weeks)
    assert sum(w["c"] for w in weeks) > 0
    assert sum(entry["total"] for entry in body) == sum(w["c"] for w in weeks)


async def test_stats_list_unlinked_authors_under_a_null_author(sim: Simulator, api: Any) -> None:
    """Commits without a linked account are grouped in one entry whose author is null; merges are excluded."""
    repo = busy_repo(sim)
    await api.get(f"/repos/acme/{repo}/stats/contributors")
    _, body, _ = await api.get(f"/repos/acme/{repo}/stats/contributors")
    assert [e for e in body if e["author"] is None]
    data = sim.world.repo("acme", repo)
    non_merge = [c for c in data.visible_commits(sim.clock.now()) if not c.is_merge]
    assert sum(e["total"] for e in body) == len(non_merge)


async def test_etag_304_costs_no_budget(sim: Simulator, api: Any) -> None:
    """A matching If-None-Match (plain, weak or in a list) gets 304 with the ETag and unchanged remaining budget."""
    path = f"/repos/acme/{busy_repo(sim)}/pulls?state=all"
    status, _, headers = await api.get(path)
    tag, remaining = headers["ETag"], headers["x-ratelimit-remaining"]
    assert status == 200
    assert tag.startswith('"')
    for header in (tag, f"W/{tag}", f'"nope", {tag}'):
        status, body, h304 = await api.get(path, **{"If-None-Match": header})
        assert (status, body) == (304, None)
        assert h304["ETag"] == tag
        assert h304["x-ratelimit-remaining"] == remaining
    assert sim.stats.rate_limited("acme") == 1
    status, _, headers = await api.get(path, **{"If-None-Match": '"stale"'})
    assert status == 200
    assert int(headers["x-ratelimit-remaining"]) == int(remaining) - 1


async def test_installation_repositories_lists_the_installation_org(sim: Simulator, api: Any) -> None:
    """GET /installation/repositories is for installation tokens only (a PAT gets 403)."""
    status, _, _ = await api.get("/installation/repositories")
    assert status == 403


async def test_data_endpoints_require_a_token(sim: Simulator, api: Any) -> None:
    """Without Authorization the API answers 401 and counts nothing against any budget."""
    status, body, _ = await api.get("/orgs/acme/repos", token=None)
    assert (status, body["message"]) == (401, "Requires authentication")
    status, body, _ = await api.get("/orgs/acme/repos", token="ghp_wrong")
    assert (status, body["message"]) == (401, "Bad credentials")
    assert sim.stats.rate_limited() == 0


async def test_remembered_etag_answers_304_until_the_repo_changes(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """A conditional listing answers 304 with the 200's ETag and Link while nothing happens, and 200 with the news once a commit lands."""
    repo = busy_repo(sim)
    data = sim.world.repo("acme", repo)
    pending = [c.committed_at for c in data.commits if c.committed_at > clock.now()]
    body, fresh = await until_it_changes(api, clock, f"/repos/acme/{repo}/commits?per_page=3", pending[0])
    assert fresh[0]["sha"] in {c.sha for c in data.commits if c.committed_at == pending[0]}
    assert fresh != body


async def until_it_changes(api: Any, clock: SimClock, path: str, change: int) -> tuple[Any, Any]:
    """GET ``path``; then, just before ``change``, a conditional GET is 304 with the 200's ETag and Link;
    at ``change`` it is a 200 with another ETag. Returns both 200 bodies."""
    status, body, headers = await api.get(path)
    tag = headers["ETag"]
    assert status == 200
    assert "Link" in headers
    clock.set(float(change - 1))  # time passes, the next change is still ahead
    status, _, h304 = await api.get(path, **{"If-None-Match": tag})
    assert status == 304
    assert (h304["ETag"], h304["Link"]) == (tag, headers["Link"])
    clock.set(float(change))
    status, fresh, h200 = await api.get(path, **{"If-None-Match": tag})
    assert status == 200
    assert h200["ETag"] != tag
    return body, fresh


async def test_the_last_answer_per_repository_route_is_recorded(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """Every answer to a repository route records its simulated time under (route, owner, repo), lower-cased."""
    repo = busy_repo(sim)
    await api.get(f"/repos/ACME/{repo}/issues/comments")
    clock.advance(60)
    await api.get(f"/repos/acme/{repo}/pulls")
    last = sim.stats.last_answered
    assert last["list_issue_comments", "acme", repo.lower()] == START
    assert last["list_pulls", "acme", repo.lower()] == START + 60


async def test_remembered_org_listing_answers_304_until_a_repo_is_pushed_to(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """An org's conditional repository listing answers 304 (same ETag and Link) while no repo gets a commit, and 200 with the new pushed_at once one does."""
    pending = sorted(
        c.committed_at
        for info in sim.world.repos("acme")
        for c in sim.world.repo("acme", info.name).commits
        if c.committed_at > clock.now()
    )
    body, fresh = await until_it_changes(api, clock, "/orgs/acme/repos?per_page=2&sort=pushed", pending[0])
    assert fresh[0]["pushed_at"] == iso(pending[0])
    assert fresh != body


async def test_a_page_of_the_org_listing_in_creation_order_changes_only_with_its_own_repos(
    sim: Simulator, api: Any, clock: SimClock
) -> None:
    """In creation order a listing page answers 304 after a push to a repo on another page, and 200 after a push to one of its own."""
    order = [
        info.name
        for info in sorted(sim.world.repos("acme"), key=lambda i: (i.created_at, i.id), reverse=True)
    ]
    upcoming = {
        info.name: min(
            c.committed_at for c in sim.world.repo("acme", info.name).commits if c.committed_at > clock.now()
        )
        for info in sim.world.repos("acme")
        if any(c.committed_at > clock.now() for c in sim.world.repo("acme", info.name).commits)
    }
    pushed = min(upcoming, key=lambda name: upcoming[name])
    own = order.index(pushed) // 2 + 1
    other = 1 if own != 1 else 2
    tags = {}
    for page in (own, other):
        status, _, headers = await api.get(f"/orgs/acme/repos?per_page=2&page={page}")
        assert status == 200
        tags[page] = headers["ETag"]
    clock.set(float(upcoming[pushed]))
    status, _, h304 = await api.get(
        f"/orgs/acme/repos?per_page=2&page={other}", **{"If-None-Match": tags[other]}
    )
    assert (status, h304["ETag"]) == (304, tags[other])
    status, body, h200 = await api.get(
        f"/orgs/acme/repos?per_page=2&page={own}", **{"If-None-Match": tags[own]}
    )
    assert status == 200
    assert h200["ETag"] != tags[own]
    assert next(item["pushed_at"] for item in body if item["name"] == pushed) == iso(upcoming[pushed])
