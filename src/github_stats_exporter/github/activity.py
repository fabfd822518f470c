"""Typed calls of the GitHub endpoints the activity collector needs, parsed once at the edge.

Repos, commits, pulls, reviews and issue comments come back as frozen dataclasses holding only the
fields the exporter uses. Missing or null fields are tolerated (they become None / ""); an item whose
required fields are unusable is counted in ``skipped`` and dropped, never raised. This module knows
endpoints and payload shapes, not attribution rules, windows or storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from github_stats_exporter.github.client import GitHubClient, next_link
from github_stats_exporter.github.errors import Conflict, NotFound
from github_stats_exporter.github.ratelimit import header

T = TypeVar("T")

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """Parsed items of one (possibly multi-page) listing.

    ``skipped`` counts malformed items that were dropped; ``not_modified`` is True when every page
    was answered 304 (free); ``truncated`` when the page cap stopped the walk early; ``requests`` is
    how many pages were asked for (304s included); ``empty_repo`` when GitHub said the repository has
    no commits at all (409).
    """

    items: tuple[T, ...]
    skipped: int = 0
    not_modified: bool = False
    truncated: bool = False
    requests: int = 0
    empty_repo: bool = False


def parse_time(value: object) -> float | None:
    """An ISO 8601 timestamp (``2024-01-01T00:00:00Z``) as Unix time; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def _login(value: object) -> tuple[str | None, str]:
    """(login, account type) of a user object; login None for a null/malformed user."""
    if not isinstance(value, dict):
        return None, ""
    login = value.get("login")
    kind = value.get("type")
    return (login if isinstance(login, str) and login else None), (kind if isinstance(kind, str) else "")


# --- repositories -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepoItem:
    """One repository of a listing."""

    owner: str
    name: str
    archived: bool
    disabled: bool
    default_branch: str
    pushed_at: float | None


def parse_repo(raw: object) -> RepoItem | None:
    if not isinstance(raw, dict):
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        return None
    owner = raw.get("owner")
    owner_login = _str(owner, "login") if isinstance(owner, dict) else ""
    if not owner_login:
        full = _str(raw, "full_name")
        owner_login = full.split("/", 1)[0] if "/" in full else ""
    return RepoItem(
        owner=owner_login,
        name=name,
        archived=raw.get("archived") is True,
        disabled=raw.get("disabled") is True,
        default_branch=_str(raw, "default_branch"),
        pushed_at=parse_time(raw.get("pushed_at")),
    )


async def _collect_repos(
    client: GitHubClient, path: str, endpoint: str, *, wrapped: bool
) -> Listing[RepoItem]:
    # Every page is read (and parsed, 304 or not): a change on a later page does not show on page 1.
    return await _walk(
        client,
        path,
        endpoint=endpoint,
        params={"per_page": PER_PAGE, "type": "all"},
        parse=parse_repo,
        parse_unchanged=True,
        unwrap="repositories" if wrapped else None,
    )


async def list_org_repos(client: GitHubClient, org: str) -> Listing[RepoItem]:
    """Every repository of ``org``; falls back to ``/installation/repositories`` on 404.

    The fallback serves App installations on a user account (no ``/orgs/{org}``); its items are
    filtered to the owner ``org`` (case-insensitive). Pages are conditional: unchanged pages are 304s.
    """
    try:
        return await _collect_repos(
            client, f"/orgs/{quote(org, safe='')}/repos", "list_org_repos", wrapped=False
        )
    except NotFound:
        listing = await _collect_repos(
            client, "/installation/repositories", "list_installation_repos", wrapped=True
        )
        wanted = org.lower()
        own = tuple(r for r in listing.items if r.owner.lower() == wanted)
        return Listing(own, listing.skipped, listing.not_modified, listing.truncated, listing.requests)


