"""Typed calls of the GitHub endpoints the activity collector needs, decoded once at the edge.

Each repo, commit, pull, review and issue comment is decoded into a private msgspec Struct of the
fields the exporter reads (the rules are in `payload`), then handed on as a frozen dataclass. An
optional field that is missing, null or of another type becomes None / ""; an item whose required
fields are unusable is counted in ``skipped`` and dropped, never raised. This module knows endpoints
and payload shapes, not attribution rules, windows or storage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from urllib.parse import quote

import msgspec

from github_stats_exporter.github.client import GitHubClient, Response, body_data, next_link
from github_stats_exporter.github.errors import Conflict, NotFound
from github_stats_exporter.github.payload import decode, login_of, parse_time, text
from github_stats_exporter.github.ratelimit import header

T = TypeVar("T")

PER_PAGE = 100
MAX_PAGES = 100


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
    repo_id: int | None = None
    """GitHub's numeric id (what shards hash, docs/scaling.md); None when the item lacks a readable one."""


class _Repo(msgspec.Struct):
    """A repository as listed: a name is required, everything else is read tolerantly."""

    name: str
    id: object = None
    owner: object = None
    full_name: object = None
    archived: object = None
    disabled: object = None
    default_branch: object = None
    pushed_at: object = None


def parse_repo(raw: object) -> RepoItem | None:
    """One repository item, or None without a non-empty name; the owner falls back to ``full_name``."""
    if type(raw) is dict:
        return _parse_repo_dict(raw)
    return parse_repo_struct(raw)


def _parse_repo_dict(raw: dict[str, object]) -> RepoItem | None:
    """`parse_repo_struct`'s rules read straight from a decoded JSON object, at about half the cost.

    Every cycle decodes the org's whole listing, on every replica holding one of its shards, and the
    struct conversion was most of that (docs/benchmarks.md, "One listing per cycle"). The two agree on
    every input (a property test holds them to it).
    """
    name = raw.get("name")
    if type(name) is not str or not name:
        return None
    account = raw.get("owner")
    login = account.get("login") if type(account) is dict else None
    if type(login) is str and login:
        owner = login
    else:
        full = text(raw.get("full_name"))
        owner = full.split("/", 1)[0] if "/" in full else ""
    repo_id = raw.get("id")
    pushed = raw.get("pushed_at")
    return RepoItem(
        owner=owner,
        name=name,
        archived=raw.get("archived") is True,
        disabled=raw.get("disabled") is True,
        default_branch=text(raw.get("default_branch")),
        pushed_at=_pushed_at(pushed) if type(pushed) is str else None,
        repo_id=repo_id if type(repo_id) is int else None,
    )


# An unchanged repository lists the same pushed_at every cycle: parse each text once. (The C
# ``lru_cache`` keeps its entries out of the garbage collector's sight: measured, none is tracked.)
_pushed_at = functools.lru_cache(maxsize=1 << 17)(parse_time)


def parse_repo_struct(raw: object) -> RepoItem | None:
    """`parse_repo` through the msgspec Struct (`payload.decode`): the reference the fast path follows."""
    repo = decode(raw, _Repo)
    if repo is None or not repo.name:
        return None
    owner = login_of(repo.owner)
    if owner is None:
        full = text(repo.full_name)
        owner = full.split("/", 1)[0] if "/" in full else ""
    return RepoItem(
        owner=owner,
        name=repo.name,
        archived=repo.archived is True,
        disabled=repo.disabled is True,
        default_branch=text(repo.default_branch),
        pushed_at=parse_time(repo.pushed_at),
        repo_id=repo.id if isinstance(repo.id, int) and not isinstance(repo.id, bool) else None,
    )


class _InstallationPage(msgspec.Struct):
    """A page of ``/installation/repositories``, which wraps its items: ``{"total_count", "repositories"}``."""

    repositories: object = None


def _installation_items(data: object) -> object:
    page = decode(data, _InstallationPage)
    return page.repositories if page is not None else data


async def _collect_repos(
    client: GitHubClient, path: str, endpoint: str, *, wrapped: bool, parse_unchanged: bool
) -> Listing[RepoItem]:
    """Every page is asked (a change on a later page does not show on page 1); the pages are parsed
    when one of them changed, or always with ``parse_unchanged``."""
    unwrap = _installation_items if wrapped else None
    pages: list[Response] = []
    target: str = path
    query: Mapping[str, str | int] | None = {"per_page": PER_PAGE, "type": "all"}
    truncated = True
    for _ in range(MAX_PAGES):
        # Every shard unit of the org asks for the same pages each cycle, maybe on other replicas: the
        # validator the cluster last saw makes an unchanged page a 304 for all of them (docs/scaling.md).
        response = await client.get(
            target, endpoint=endpoint, params=query, decode_unchanged=parse_unchanged, shared_first=True
        )
        pages.append(response)
        if response.unread is None and not isinstance(
            unwrap(response.data) if unwrap else response.data, list
        ):
            truncated = False
            break  # not a listing: parsing stops at this page, so does the walk
        following = next_link(header(response.headers, "link"))
        if following is None:
            truncated = False
            break
        target, query = following, None
    if not parse_unchanged and all(page.not_modified for page in pages):
        return Listing((), 0, True, False, len(pages))
    items: list[RepoItem] = []
    skipped = 0
    for page in pages:
        data = body_data(page)
        if unwrap is not None:
            data = unwrap(data)
        if not isinstance(data, list):
            return Listing(tuple(items), skipped + 1, False, False, len(pages))
        for raw in data:
            parsed = parse_repo(raw)
            if parsed is None:
                skipped += 1
            else:
                items.append(parsed)
    return Listing(tuple(items), skipped, all(p.not_modified for p in pages), truncated, len(pages))


