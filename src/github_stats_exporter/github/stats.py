"""Typed calls for weekly lines of code: contributor statistics, one week's commits, commit details.

Payloads are decoded once here, item by item, into msgspec Structs (the rules are in `payload`) and
handed on as frozen dataclasses holding only what the LOC collector uses. Malformed items are counted
in ``skipped`` and dropped, never raised. This module knows endpoints and payload shapes; it does not
pick weeks, attribute users, cache or budget anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec

from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.payload import decode, login_of, parse_time

PER_PAGE = 100
STATS_ENDPOINT = "contributor_stats"
LIST_COMMITS_ENDPOINT = "list_commits"
COMMIT_ENDPOINT = "get_commit"

StatsStatus = Literal["ready", "computing", "empty"]

Count = Annotated[int, msgspec.Meta(ge=0)]
"""A count GitHub sends: a non-negative integer (``true`` is not 1, ``-1`` or ``2.0`` is malformed)."""


@dataclass(frozen=True, slots=True)
class WeekCounts:
    """One ``weeks[]`` cell of ``stats/contributors``: week start ``w`` (Unix), additions, deletions, commits.

    Cells are decoded straight into this class (a whole ``weeks`` list in one msgspec call), so its
    field types are the validation: a cell with a missing, negative or non-integer count is malformed.
    """

    w: Count
    a: Count
    d: Count
    c: Count


@dataclass(frozen=True, slots=True)
class ContributorWeeks:
    """One contributor of ``stats/contributors``; ``login`` is None when GitHub sent ``author: null``."""

    login: str | None
    weeks: tuple[WeekCounts, ...]


@dataclass(frozen=True, slots=True)
class ContributorStats:
    """The answer of ``stats/contributors``.

    ``status`` is ``ready`` (200), ``computing`` (202: GitHub is still building the cache, ask again
    shortly) or ``empty`` (204: the repository has no commits). ``not_modified`` is True when a
    conditional request was answered 304 (free), ``skipped`` counts malformed entries or cells.
    """

    status: StatsStatus
    contributors: tuple[ContributorWeeks, ...] = ()
    skipped: int = 0
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class CommitRef:
    """One commit of a listing: its sha, linked author login (None if unlinked), author date, parent count."""

    sha: str
    login: str | None
    authored_at: float
    parents: int


@dataclass(frozen=True, slots=True)
class CommitRefs:
    """Parsed commits of a (multi-page) listing; ``truncated`` when the page cap stopped the walk."""

    items: tuple[CommitRef, ...]
    skipped: int = 0
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class CommitStats:
    """Line counts of one commit (``GET /repos/{o}/{r}/commits/{sha}``); ``valid`` is False when ``stats`` was unusable."""

    sha: str
    login: str | None
    additions: int
    deletions: int
    valid: bool = True


def iso_z(t: float) -> str:
    """Unix time as GitHub's query timestamp format ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _repo_path(org: str, repo: str) -> str:
    return f"/repos/{quote(org, safe='')}/{quote(repo, safe='')}"


# --- stats/contributors ---------------------------------------------------------------------------


class _Contributor(msgspec.Struct):
    """One entry of ``stats/contributors``: ``weeks`` is required, ``author`` null or an account."""

    weeks: list[object]
    author: object = None


def parse_contributor_stats(data: object) -> tuple[tuple[ContributorWeeks, ...], int]:
    """Contributors of a 200 payload and the number of malformed entries/cells dropped.

    An entry without a ``weeks`` list, or whose author is neither null nor an account with a login,
    is dropped whole; a malformed week cell is dropped alone.
    """
    if not isinstance(data, list):
        return (), 1 if data not in (None, {}) else 0
    out: list[ContributorWeeks] = []
    skipped = 0
    for raw in data:
        entry = decode(raw, _Contributor)
        login = login_of(entry.author) if entry is not None else None
        if entry is None or (entry.author is not None and login is None):
            skipped += 1
            continue
        weeks, dropped = _weeks(entry.weeks)
        skipped += dropped
        out.append(ContributorWeeks(login, weeks))
    return tuple(out), skipped


