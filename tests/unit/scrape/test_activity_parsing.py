"""Activity payload parsing, repo discovery and collector edge cases against a scripted in-memory client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from github_stats_exporter import metrics
from github_stats_exporter.github.activity import (
    parse_comment,
    parse_commit,
    parse_pull,
    parse_repo,
    parse_review,
)
from github_stats_exporter.github.client import GitHubClient, Response
from github_stats_exporter.github.errors import NotFound, http_error_for
from github_stats_exporter.github.payload import parse_time
from github_stats_exporter.model import MissedWindow, SnapshotKey, TimeWindow
from github_stats_exporter.scrape.activity import COMMITS_RECHECK_SECONDS, ActivityCollector, ledger_name
from github_stats_exporter.scrape.ledger import Ledger
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

NOW = 1_780_000_000.0
T = "2026-05-28T20:00:00Z"
T_UNIX = 1_780_000_000.0 - 1600.0


class ScriptedClient:
    """Answers GETs from a table ``path -> list of pages``; a page is data or an HTTP status to raise."""

    def __init__(self, routes: dict[str, list[Any]]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.fitted: list[int] = []

    def fit_etag_cache(self, repositories: int) -> None:
        self.fitted.append(repositories)

    async def get(
        self,
        path_or_url: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        accept: Any = (200,),
        conditional: bool = True,
        decode_unchanged: bool = True,
        shared_first: bool = False,
    ) -> Response:
        page = 1
        path = path_or_url
        if "?page=" in path_or_url:
            path, number = path_or_url.split("?page=")
            page = int(number)
        self.calls.append((path, {k: str(v) for k, v in (params or {}).items()}))
        pages = self.routes.get(path)
        if pages is None:
            raise NotFound(404, "Not Found", endpoint, path)
        answer = pages[page - 1]
        if isinstance(answer, int):
            raise http_error_for(answer, "scripted", endpoint, path)
        headers = {"link": f'<{path}?page={page + 1}>; rel="next"'} if page < len(pages) else {}
        return Response(200, answer, headers, False, path)


def repo_json(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "owner": {"login": "acme"}, "default_branch": "main", "pushed_at": T, **extra}


def commit_json(sha: str, login: str | None = "mona", date: str = T, email: str = "m@example.com") -> Any:
    return {
        "sha": sha,
        "commit": {"author": {"name": "M", "email": email, "date": date}, "committer": {"date": date}},
        "author": {"login": login} if login else None,
    }


def pull_json(number: int, updated: str = T, **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "user": {"login": "mona"},
        "created_at": updated,
        "updated_at": updated,
        **extra,
    }


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-05-28T20:00:00Z", T_UNIX, id="zulu"),
        pytest.param("2026-05-28T22:00:00+02:00", T_UNIX, id="offset"),
        pytest.param("2026-05-28T20:00:00", None, id="naive-rejected"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param(None, None, id="null"),
        pytest.param(12, None, id="number"),
    ],
)
def test_parse_time(text: object, expected: float | None) -> None:
    """Timestamps parse only when they carry a zone; anything else is None, never an exception."""
    assert parse_time(text) == expected


def test_commit_parsing_tolerates_missing_and_null_fields() -> None:
    """A commit needs a sha and a committer date; author objects may be null or partial."""
    full = parse_commit(commit_json("a1", email="x@example.com"))
    assert full is not None
    assert (full.sha, full.author_login, full.author_email) == (
        "a1",
        "mona",
        "x@example.com",
    )
    unlinked = parse_commit(
        {"sha": "b2", "commit": {"committer": {"date": T}, "author": None}, "author": None}
    )
    assert unlinked is not None
    assert (unlinked.author_login, unlinked.author_name, unlinked.author_email) == (
        None,
        "",
        "",
    )
    assert parse_commit({"sha": "c3", "commit": {"committer": {"date": None}}}) is None
    assert parse_commit({"commit": {"committer": {"date": T}}}) is None
    assert parse_commit("nope") is None


def test_pull_review_comment_repo_parsing() -> None:
    """Items keep what the counts need; items without their key fields are rejected (counted as malformed)."""
    pr = parse_pull(pull_json(5, merged_at=T, user=None))
    assert pr is not None
    assert (pr.number, pr.user_login, pr.merged_at) == (5, None, T_UNIX)
    assert parse_pull({"number": "5", "created_at": T, "updated_at": T}) is None
    assert parse_pull({"number": True, "created_at": T, "updated_at": T}) is None

    review = parse_review({"id": 9, "user": {"login": "hubot"}, "state": "approved", "submitted_at": T})
    assert review is not None
    assert (review.id, review.state, review.submitted_at) == ("9", "APPROVED", T_UNIX)
    pending = parse_review({"id": 10, "user": None, "state": "PENDING"})
    assert pending is not None
    assert pending.submitted_at is None
    assert parse_review({"user": {"login": "x"}}) is None

    comment = parse_comment({"id": 3, "user": {"login": "ghost"}, "created_at": T})
    assert comment is not None
    assert comment.updated_at == comment.created_at == T_UNIX
    assert parse_comment({"id": 3, "created_at": None}) is None

    repo = parse_repo({"name": "w", "full_name": "acme/w", "archived": None})
    assert repo is not None
    assert (repo.owner, repo.archived, repo.pushed_at) == ("acme", False, None)
    assert parse_repo({"full_name": "acme/w"}) is None


# --- repo discovery -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowlist", "include_archived", "expected"),
    [
        pytest.param(["*"], False, ["alpha", "Beta"], id="all-active"),
        pytest.param(["*"], True, ["alpha", "Beta", "gone", "old"], id="all-with-archived"),
        pytest.param(["beta", "OLD", "missing"], False, ["Beta"], id="names-case-insensitive"),
        pytest.param(["beta", "OLD"], True, ["Beta", "old"], id="names-with-archived"),
        pytest.param([], False, [], id="empty-selects-nothing"),
    ],
)
async def test_repo_directory_filters(
    allowlist: list[str], include_archived: bool, expected: list[str]
) -> None:
    """The allowlist (or *) picks repos case-insensitively; archived and disabled ones need include_archived."""
    client = ScriptedClient(
        {
            "/orgs/acme/repos": [
                [repo_json("old", archived=True), repo_json("Beta"), {"oops": 1}],
                [repo_json("alpha"), repo_json("gone", disabled=True)],
            ]
        }
    )
    directory = RepoDirectory(
        cast(GitHubClient, client), "acme", allowlist=allowlist, include_archived=include_archived
    )
    assert [r.name for r in await directory.repos()] == expected
    assert directory.skipped_items == 1
    assert client.fitted == [5]  # the ETag cache is sized for every repository, selected or not


async def test_repo_directory_falls_back_to_installation_repositories() -> None:
    """A 404 on /orgs (an App on a user account) lists /installation/repositories, keeping the org's repos."""
    client = ScriptedClient(
        {
            "/installation/repositories": [
                {"repositories": [repo_json("mine"), {**repo_json("theirs"), "owner": {"login": "other"}}]}
            ]
        }
    )
    directory = RepoDirectory(cast(GitHubClient, client), "ACME", allowlist=["*"], include_archived=False)
    repos = await directory.repos()
    assert [(r.org, r.name) for r in repos] == [("ACME", "mine")]


