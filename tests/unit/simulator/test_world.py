"""Tests for the seeded world: determinism, special repos, and the variety of authors and events."""

from __future__ import annotations

import time

from github_stats_exporter.simulator.entities import GHOST
from github_stats_exporter.simulator.spec import DAY, OrgSpec, WorldSpec, demo_spec
from github_stats_exporter.simulator.world import World

START = 1_780_000_000.0


def small_spec(seed: int = 7) -> WorldSpec:
    return WorldSpec(seed=seed, orgs=(OrgSpec("acme", repos=8, users=8),), start=START, prs_per_day=3.0)


def test_same_seed_builds_identical_data() -> None:
    """Two worlds from the same spec hold exactly the same repos, commits, pulls, reviews and comments."""
    a, b = World(small_spec()), World(small_spec())
    for info in a.repos("acme"):
        ra, rb = a.repo("acme", info.name), b.repo("acme", info.name)
        assert (ra.commits, ra.pulls, ra.reviews, ra.comments) == (
            rb.commits,
            rb.pulls,
            rb.reviews,
            rb.comments,
        )


def test_other_seed_builds_other_data() -> None:
    """A different seed changes the generated history."""
    a, b = World(small_spec(seed=1)), World(small_spec(seed=2))
    assert a.repo("acme", "monorepo").commits != b.repo("acme", "monorepo").commits


def test_repo_order_of_access_does_not_change_data() -> None:
    """Each repo is generated from (seed, org, repo) alone, so lazy access order does not matter."""
    a, b = World(small_spec()), World(small_spec())
    names = [r.name for r in a.repos("acme")]
    for name in names:
        a.repo("acme", name)
    assert b.repo("acme", names[-1]).commits == a.repo("acme", names[-1]).commits


def test_special_repos_exist_with_their_properties() -> None:
    """Every org has an archived, a disabled, an empty, a huge, a PR-less and an idle repo."""
    world = World(small_spec())
    kinds = {r.kind: r for r in world.repos("acme")}
    assert {"archived", "disabled", "empty", "huge", "no_prs", "idle", "normal"} <= kinds.keys()
    assert kinds["archived"].archived
    assert kinds["disabled"].disabled
    assert kinds["huge"].huge
    assert world.repo("acme", kinds["empty"].name).commits == []
    assert world.repo("acme", kinds["no_prs"].name).pulls == {}
    idle = world.repo("acme", kinds["idle"].name)
    last_event = max(
        [c.committed_at for c in idle.commits]
        + [t for pr in idle.pulls.values() for t in pr.event_times]
        + [c.created_at for c in idle.comments]
    )
    assert last_event < START - 3 * DAY


def test_world_contains_every_kind_of_author() -> None:
    """The data has merges, bots, unlinked git authors (noreply and plain emails), ghosts, null users and pending reviews."""
    world = World(small_spec())
    commits = [c for r in world.repos("acme") for c in world.repo("acme", r.name).commits]
    assert any(c.is_merge and len(c.parents) == 2 for c in commits)
    assert any(c.author is not None and c.author.login == "github-actions[bot]" for c in commits)
    unlinked = [c.git_author.email for c in commits if c.author is None]
    assert any(e.endswith("@users.noreply.github.com") for e in unlinked)
    assert any(e == "jane@example.com" for e in unlinked)
    data = [world.repo("acme", r.name) for r in world.repos("acme")]
    pr_users = [pr.user for d in data for pr in d.pulls.values()]
    comment_users = [c.user for d in data for c in d.comments]
    assert GHOST in pr_users + comment_users
    assert None in pr_users + comment_users
    assert any(
        pr.user is not None and pr.user.type == "Bot" for pr in (p for d in data for p in d.pulls.values())
    )
    reviews = [r for d in data for rs in d.reviews.values() for r in rs]
    assert {r.state for r in reviews} == {
        "APPROVED",
        "CHANGES_REQUESTED",
        "COMMENTED",
        "DISMISSED",
        "PENDING",
    }
    assert all((r.submitted_at is None) == (r.state == "PENDING") for r in reviews)
    assert any(c.edited_at is not None and c.edited_at > c.created_at for d in data for c in d.comments)


def test_pull_updated_at_is_newest_event_not_after_now() -> None:
    """A PR's updated_at is the newest of its created/review/comment/close times that are not in the future."""
    world = World(small_spec())
    data = world.repo("acme", world.repos("acme")[6].name)
    now = START - 0.5 * DAY
    for view in data.visible_pulls(now):
        pr = view.pr
        times = [pr.created_at]
        times += [r.submitted_at for r in data.reviews.get(pr.number, []) if r.submitted_at is not None]
        times += [c.created_at for c in data.comments if c.number == pr.number]
        times += [pr.closed_at] if pr.closed_at is not None else []
        assert view.updated_at == max(t for t in times if t <= now)


def test_one_repo_of_a_big_world_builds_lazily_and_fast() -> None:
    """Touching one repo of a 2x150-repo world builds only that repo, within a generous time bound."""
    spec = WorldSpec(
        orgs=(OrgSpec("a", repos=150), OrgSpec("b", repos=150, app_id=2, installation_id=3)), start=START
    )
    world = World(spec)
    started = time.perf_counter()
    data = world.repo("b", world.repos("b")[100].name)
    assert time.perf_counter() - started < 0.25
    assert world.built_repos == 1
    assert len(data.commits) > 0


def test_demo_spec_has_two_orgs_and_an_enterprise() -> None:
    """The demo preset names acme-corp (12 repos), globex (8 repos) and the acme-enterprise."""
    spec = demo_spec(START)
    assert [(o.name, o.repos) for o in spec.orgs] == [("acme-corp", 12), ("globex", 8)]
    assert spec.enterprise is not None
    assert spec.enterprise.slug == "acme-enterprise"
