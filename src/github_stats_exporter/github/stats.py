"""Typed calls for weekly lines of code: contributor statistics, one week's commits, commit details.

Payloads are parsed once here into frozen dataclasses holding only what the LOC collector uses.
Malformed items are counted in ``skipped`` and dropped, never raised. This module knows endpoints and
payload shapes; it does not pick weeks, attribute users, cache or budget anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from github_stats_exporter.github.activity import parse_time
from github_stats_exporter.github.client import GitHubClient

PER_PAGE = 100
STATS_ENDPOINT = "contributor_stats"
LIST_COMMITS_ENDPOINT = "list_commits"
COMMIT_ENDPOINT = "get_commit"

StatsStatus = Literal["ready", "computing", "empty"]


@dataclass(frozen=True, slots=True)
class WeekCounts:
    """One ``weeks[]`` cell of ``stats/contributors``: week start ``w`` (Unix), additions, deletions, commits."""

    w: int
    a: int
    d: int
    c: int


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


def _login(value: object) -> str | None:
    if not isinstance(value, dict):
        return None
    login = value.get("login")
    return login if isinstance(login, str) and login else None


def _count(value: object) -> int | None:
    # bool is an int subclass; a boolean count is malformed, not 0/1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _repo_path(org: str, repo: str) -> str:
    return f"/repos/{quote(org, safe='')}/{quote(repo, safe='')}"


# --- stats/contributors ---------------------------------------------------------------------------


def parse_contributor_stats(data: object) -> tuple[tuple[ContributorWeeks, ...], int]:
    """Contributors of a 200 payload and the number of malformed entries/cells dropped."""
    if not isinstance(data, list):
        return (), 1 if data not in (None, {}) else 0
    out: list[ContributorWeeks] = []
    skipped = 0
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("weeks"), list):
            skipped += 1
            continue
        author = entry.get("author")
        if author is not None and _login(author) is None:
            skipped += 1
            continue
        weeks: list[WeekCounts] = []
        for cell in entry["weeks"]:
            parsed = _week(cell)
            if parsed is None:
                skipped += 1
            else:
                weeks.append(parsed)
        out.append(ContributorWeeks(_login(author), tuple(weeks)))
    return tuple(out), skipped


def _week(cell: object) -> WeekCounts | None:
    if not isinstance(cell, dict):
        return None
    values = [_count(cell.get(k)) for k in ("w", "a", "d", "c")]
    if any(v is None for v in values):
        return None
    w, a, d, c = (int(v) for v in values if v is not None)
    return WeekCounts(w, a, d, c)


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


def parse_commit_ref(raw: object) -> CommitRef | None:
    """One listing item, or None when its sha, author date or parents are unusable."""
    if not isinstance(raw, dict):
        return None
    sha = raw.get("sha")
    commit = raw.get("commit")
    parents = raw.get("parents")
    if not isinstance(sha, str) or not sha or not isinstance(commit, dict) or not isinstance(parents, list):
        return None
    git_author = commit.get("author")
    authored = parse_time(git_author.get("date")) if isinstance(git_author, dict) else None
    if authored is None:
        return None
    return CommitRef(sha, _login(raw.get("author")), authored, len(parents))


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


def parse_commit_stats(sha: str, data: object) -> CommitStats:
    """Line counts of a commit-detail payload; ``valid=False`` when ``stats`` is missing or malformed."""
    if not isinstance(data, dict):
        return CommitStats(sha, None, 0, 0, valid=False)
    stats = data.get("stats")
    login = _login(data.get("author"))
    if not isinstance(stats, dict):
        return CommitStats(sha, login, 0, 0, valid=False)
    additions, deletions = _count(stats.get("additions")), _count(stats.get("deletions"))
    if additions is None or deletions is None:
        return CommitStats(sha, login, 0, 0, valid=False)
    return CommitStats(sha, login, additions, deletions)


async def commit_stats(client: GitHubClient, org: str, repo: str, sha: str) -> CommitStats:
    """``GET /repos/{org}/{repo}/commits/{sha}``: additions/deletions and the linked author.

    Not conditional: the collector caches results itself, and one entry per commit would only evict
    the listings' ETags from the client's cache.
    """
    response = await client.get(
        f"{_repo_path(org, repo)}/commits/{quote(sha, safe='')}", endpoint=COMMIT_ENDPOINT, conditional=False
    )
    return parse_commit_stats(sha, response.data)