# --- collector edge cases -------------------------------------------------------------------------


def collector_for(
    client: ScriptedClient, store: MemorySnapshotStore, self_metrics: SelfMetrics, missed: list[MissedWindow]
):
    directory = RepoDirectory(cast(GitHubClient, client), "acme", allowlist=["*"], include_archived=False)

    async def sink(window: MissedWindow) -> None:
        missed.append(window)

    return ActivityCollector(
        cast(GitHubClient, client),
        directory,
        store,
        org="acme",
        concurrency=2,
        metrics=self_metrics,
        missed=sink,
        clock=lambda: NOW,
    )


async def test_malformed_items_are_counted_and_skipped() -> None:
    """Unparseable items are dropped and counted per endpoint; the valid ones still count."""
    client = ScriptedClient(
        {
            "/orgs/acme/repos": [[repo_json("w")]],
            "/repos/acme/w/commits": [[commit_json("a1"), {"sha": 5}, "junk"]],
            "/repos/acme/w/pulls": [[]],
            "/repos/acme/w/issues/comments": [
                [{"id": 1, "user": {"login": "x"}, "created_at": T}, {"id": None}]
            ],
        }
    )
    store = MemorySnapshotStore(clock=lambda: NOW)
    self_metrics = SelfMetrics()
    assert await collector_for(client, store, self_metrics, []).tick()
    labels = {"org": "acme", "endpoint": "list_commits"}
    assert self_metrics.value(metrics.GITHUB_MALFORMED_ITEMS, labels) == 2
    assert (
        self_metrics.value(metrics.GITHUB_MALFORMED_ITEMS, {"org": "acme", "endpoint": "list_issue_comments"})
        == 1
    )
    snap = (await store.get_many([SnapshotKey("activity", ("acme", "w"))]))[
        SnapshotKey("activity", ("acme", "w"))
    ]
    counts = {(s.name, s.label("user")): s.value for s in snap.samples}
    assert counts[("gh_activity_commits_24h", "mona")] == 1
    assert counts[("gh_activity_issue_comments_24h", "x")] == 1


