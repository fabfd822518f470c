"""Decoding GitHub items at the edge: the stats/commit rules by example, and that no payload ever raises.

The property tests feed the parsers arbitrary JSON values and valid items with one to three fields
replaced by arbitrary JSON or removed; every item is either parsed or dropped and counted.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from github_stats_exporter.github.activity import (
    CommentItem,
    CommitItem,
    PullItem,
    RepoItem,
    ReviewItem,
    list_issue_comments,
    parse_comment,
    parse_commit,
    parse_pull,
    parse_repo,
    parse_repo_struct,
    parse_review,
)
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.errors import NotFound
from github_stats_exporter.github.payload import login_of, parse_time
from github_stats_exporter.github.stats import (
    CommitRef,
    CommitStats,
    ContributorWeeks,
    WeekCounts,
    commits_since,
    parse_commit_ref,
    parse_commit_stats,
    parse_contributor_stats,
)
from github_stats_exporter.selfmetrics import SelfMetrics

from .conftest import MEMORY_BASE, FakeGitHub

T = "2026-05-28T20:00:00Z"
T_UNIX = 1_780_000_000.0 - 1600.0
USER = {"login": "mona", "id": 1, "type": "User", "site_admin": False}
VALID: dict[str, dict[str, Any]] = {
    "repo": {
        "name": "w",
        "full_name": "acme/w",
        "owner": {"login": "acme", "type": "Organization"},
        "archived": False,
        "disabled": False,
        "default_branch": "main",
        "pushed_at": T,
    },
    "commit": {
        "sha": "abc",
        "commit": {
            "author": {"name": "M", "email": "m@example.com", "date": T},
            "committer": {"name": "C", "email": "c@example.com", "date": T},
        },
        "author": USER,
        "parents": [{"sha": "p1"}],
    },
    "pull": {"number": 5, "user": USER, "created_at": T, "updated_at": T, "merged_at": None},
    "review": {"id": 9, "user": USER, "state": "approved", "submitted_at": T},
    "comment": {"id": 3, "user": USER, "created_at": T, "updated_at": T},
    "detail": {"sha": "abc", "author": USER, "stats": {"additions": 1, "deletions": 2, "total": 3}},
    "contributor": {"author": USER, "total": 1, "weeks": [{"w": 1_779_580_800, "a": 2, "d": 3, "c": 1}]},
}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["", T, "2026-05-28T20:00:00", "yesterday", "5", "acme/w", "mona"]),
)
KEYS = st.sampled_from(["login", "name", "date", "sha", "id", "w", "a", "additions", "weeks", "author"])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(KEYS | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=12,
)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THROUGH_CLIENT = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        yield from _paths(child, (*prefix, key))


@st.composite
def damaged(draw: st.DrawFn, kind: str) -> object:
    """A valid ``kind`` item with one to three fields (at any depth) replaced by arbitrary JSON or removed."""
    item: Any = copy.deepcopy(VALID[kind])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(item))))
        replacement = draw(JSON)
        if not path:
            item = replacement
            continue
        parent = item
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = replacement
    return item


def items(kind: str) -> st.SearchStrategy[object]:
    return st.one_of(damaged(kind), JSON)


# --- rules by example -------------------------------------------------------------------------------


def test_login_of_reads_only_a_non_empty_string_login() -> None:
    """A user object counts only with a non-empty string login; null, ghost-less or odd users have none."""
    assert login_of({"login": "dependabot[bot]", "type": "Bot"}) == "dependabot[bot]"
    for user in (None, {}, {"login": ""}, {"login": 7}, "mona", ["mona"]):
        assert login_of(user) is None


def test_contributor_entries_and_cells_are_dropped_separately() -> None:
    """A null author is kept (unlinked commits); a bad author drops the entry, a bad cell only itself."""
    week = {"w": 1_779_580_800, "a": 10, "d": 2, "c": 3}
    payload = [
        {"author": USER, "weeks": [week, {**week, "a": -1}, {**week, "c": True}, "junk"]},
        {"author": None, "weeks": [week]},
        {"weeks": []},
        {"author": {"id": 5}, "weeks": [week]},
        {"author": USER},
        "junk",
    ]
    contributors, skipped = parse_contributor_stats(payload)
    assert contributors == (
        ContributorWeeks("mona", (WeekCounts(1_779_580_800, 10, 2, 3),)),
        ContributorWeeks(None, (WeekCounts(1_779_580_800, 10, 2, 3),)),
        ContributorWeeks(None, ()),
    )
    assert skipped == 3 + 3  # three bad cells, three bad entries


def test_zeroed_counts_of_a_huge_repository_are_kept_as_zeros() -> None:
    """GitHub zeroes additions/deletions for repos of 10,000+ commits; those cells are valid, not malformed."""
    payload = [{"author": USER, "weeks": [{"w": 1_779_580_800, "a": 0, "d": 0, "c": 42}]}]
    assert parse_contributor_stats(payload) == (
        (ContributorWeeks("mona", (WeekCounts(1_779_580_800, 0, 0, 42),)),),
        0,
    )


@pytest.mark.parametrize(
    ("data", "skipped"),
    [
        pytest.param(None, 0, id="no-body"),
        pytest.param({}, 0, id="empty-object"),
        pytest.param({"message": "x"}, 1, id="other-object"),
        pytest.param("junk", 1, id="string"),
    ],
)
def test_a_stats_body_that_is_not_a_list_has_no_contributors(data: object, skipped: int) -> None:
    """Only an unexpected body counts as malformed; an absent or empty one is simply empty."""
    assert parse_contributor_stats(data) == ((), skipped)


def test_commit_ref_needs_sha_author_date_and_parents() -> None:
    """A listed commit keeps its parent count and linked login; without its git author date it is dropped."""
    ref = parse_commit_ref({**VALID["commit"], "author": None, "parents": [{"sha": "a"}, {"sha": "b"}]})
    assert ref == CommitRef("abc", None, T_UNIX, 2)
    assert parse_commit_ref({**VALID["commit"], "parents": None}) is None
    assert parse_commit_ref({**VALID["commit"], "commit": {"author": None, "committer": {"date": T}}}) is None


def test_commit_stats_keep_the_login_when_the_counts_are_unusable() -> None:
    """Unusable ``stats`` make the detail invalid but still attribute it; a non-object body has nobody."""
    assert parse_commit_stats("abc", VALID["detail"]) == CommitStats("abc", "mona", 1, 2)
    assert parse_commit_stats("abc", {**VALID["detail"], "stats": {"additions": 1, "deletions": "2"}}) == (
        CommitStats("abc", "mona", 0, 0, valid=False)
    )
    assert parse_commit_stats("abc", {**VALID["detail"], "stats": "n/a"}) == (
        CommitStats("abc", "mona", 0, 0, valid=False)
    )
    assert parse_commit_stats("abc", []) == CommitStats("abc", None, 0, 0, valid=False)


def test_optional_fields_of_another_type_do_not_cost_the_item() -> None:
    """A wrong-typed optional field becomes its empty value; the item itself still counts."""
    repo = parse_repo(
        {**VALID["repo"], "owner": "acme", "archived": "yes", "default_branch": 7, "pushed_at": 1}
    )
    assert repo == RepoItem("acme", "w", False, False, "", None)
    commit = parse_commit(
        {**VALID["commit"], "author": "mona", "commit": {**VALID["commit"]["commit"], "author": 5}}
    )
    assert commit == CommitItem("abc", T_UNIX, None, "", "")
    review = parse_review({**VALID["review"], "user": [], "state": None, "submitted_at": "soon"})
    assert review == ReviewItem("9", None, "", None)


# --- never raise ------------------------------------------------------------------------------------

ITEM_PARSERS: list[Any] = [
    pytest.param("repo", parse_repo, RepoItem, id="repo"),
    pytest.param("commit", parse_commit, CommitItem, id="commit"),
    pytest.param("pull", parse_pull, PullItem, id="pull"),
    pytest.param("review", parse_review, ReviewItem, id="review"),
    pytest.param("comment", parse_comment, CommentItem, id="comment"),
    pytest.param("commit", parse_commit_ref, CommitRef, id="commit-ref"),
]


@pytest.mark.parametrize(("kind", "parse", "result"), ITEM_PARSERS)
def test_item_parsers_never_raise(kind: str, parse: Callable[[object], object], result: type) -> None:
    """Whatever an item holds, its parser returns the item or None (dropped), never an exception."""

    @PROPERTY
    @given(raw=items(kind))
    def check(raw: object) -> None:
        parsed = parse(raw)
        assert parsed is None or isinstance(parsed, result)

    check()


def _with(raw: object, field: str, value: object) -> object:
    return {**raw, field: value} if isinstance(raw, dict) else raw


REPO_VARIANTS = st.one_of(
    items("repo"),
    st.builds(_with, damaged("repo"), st.just("id"), st.one_of(st.integers(), st.booleans(), JSON)),
    st.builds(_with, damaged("repo"), st.just("owner"), st.one_of(st.just({"login": ""}), JSON)),
)


def test_a_remembered_pushed_at_is_parse_times_reading() -> None:
    """The pushed_at memo answers, the first time and every time after, what `parse_time` reads."""
    for second in [*range(30), *range(30)]:
        stamp = f"2026-01-01T00:00:{second:02d}Z"
        repo = parse_repo({"name": "w", "pushed_at": stamp})
        assert repo is not None
        assert repo.pushed_at == parse_time(stamp)
    assert parse_repo({"name": "w", "pushed_at": "not a time"}) == RepoItem("", "w", False, False, "", None)


@PROPERTY
@given(raw=REPO_VARIANTS)
def test_the_listing_fast_path_reads_a_repo_as_the_struct_does(raw: object) -> None:
    """`parse_repo` reads a decoded object directly (every cycle parses whole listings); it must give
    exactly what the msgspec Struct path gives, item kept or dropped, field by field."""
    assert parse_repo(raw) == parse_repo_struct(raw)


@PROPERTY
@given(data=st.one_of(st.lists(items("contributor"), max_size=5), JSON))
def test_contributor_stats_never_raise_and_account_for_every_entry(data: object) -> None:
    """Any stats body parses; in a list every entry is kept or counted, and kept cells come from its weeks."""
    contributors, skipped = parse_contributor_stats(data)
    if isinstance(data, list):
        assert len(contributors) + skipped >= len(data)
        cells = sum(len(e["weeks"]) for e in data if isinstance(e, dict) and isinstance(e.get("weeks"), list))
        assert sum(len(c.weeks) for c in contributors) <= cells
    else:
        assert contributors == ()


@PROPERTY
@given(data=items("detail"))
def test_commit_stats_never_raise(data: object) -> None:
    """Any commit-detail body gives a `CommitStats`; unusable counts are zeros marked invalid."""
    stats = parse_commit_stats("abc", data)
    assert stats.valid or (stats.additions, stats.deletions) == (0, 0)


async def _page_through_client(path: str, page: list[object], walk: Callable[[GitHubClient], Any]) -> Any:
    fake = FakeGitHub()
    fake.on(path, FakeGitHub.reply(200, page))
    options = ClientOptions(base_url=MEMORY_BASE, jitter=False)
    async with GitHubClient(
        options, TokenAuth("ghp_test"), org="acme", metrics=SelfMetrics(), transport=fake
    ) as gh:
        return await walk(gh)


@THROUGH_CLIENT
@given(page=st.lists(items("comment"), max_size=8))
def test_a_comment_page_accounts_for_every_item(page: list[object]) -> None:
    """Through the real client, every item of a page is either a comment or one count in ``skipped``."""
    listing = asyncio.run(
        _page_through_client(
            "/repos/acme/w/issues/comments", page, lambda gh: list_issue_comments(gh, "acme", "w", since=0.0)
        )
    )
    assert len(listing.items) + listing.skipped == len(page)


@THROUGH_CLIENT
@given(page=st.lists(items("commit"), max_size=8))
def test_a_commit_page_of_the_loc_listing_accounts_for_every_item(page: list[object]) -> None:
    """The LOC commit listing drops and counts malformed commits the same way."""
    refs = asyncio.run(
        _page_through_client(
            "/repos/acme/w/commits", page, lambda gh: commits_since(gh, "acme", "w", branch="main", since=0.0)
        )
    )
    assert len(refs.items) + refs.skipped == len(page)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'{"message": "Not Found", "documentation_url": "https://docs"}', "Not Found", id="message"
        ),
        pytest.param(b'{"message": 404}', "unexpected HTTP 404", id="message-not-a-string"),
        pytest.param(b'["Not Found"]', "unexpected HTTP 404", id="not-an-object"),
        pytest.param(b"<html>Not Found</html>", "unexpected HTTP 404", id="not-json"),
        pytest.param(b'{"message": "' + b"x" * 400 + b'"}', "x" * 300, id="long-message-cut"),
    ],
)
async def test_an_error_answer_keeps_only_a_string_message(body: bytes, message: str) -> None:
    """GitHub's error ``message`` is carried into the typed error; any other body gives a generic one."""
    fake = FakeGitHub()
    fake.on("/repos/acme/gone", FakeGitHub.reply(404, body=body))
    options = ClientOptions(base_url=MEMORY_BASE, jitter=False)
    async with GitHubClient(
        options, TokenAuth("ghp_test"), org="acme", metrics=SelfMetrics(), transport=fake
    ) as gh:
        with pytest.raises(NotFound) as caught:
            await gh.get("/repos/acme/gone", endpoint="get_repo")
    assert caught.value.message == message