async def list_org_repos(
    client: GitHubClient, org: str, *, parse_unchanged: bool = True
) -> Listing[RepoItem]:
    """Every repository of ``org``; falls back to ``/installation/repositories`` on 404.

    The fallback serves App installations on a user account (no ``/orgs/{org}``); its items are
    filtered to the owner ``org`` (case-insensitive). Pages are conditional: unchanged pages are 304s.
    Without ``parse_unchanged``, a listing whose every page answered 304 returns no items and
    ``not_modified=True`` without decoding anything (for a caller that kept the last result).
    """
    try:
        return await _collect_repos(
            client,
            f"/orgs/{quote(org, safe='')}/repos",
            "list_org_repos",
            wrapped=False,
            parse_unchanged=parse_unchanged,
        )
    except NotFound:
        listing = await _collect_repos(
            client,
            "/installation/repositories",
            "list_installation_repos",
            wrapped=True,
            parse_unchanged=parse_unchanged,
        )
        wanted = org.lower()
        own = tuple(r for r in listing.items if r.owner.lower() == wanted)
        return Listing(own, listing.skipped, listing.not_modified, listing.truncated, listing.requests)


def iso_utc(t: float) -> str:
    """Whole-second ISO 8601 in UTC with ``Z``, the form GitHub documents for ``since``/``until``."""
    return _iso_second(int(t))


# A cycle asks thousands of repositories with a handful of distinct seconds and the same names every
# cycle: formatting and quoting each again took 0.8 % of a steady cycle's samples each
# (docs/benchmarks.md, "Steady cycle: fewer turns per repository").
@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=65536)
def _segment(name: str) -> str:
    return quote(name, safe="")


def _repo_path(owner: str, repo: str, tail: str) -> str:
    return f"/repos/{_segment(owner)}/{_segment(repo)}/{tail}"


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
    unwrap: Callable[[object], object] | None = None,
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
        # An unchanged first page ends the walk unless parsed, so its body need not be decoded again.
        decode = page > 1 or parse_unchanged
        response = await client.get(target, endpoint=endpoint, params=query, decode_unchanged=decode)
        requests += 1
        all_cached = all_cached and response.not_modified
        if page == 1 and response.not_modified and not parse_unchanged:
            return Listing((), 0, True, False, requests)
        data = response.data
        if unwrap is not None:
            data = unwrap(data)
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


class _Dated(msgspec.Struct):
    """A git identity whose date is all that is read (``commit.committer``)."""

    date: str


class _Person(msgspec.Struct):
    """A git identity's name and e-mail, each read tolerantly (``commit.author``)."""

    name: object = None
    email: object = None


class _GitCommit(msgspec.Struct):
    committer: _Dated
    author: object = None


class _Commit(msgspec.Struct):
    """A commit of a listing: the sha and the committer date are required; ``author`` is the linked account."""

    sha: str
    commit: _GitCommit
    author: object = None


def parse_commit(raw: object) -> CommitItem | None:
    """One commit item, or None without a sha or a readable committer date."""
    commit = decode(raw, _Commit)
    if commit is None or not commit.sha:
        return None
    committed_at = parse_time(commit.commit.committer.date)
    if committed_at is None:
        return None
    person = decode(commit.commit.author, _Person)
    name, email = (text(person.name), text(person.email)) if person is not None else ("", "")
    return CommitItem(commit.sha, committed_at, login_of(commit.author), name, email)


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


class _Pull(msgspec.Struct):
    number: int
    created_at: str
    updated_at: str
    user: object = None
    merged_at: object = None


def parse_pull(raw: object) -> PullItem | None:
    """One pull request item, or None without an integer number and readable created/updated times."""
    pull = decode(raw, _Pull)
    if pull is None:
        return None
    created, updated = parse_time(pull.created_at), parse_time(pull.updated_at)
    if created is None or updated is None:
        return None
    return PullItem(pull.number, login_of(pull.user), created, updated, parse_time(pull.merged_at))


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


class _Review(msgspec.Struct):
    id: int | str
    user: object = None
    state: object = None
    submitted_at: object = None


def parse_review(raw: object) -> ReviewItem | None:
    """One review item, or None without a non-empty id; the state is upper-cased."""
    review = decode(raw, _Review)
    if review is None or review.id == "":
        return None
    return ReviewItem(
        str(review.id), login_of(review.user), text(review.state).upper(), parse_time(review.submitted_at)
    )


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


class _Comment(msgspec.Struct):
    id: int | str
    created_at: str
    updated_at: object = None
    user: object = None


def parse_comment(raw: object) -> CommentItem | None:
    """One comment item, or None without an id and a readable creation time; never-edited means updated = created."""
    comment = decode(raw, _Comment)
    created = parse_time(comment.created_at) if comment is not None else None
    if comment is None or created is None:
        return None
    updated = parse_time(comment.updated_at)
    return CommentItem(
        str(comment.id), login_of(comment.user), created, updated if updated is not None else created
    )


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