async def test_pull_walk_stops_at_the_checkpoint() -> None:
    """PR pages stop at the first PR updated before since: old history is never fetched."""
    old = "2026-05-20T00:00:00Z"
    client = ScriptedClient(
        {
            "/orgs/acme/repos": [[repo_json("w")]],
            "/repos/acme/w/commits": [[]],
            "/repos/acme/w/pulls": [[pull_json(2), pull_json(1, updated=old)], 500],
            "/repos/acme/w/pulls/2/reviews": [
                [{"id": 7, "user": {"login": "r"}, "state": "COMMENTED", "submitted_at": T}]
            ],
            "/repos/acme/w/issues/comments": [[]],
        }
    )
    store = MemorySnapshotStore(clock=lambda: NOW)
    assert await collector_for(client, store, SelfMetrics(), []).tick()
    paths = [p for p, _ in client.calls]
    assert paths.count("/repos/acme/w/pulls") == 1  # page 2 (a 500 if asked) never requested
    assert "/repos/acme/w/pulls/1/reviews" not in paths


async def test_empty_repository_is_normal_and_not_asked_again() -> None:
    """A 409 on commits (empty repo) is success; while pushed_at is unchanged commits are not re-asked."""
    client = ScriptedClient(
        {
            "/orgs/acme/repos": [[repo_json("empty")]],
            "/repos/acme/empty/commits": [409],
            "/repos/acme/empty/pulls": [[]],
            "/repos/acme/empty/issues/comments": [[]],
        }
    )
    missed: list[MissedWindow] = []
    collector = collector_for(client, MemorySnapshotStore(clock=lambda: NOW), SelfMetrics(), missed)
    assert await collector.tick()
    assert await collector.tick()
    assert [p for p, _ in client.calls].count("/repos/acme/empty/commits") == 1
    assert missed == []


async def test_vanished_repo_fails_without_a_backfill_window() -> None:
    """A 404 on a repo's stream fails that repo for the cycle but records no missed window."""
    client = ScriptedClient({"/orgs/acme/repos": [[repo_json("w")]]})
    missed: list[MissedWindow] = []
    collector = collector_for(client, MemorySnapshotStore(clock=lambda: NOW), SelfMetrics(), missed)
    assert not await collector.tick()
    assert missed == []
    assert "w" in collector.failing_repos


async def test_backfill_of_an_unselected_repo_is_a_no_op() -> None:
    """Backfill for a repo that left the selection touches neither GitHub streams nor the store."""
    client = ScriptedClient({"/orgs/acme/repos": [[repo_json("w", archived=True)]]})
    store = MemorySnapshotStore(clock=lambda: NOW)
    await collector_for(client, store, SelfMetrics(), []).backfill("w", TimeWindow(NOW - 3600, NOW))
    assert [p for p, _ in client.calls] == ["/orgs/acme/repos"]
    assert await store.versions() == {}


@pytest.mark.parametrize(
    ("status", "recorded"),
    [
        pytest.param(403, False, id="plain-403-permanent"),
        pytest.param(401, False, id="401-permanent"),
        pytest.param(502, True, id="5xx-transient"),
    ],
)
async def test_only_a_curable_stream_failure_records_a_backfill_window(status: int, recorded: bool) -> None:
    """A plain 403 (missing permission) repeats, so it fails the repo without a window; a 5xx records one."""
    client = ScriptedClient(
        {
            "/orgs/acme/repos": [[repo_json("w")]],
            "/repos/acme/w/commits": [[]],
            "/repos/acme/w/pulls": [status],
            "/repos/acme/w/issues/comments": [[]],
        }
    )
    missed: list[MissedWindow] = []
    collector = collector_for(client, MemorySnapshotStore(clock=lambda: NOW), SelfMetrics(), missed)
    assert not await collector.tick()
    assert [w.reason for w in missed] == (["activity_pulls_failed"] if recorded else [])
    assert "w" in collector.failing_repos