def iso_utc(t: float) -> str:
    """Whole-second ISO 8601 in UTC with ``Z``, the form GitHub documents for ``since``/``until``."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _repo_path(owner: str, repo: str, tail: str) -> str:
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/{tail}"


async def _walk(
    client: GitHubClient,
    path: str,
    *,
    endpoint: str,
    params: Mapping[str, str | int],
    parse: Callable[[object], T | None],
    parse_unchanged: bool,
    stop: Callable[[T], bool] | None = None,
    max_pages: int = 100,
    unwrap: str | None = None,
) -> Listing[T]:
    """Walk a listing page by page, parsing items; stops at the first item for which ``stop`` is True.

    When the first page is a 304 and ``parse_unchanged`` is False the walk ends there, returning no
    items and ``not_modified=True``: for listings ordered newest-first an unchanged first page means an
    unchanged listing.
    """
    items: list[T] = []
    skipped = 0
    requests = 0
    all_cached = True
    target: str = path
    query: Mapping[str, str | int] | None = params
    for page in range(1, max_pages + 1):
        response = await client.get(target, endpoint=endpoint, params=query)
        requests += 1
        all_cached = all_cached and response.not_modified
        if page == 1 and response.not_modified and not parse_unchanged:
            return Listing((), 0, True, False, requests)
        data = response.data
        if unwrap is not None and isinstance(data, dict):
            data = data.get(unwrap)
        if not isinstance(data, list):
            return Listing(tuple(items), skipped + 1, False, False, requests)
        for raw in data:
            parsed = parse(raw)
            if parsed is None:
                skipped += 1
                continue
            if stop is not None and stop(parsed):
                return Listing(tuple(items), skipped, all_cached, False, requests)
            items.append(parsed)
        following = next_link(header(response.headers, "link"))
        if following is None:
            return Listing(tuple(items), skipped, all_cached, False, requests)
        target, query = following, None
    return Listing(tuple(items), skipped, all_cached, True, requests)


# --- commits --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitItem:
    """A commit of the default branch: who wrote it and when it was committed."""

    sha: str
    committed_at: float
    author_login: str | None
    author_name: str
    author_email: str


def parse_commit(raw: object) -> CommitItem | None:
    if not isinstance(raw, dict):
        return None
    sha = raw.get("sha")
    git = raw.get("commit")
    if not isinstance(sha, str) or not sha or not isinstance(git, dict):
        return None
    committer = git.get("committer")
    committed_at = parse_time(committer.get("date")) if isinstance(committer, dict) else None
    if committed_at is None:
        return None
    git_author = git.get("author")
    name = _str(git_author, "name") if isinstance(git_author, dict) else ""
    email = _str(git_author, "email") if isinstance(git_author, dict) else ""
    login, _ = _login(raw.get("author"))
    return CommitItem(sha, committed_at, login, name, email)


async def list_commits(
    client: GitHubClient,
    owner: str,
    repo: str,
    *,
    since: float,
    until: float | None = None,
    parse_unchanged: bool = False,
) -> Listing[CommitItem]:
    """Default-branch commits committed in ``[since, until]`` (newest first); an empty repo (409) has none."""
    params: dict[str, str | int] = {"per_page": PER_PAGE, "since": iso_utc(since)}
    if until is not None:
        params["until"] = iso_utc(until)
    try:
        return await _walk(
            client,
            _repo_path(owner, repo, "commits"),
            endpoint="list_commits",
            params=params,
            parse=parse_commit,
            parse_unchanged=parse_unchanged,
        )
    except Conflict:
        # GitHub answers 409 "Git Repository is empty": a normal state, not a failure.
        return Listing((), requests=1, empty_repo=True)


# --- pull requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullItem:
    """A pull request as the list shows it."""

    number: int
    user_login: str | None
    created_at: float
    updated_at: float
    merged_at: float | None


def parse_pull(raw: object) -> PullItem | None:
    if not isinstance(raw, dict):
        return None
    number = raw.get("number")
    created = parse_time(raw.get("created_at"))
    updated = parse_time(raw.get("updated_at"))
    if not isinstance(number, int) or isinstance(number, bool) or created is None or updated is None:
        return None
    login, _ = _login(raw.get("user"))
    return PullItem(number, login, created, updated, parse_time(raw.get("merged_at")))


async def list_pulls_updated_since(
    client: GitHubClient, owner: str, repo: str, *, since: float, parse_unchanged: bool = False
) -> Listing[PullItem]:
    """Pull requests (any state) updated at or after ``since``, newest update first.

    GitHub has no ``since`` here, so the list is sorted by ``updated`` descending and the walk stops
    at the first PR updated before ``since``: history is never re-walked.
    """
    return await _walk(
        client,
        _repo_path(owner, repo, "pulls"),
        endpoint="list_pulls",
        params={"state": "all", "sort": "updated", "direction": "desc", "per_page": PER_PAGE},
        parse=parse_pull,
        parse_unchanged=parse_unchanged,
        stop=lambda pr: pr.updated_at < since,
    )


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A review of a pull request; ``submitted_at`` is None while it is pending."""

    id: str
    user_login: str | None
    state: str
    submitted_at: float | None


def parse_review(raw: object) -> ReviewItem | None:
    if not isinstance(raw, dict):
        return None
    review_id = raw.get("id")
    if not isinstance(review_id, int | str) or isinstance(review_id, bool) or review_id == "":
        return None
    login, _ = _login(raw.get("user"))
    return ReviewItem(str(review_id), login, _str(raw, "state").upper(), parse_time(raw.get("submitted_at")))


async def list_reviews(client: GitHubClient, owner: str, repo: str, number: int) -> Listing[ReviewItem]:
    """Every review of one pull request (conditional, so an unchanged list is a free 304)."""
    try:
        return await _walk(
            client,
            _repo_path(owner, repo, f"pulls/{number}/reviews"),
            endpoint="list_reviews",
            params={"per_page": PER_PAGE},
            parse=parse_review,
            parse_unchanged=True,
        )
    except NotFound:
        return Listing((), requests=1)  # the PR vanished (deleted or transferred) between two calls


# --- issue comments -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommentItem:
    """An issue or pull-request conversation comment."""

    id: str
    user_login: str | None
    created_at: float
    updated_at: float


def parse_comment(raw: object) -> CommentItem | None:
    if not isinstance(raw, dict):
        return None
    comment_id = raw.get("id")
    created = parse_time(raw.get("created_at"))
    if not isinstance(comment_id, int | str) or isinstance(comment_id, bool) or created is None:
        return None
    updated = parse_time(raw.get("updated_at"))
    login, _ = _login(raw.get("user"))
    return CommentItem(str(comment_id), login, created, updated if updated is not None else created)


async def list_issue_comments(
    client: GitHubClient, owner: str, repo: str, *, since: float, parse_unchanged: bool = False
) -> Listing[CommentItem]:
    """Issue and PR conversation comments updated at or after ``since``, newest update first."""
    return await _walk(
        client,
        _repo_path(owner, repo, "issues/comments"),
        endpoint="list_issue_comments",
        params={"sort": "updated", "direction": "desc", "per_page": PER_PAGE, "since": iso_utc(since)},
        parse=parse_comment,
        parse_unchanged=parse_unchanged,
    )