def _weeks(cells: list[object]) -> tuple[tuple[WeekCounts, ...], int]:
    """The readable week cells and how many were not; one call for the whole list when all are readable."""
    whole = decode(cells, list[WeekCounts])
    if whole is not None:
        return tuple(whole), 0
    # Some cell is malformed: decode one by one so only the bad ones are lost (and counted).
    parsed = [decode(cell, WeekCounts) for cell in cells]
    kept = tuple(week for week in parsed if week is not None)
    return kept, len(cells) - len(kept)


async def contributor_stats(client: GitHubClient, org: str, repo: str) -> ContributorStats:
    """``GET /repos/{org}/{repo}/stats/contributors`` (conditional: an unchanged answer is a free 304)."""
    response = await client.get(
        f"{_repo_path(org, repo)}/stats/contributors", endpoint=STATS_ENDPOINT, accept=(200, 202, 204)
    )
    if response.status == 202:
        return ContributorStats("computing")
    if response.status == 204:
        return ContributorStats("empty")
    contributors, skipped = parse_contributor_stats(response.data)
    return ContributorStats("ready", contributors, skipped, response.not_modified)


# --- commits --------------------------------------------------------------------------------------


class _Dated(msgspec.Struct):
    date: str


class _GitCommit(msgspec.Struct):
    author: _Dated


class _CommitListed(msgspec.Struct):
    """A commit of a listing: sha, git author date and parents are required; ``author`` is the linked account."""

    sha: str
    commit: _GitCommit
    parents: list[object]
    author: object = None


def parse_commit_ref(raw: object) -> CommitRef | None:
    """One listing item, or None when its sha, author date or parents are unusable."""
    listed = decode(raw, _CommitListed)
    if listed is None or not listed.sha:
        return None
    authored = parse_time(listed.commit.author.date)
    if authored is None:
        return None
    return CommitRef(listed.sha, login_of(listed.author), authored, len(listed.parents))


async def commits_since(
    client: GitHubClient, org: str, repo: str, *, branch: str, since: float
) -> CommitRefs:
    """Commits on ``branch`` committed at or after ``since`` (every page, newest first)."""
    params: dict[str, str | int] = {"since": iso_z(since), "per_page": PER_PAGE}
    if branch:
        params["sha"] = branch
    items: list[CommitRef] = []
    skipped = 0
    truncated = False
    async for page in client.paginate(
        f"{_repo_path(org, repo)}/commits", endpoint=LIST_COMMITS_ENDPOINT, params=params
    ):
        truncated = truncated or page.truncated
        data: Any = page.data
        if not isinstance(data, list):
            skipped += 1
            continue
        for raw in data:
            ref = parse_commit_ref(raw)
            if ref is None:
                skipped += 1
            else:
                items.append(ref)
    return CommitRefs(tuple(items), skipped, truncated)


class _CommitDetail(msgspec.Struct):
    """A commit detail: ``stats`` and ``author`` are read tolerantly, the rest (``files``...) ignored."""

    stats: object = None
    author: object = None


class _LineStats(msgspec.Struct):
    additions: Count
    deletions: Count


def parse_commit_stats(sha: str, data: object) -> CommitStats:
    """Line counts of a commit-detail payload; ``valid=False`` when ``stats`` is missing or malformed."""
    detail = decode(data, _CommitDetail)
    if detail is None:
        return CommitStats(sha, None, 0, 0, valid=False)
    login = login_of(detail.author)
    lines = decode(detail.stats, _LineStats)
    if lines is None:
        return CommitStats(sha, login, 0, 0, valid=False)
    return CommitStats(sha, login, lines.additions, lines.deletions)


async def commit_stats(client: GitHubClient, org: str, repo: str, sha: str) -> CommitStats:
    """``GET /repos/{org}/{repo}/commits/{sha}``: additions/deletions and the linked author.

    Not conditional: the collector caches results itself, and one entry per commit would only evict
    the listings' ETags from the client's cache.
    """
    response = await client.get(
        f"{_repo_path(org, repo)}/commits/{quote(sha, safe='')}", endpoint=COMMIT_ENDPOINT, conditional=False
    )
    return parse_commit_stats(sha, response.data)