def one_repo_routes() -> dict[str, list[Any]]:
    """An org with one repository ``w`` with one commit and nothing else."""
    return {
        "/orgs/acme/repos": [[repo_json("w")]],
        "/repos/acme/w/commits": [[commit_json("a" * 40)]],
        "/repos/acme/w/pulls": [[]],
        "/repos/acme/w/issues/comments": [[]],
    }


def one_repo_collector(
    client: ScriptedClient, now: list[float]
) -> tuple[MemorySnapshotStore, ActivityCollector]:
    """A collector of org ``acme`` on ``client`` and a memory store, both on the clock ``now[0]``."""
    store = MemorySnapshotStore(clock=lambda: now[0])
    collector = ActivityCollector(
        cast(GitHubClient, client),
        RepoDirectory(cast(GitHubClient, client), "acme", allowlist=["*"], include_archived=False),
        store,
        org="acme",
        concurrency=2,
        metrics=SelfMetrics(),
        missed=lambda window: _ignore(window),
        clock=lambda: now[0],
    )
    return store, collector


async def test_commits_are_not_asked_again_until_the_repository_is_pushed_to() -> None:
    """While the listing's pushed_at stays, commits are not re-asked (and still counted); a push or half an hour asks again."""
    client = ScriptedClient(one_repo_routes())
    now = [NOW]
    store, collector = one_repo_collector(client, now)

    def commit_calls() -> int:
        return [p for p, _ in client.calls].count("/repos/acme/w/commits")

    assert await collector.tick()
    now[0] += 60
    assert await collector.tick()
    assert commit_calls() == 1
    key = SnapshotKey("activity", ("acme", "w"))
    snapshot = (await store.get_many([key]))[key]
    assert [s.value for s in snapshot.samples if s.name == metrics.ACTIVITY_COMMITS.name] == [1.0]
    client.routes["/orgs/acme/repos"] = [[repo_json("w", pushed_at="2026-05-28T20:30:00Z")]]
    now[0] += 60
    assert await collector.tick()
    assert commit_calls() == 2
    now[0] += COMMITS_RECHECK_SECONDS
    assert await collector.tick()
    assert commit_calls() == 3


async def test_the_window_ends_before_the_listing_that_decides_which_commits_to_skip() -> None:
    """A push while the listing is under way is not half-counted: the snapshot's instant precedes the listing."""
    now = [NOW]

    class SlowListing(ScriptedClient):
        async def get(self, path_or_url: str, **kwargs: Any) -> Response:
            answer = await super().get(path_or_url, **kwargs)
            if path_or_url == "/orgs/acme/repos":
                now[0] += 5  # the listing took 5 s; the repo may have been pushed to meanwhile
            return answer

    client = SlowListing(one_repo_routes())
    store, collector = one_repo_collector(client, now)

    assert await collector.tick()

    key = SnapshotKey("activity", ("acme", "w"))
    assert (await store.get_many([key]))[key].produced_at == NOW


async def test_a_ledger_written_elsewhere_during_the_cycle_is_not_overwritten() -> None:
    """The cycle reads every ledger at its start; one that another process wrote since is kept, and the
    repo is collected again from it on the next cycle."""
    now = [NOW]
    stored: list[MemorySnapshotStore] = []

    class BackfillElsewhere(ScriptedClient):
        armed = False

        async def get(self, path_or_url: str, **kwargs: Any) -> Response:
            if path_or_url == "/repos/acme/w/commits" and self.armed:
                self.armed = False
                # Another replica's backfill writes the ledger while this cycle is under way.
                await stored[0].set_checkpoint(ledger_name("acme", "w"), Ledger().to_record("elsewhere"))
            return await super().get(path_or_url, **kwargs)

    client = BackfillElsewhere(one_repo_routes())
    store, collector = one_repo_collector(client, now)
    stored.append(store)
    assert await collector.tick()
    client.routes["/orgs/acme/repos"] = [[repo_json("w", pushed_at="2026-05-28T20:30:00Z")]]
    client.routes["/repos/acme/w/commits"] = [[commit_json("b" * 40), commit_json("a" * 40)]]
    client.armed = True
    now[0] += 60

    assert await collector.tick()

    record = await store.get_checkpoint(ledger_name("acme", "w"))
    assert record is not None
    assert Ledger.revision(record) == "elsewhere"
    now[0] += 60
    assert await collector.tick()
    key = SnapshotKey("activity", ("acme", "w"))
    snapshot = (await store.get_many([key]))[key]
    assert [s.value for s in snapshot.samples if s.name == metrics.ACTIVITY_COMMITS.name] == [2.0]


async def _ignore(window: MissedWindow) -> None:
    return None
