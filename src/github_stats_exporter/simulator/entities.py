"""The simulated world's objects (users, commits, pull requests, reviews, comments, repos) and their views at a time.

Everything here is immutable data plus "what is visible at ``now``" lookups; no JSON shapes
(`payloads.py`) and no HTTP.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Literal

ActorType = Literal["User", "Bot"]
RepoKind = Literal["normal", "archived", "disabled", "empty", "huge", "no_prs", "idle"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"]


@dataclass(frozen=True, slots=True)
class Actor:
    """A GitHub account as it appears in ``user``/``author`` objects."""

    login: str
    id: int
    type: ActorType = "User"
    name: str = ""

    @property
    def noreply_email(self) -> str:
        return f"{self.id}+{self.login}@users.noreply.github.com"


GHOST = Actor("ghost", 10137, "User", "Deleted user")
"""The placeholder GitHub shows for deleted accounts."""
WEB_FLOW = Actor("web-flow", 19864447, "User", "GitHub")
"""The committer of merges and squashes made through the web UI."""
DEPENDABOT = Actor("dependabot[bot]", 49699333, "Bot", "dependabot[bot]")
ACTIONS_BOT = Actor("github-actions[bot]", 41898282, "Bot", "github-actions[bot]")


@dataclass(frozen=True, slots=True)
class GitIdentity:
    """Raw git name/email of a commit's author or committer."""

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit on the default branch; ``author``/``committer`` are None when the email links to no account."""

    sha: str
    parents: tuple[str, ...]
    author: Actor | None
    git_author: GitIdentity
    authored_at: int
    committer: Actor | None
    git_committer: GitIdentity
    committed_at: int
    message: str
    additions: int
    deletions: int

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True, slots=True)
class Review:
    """A pull request review; a PENDING review has no ``submitted_at`` and becomes visible at ``created_at``."""

    id: int
    pr_number: int
    user: Actor | None
    state: ReviewState
    created_at: int
    submitted_at: int | None
    commit_id: str

    @property
    def visible_from(self) -> int:
        return self.created_at if self.submitted_at is None else self.submitted_at


@dataclass(frozen=True, slots=True)
class IssueComment:
    """A conversation comment on an issue or a pull request; ``edited_at`` is when it was last edited, if ever."""

    id: int
    number: int
    on_pull_request: bool
    user: Actor | None
    created_at: int
    edited_at: int | None
    body: str

    def updated_at(self, now: float) -> int:
        if self.edited_at is not None and self.edited_at <= now:
            return self.edited_at
        return self.created_at


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request's whole life; what is shown depends on ``now`` (see :meth:`view`)."""

    number: int
    id: int
    user: Actor | None
    title: str
    created_at: int
    merged_at: int | None
    closed_at: int | None
    draft: bool
    merge_commit_sha: str | None
    event_times: tuple[int, ...]
    """Sorted times that bump ``updated_at``: creation, reviews, comments, merge/close."""

    def view(self, now: float) -> PullView:
        merged = self.merged_at if self.merged_at is not None and self.merged_at <= now else None
        closed = self.closed_at if self.closed_at is not None and self.closed_at <= now else None
        updated = self.event_times[max(bisect_right(self.event_times, now) - 1, 0)]
        return PullView(self, "closed" if closed is not None else "open", updated, closed, merged)


@dataclass(frozen=True, slots=True)
class PullView:
    """A pull request as the API shows it at one moment."""

    pr: PullRequest
    state: Literal["open", "closed"]
    updated_at: int
    closed_at: int | None
    merged_at: int | None


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """The cheap, always-known facts about a repo (no events)."""

    org: str
    name: str
    id: int
    kind: RepoKind
    private: bool
    created_at: int
    default_branch: str
    activity: float

    @property
    def full_name(self) -> str:
        return f"{self.org}/{self.name}"

    @property
    def archived(self) -> bool:
        return self.kind == "archived"

    @property
    def disabled(self) -> bool:
        return self.kind == "disabled"

    @property
    def huge(self) -> bool:
        """Flagged as having ≥ 10,000 commits, so stats/contributors zeroes additions and deletions."""
        return self.kind == "huge"


@dataclass(slots=True)
class RepoData:
    """All events of one repo, sorted so that "visible at now" is a bisection."""

    info: RepoInfo
    commits: list[Commit]
    """Ascending by committer date."""
    pulls: dict[int, PullRequest]
    reviews: dict[int, list[Review]]
    """Per PR number, chronological by ``visible_from``."""
    comments: list[IssueComment]
    """Ascending by id, which is creation order."""
    issue_numbers: frozenset[int]
    _commit_times: list[int] = field(init=False, repr=False)
    _comment_times: list[int] = field(init=False, repr=False)
    _by_sha: dict[str, int] = field(init=False, repr=False)
    _change_times: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._commit_times = [c.committed_at for c in self.commits]
        self._comment_times = [c.created_at for c in self.comments]
        self._by_sha = {c.sha: i for i, c in enumerate(self.commits)}
        times = list(self._commit_times)
        for pr in self.pulls.values():
            times += pr.event_times
            times += [t for t in (pr.created_at, pr.merged_at, pr.closed_at) if t is not None]
        for reviews in self.reviews.values():
            times += [t for r in reviews for t in (r.created_at, r.submitted_at) if t is not None]
        times += [t for c in self.comments for t in (c.created_at, c.edited_at) if t is not None]
        self._change_times = sorted(times)

    def changes(self, now: float) -> int:
        """How many of the repo's moments (commit, PR, review, comment, edit) lie at or before ``now``.

        Everything the commit, pull, review and comment listings show is a function of which of these
        moments have passed, so two instants with the same count show the same listings.
        """
        return bisect_right(self._change_times, now)

    def visible_commits(self, now: float) -> list[Commit]:
        return self.commits[: bisect_right(self._commit_times, now)]

    def head(self, now: float) -> Commit | None:
        n = bisect_right(self._commit_times, now)
        return self.commits[n - 1] if n else None

    def commit(self, sha: str, now: float) -> Commit | None:
        i = self._by_sha.get(sha)
        if i is None or self.commits[i].committed_at > now:
            return None
        return self.commits[i]

    def commit_index(self, sha: str) -> int | None:
        return self._by_sha.get(sha)

    def visible_pulls(self, now: float) -> list[PullView]:
        return [pr.view(now) for pr in self.pulls.values() if pr.created_at <= now]

    def visible_reviews(self, number: int, now: float) -> list[Review]:
        return [r for r in self.reviews.get(number, ()) if r.visible_from <= now]

    def visible_comments(self, now: float) -> list[IssueComment]:
        return self.comments[: bisect_right(self._comment_times, now)]

    def commits_until(self, now: float) -> int:
        """How many commits of the default branch exist at ``now`` (its head, hence ``pushed_at``, follows)."""
        return bisect_right(self._commit_times, now)

    def pushed_at(self, now: float) -> int:
        head = self.head(now)
        return head.committed_at if head is not None else self.info.created_at
