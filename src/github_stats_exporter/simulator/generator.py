"""Deterministic generation of users, repos and one repo's events from (seed, org, repo).

Pure and synchronous: the same inputs always give the same objects, and one repo builds in
milliseconds so the world can stay lazy. It must not read the clock; visibility is decided later.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from collections.abc import Sequence

from github_stats_exporter.simulator.entities import (
    ACTIONS_BOT,
    DEPENDABOT,
    GHOST,
    WEB_FLOW,
    Actor,
    Commit,
    GitIdentity,
    IssueComment,
    PullRequest,
    RepoData,
    RepoInfo,
    RepoKind,
    Review,
    ReviewState,
)
from github_stats_exporter.simulator.spec import DAY, SPECIAL_REPO_KINDS, OrgSpec, WorldSpec

_FIRST = (
    "alice",
    "bruno",
    "chen",
    "dana",
    "emeka",
    "farah",
    "goran",
    "hana",
    "ivan",
    "jade",
    "kofi",
    "lena",
    "mateo",
    "nadia",
    "oskar",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tara",
    "umar",
    "vera",
    "wei",
    "yuki",
)
_LAST = (
    "lee",
    "novak",
    "okafor",
    "silva",
    "tanaka",
    "weber",
    "kim",
    "haddad",
    "moreau",
    "rossi",
    "berg",
    "das",
)
_ADJ = (
    "blue",
    "quick",
    "silent",
    "brave",
    "lucky",
    "rapid",
    "tiny",
    "golden",
    "hidden",
    "calm",
    "bright",
    "cold",
)
_NOUN = (
    "api",
    "gateway",
    "billing",
    "portal",
    "scheduler",
    "ledger",
    "search",
    "worker",
    "cache",
    "auth",
    "router",
    "indexer",
    "mailer",
    "reports",
    "sdk",
    "cli",
    "console",
    "pipeline",
    "store",
    "agent",
)
_SPECIAL_NAMES: dict[str, str] = {
    "archived": "legacy-archive",
    "disabled": "disabled-mirror",
    "empty": "empty-placeholder",
    "huge": "monorepo",
    "no_prs": "docs-site",
    "idle": "dormant-tool",
}
_REVIEW_STATES: tuple[ReviewState, ...] = (
    "APPROVED",
    "CHANGES_REQUESTED",
    "COMMENTED",
    "DISMISSED",
    "PENDING",
)
_REVIEW_WEIGHTS = (45, 15, 30, 7, 3)
_NO_IDENTITY = GitIdentity("", "")
_WEB_FLOW_IDENTITY = GitIdentity("GitHub", "noreply@github.com")
_Draft = tuple[int, str, str | None, Actor | None, GitIdentity, int, Actor | None, GitIdentity, str, int, int]
"""A commit before it is linked: (committed_at, sha, second parent, author, git author, authored_at,
committer, git committer, message, additions, deletions)."""
_FILES = (
    "src/main.py",
    "src/core.py",
    "README.md",
    "tests/test_core.py",
    "docs/index.md",
    "pyproject.toml",
    "src/api/handlers.py",
    "web/app.ts",
    "Makefile",
    ".github/workflows/ci.yml",
)


def stable_int(text: str, modulo: int = 900_000_000) -> int:
    """A stable positive integer derived from text (not Python's salted hash)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % modulo


def org_users(spec: WorldSpec, org: OrgSpec) -> tuple[Actor, ...]:
    """The org's human members, deterministic from the seed."""
    rng = random.Random(f"{spec.seed}/{org.name}/users")
    logins: list[str] = []
    while len(logins) < org.users:
        login = f"{rng.choice(_FIRST)}-{rng.choice(_LAST)}"
        if len(logins) >= len(_FIRST):
            login = f"{login}{rng.randint(2, 99)}"
        if login not in logins:
            logins.append(login)
    return tuple(
        Actor(lg, 1_000_000 + stable_int(lg, 80_000_000), "User", lg.replace("-", " ").title())
        for lg in logins
    )


def unlinked_identities(org: str) -> tuple[GitIdentity, ...]:
    """Git identities that no account claims: noreply emails of gone accounts and plain emails."""
    return (
        GitIdentity("Jane Roe", "jane@example.com"),
        GitIdentity("Former Contractor", f"4242+former-{org}@users.noreply.github.com"),
        GitIdentity("old laptop", "legacy-bot@users.noreply.github.com"),
        GitIdentity("build", "build@ci.internal"),
    )


def org_repos(spec: WorldSpec, org: OrgSpec) -> tuple[RepoInfo, ...]:
    """The org's repos: special ones first (if enabled), then normal ones with generated names."""
    rng = random.Random(f"{spec.seed}/{org.name}/repos")
    kinds: list[RepoKind] = list(SPECIAL_REPO_KINDS) if org.special_repos else []  # type: ignore[arg-type]
    kinds += ["normal"] * (org.repos - len(kinds))
    names: list[str] = []
    infos: list[RepoInfo] = []
    for i, kind in enumerate(kinds):
        if kind != "normal":
            name = _SPECIAL_NAMES[kind]
        else:
            name = f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}"
            while name in names:
                name = f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}-{i}"
        names.append(name)
        created = int(spec.first_event_time) - rng.randint(30, 900) * DAY
        activity = round(rng.uniform(0.2, 2.0), 3)
        infos.append(
            RepoInfo(
                org=org.name,
                name=name,
                id=100_000_000 + stable_int(f"{org.name}/{name}"),
                kind=kind,
                private=rng.random() < 0.6,
                created_at=created,
                default_branch="master" if rng.random() < 0.15 else "main",
                activity=activity,
            )
        )
    return tuple(infos)


class _RepoBuilder:
    """Builds one repo's events; a class only to share the RNG and id counters between steps."""

    def __init__(self, spec: WorldSpec, info: RepoInfo, users: Sequence[Actor]) -> None:
        self.spec = spec
        self.info = info
        self.rng = random.Random(f"{spec.seed}/{info.org}/{info.name}")
        rng = self.rng
        k = min(len(users), rng.randint(3, 9))
        self.contributors = rng.sample(list(users), k)
        # Zipf-like weights: a few people do most of the work, as in real repos.
        total = 0.0
        self.cum_weights: list[float] = []
        for i in range(k):
            total += 1.0 / (i + 1)
            self.cum_weights.append(total)
        self.unlinked = unlinked_identities(info.org)
        self.t0 = int(spec.first_event_time)
        end = int(spec.last_event_time)
        if info.kind == "archived":
            end = int(spec.start) - 10 * DAY
        elif info.kind == "idle":
            end = int(spec.start) - 4 * DAY
        self.t1 = end
        self.identities: dict[tuple[str, bool], GitIdentity] = {}

    def person(self) -> Actor:
        i = bisect_right(self.cum_weights, self.rng.random() * self.cum_weights[-1])
        return self.contributors[min(i, len(self.contributors) - 1)]

    def social_actor(self, bot: Actor, bot_share: float) -> Actor | None:
        r = self.rng.random()
        if r < 0.006:
            return None
        if r < 0.018:
            return GHOST
        if r < 0.018 + bot_share:
            return bot
        return self.person()

    def times(self, per_day: float) -> list[int]:
        rate = per_day * self.info.activity / DAY
        out: list[int] = []
        if rate <= 0:
            return out
        t = self.t0 + self.rng.expovariate(rate)
        while t < self.t1:
            out.append(int(t))
            t += self.rng.expovariate(rate)
        return out

    def sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def size(self) -> tuple[int, int]:
        additions = int(self.rng.lognormvariate(3.0, 1.3))
        return additions, int(additions * self.rng.uniform(0.0, 0.8))

    def identity(self, actor: Actor, noreply: bool) -> GitIdentity:
        key = (actor.login, noreply)
        ident = self.identities.get(key)
        if ident is None:
            email = actor.noreply_email if noreply else f"{actor.login}@example.com"
            ident = self.identities[key] = GitIdentity(actor.name, email)
        return ident

    def direct_commit(self, t: int) -> _Draft:
        rng = self.rng
        r = rng.random()
        author: Actor | None
        if r < 0.005:
            author, ident = None, _NO_IDENTITY
        elif r < 0.11:
            author, ident = None, rng.choice(self.unlinked)
        elif r < 0.14:
            author = ACTIONS_BOT
            ident = self.identity(author, True)
        else:
            author = self.person()
            ident = self.identity(author, rng.random() < 0.5)
        # A rebase or a late push makes the authored date older than the committed date.
        authored = t if rng.random() < 0.7 else t - rng.randint(60, 3 * DAY)
        additions, deletions = self.size()
        message = f"Update {rng.choice(_FILES)}"
        return (t, self.sha(), None, author, ident, authored, author, ident, message, additions, deletions)

    def merge_commit(self, number: int, title: str, pr_author: Actor | None, merged_at: int) -> _Draft:
        """The commit a web-UI merge leaves: a two-parent merge by the merger, or a squash by the PR author."""
        rng = self.rng
        additions, deletions = self.size()
        second: str | None
        if rng.random() < 0.4:
            author = self.person()
            second = self.sha()
            msg = f"Merge pull request #{number}"
        else:
            linked = pr_author is not None and pr_author is not GHOST
            author = pr_author if linked and pr_author is not None else self.person()
            second = None
            msg = f"{title} (#{number})"
        ident = self.identity(author, True)
        return (
            merged_at,
            self.sha(),
            second,
            author,
            ident,
            merged_at,
            WEB_FLOW,
            _WEB_FLOW_IDENTITY,
            msg,
            additions,
            deletions,
        )

    def build(self) -> RepoData:
        spec, rng, kind = self.spec, self.rng, self.info.kind
        pr_times = [] if kind in ("empty", "no_prs") else self.times(spec.prs_per_day)
        issue_times = self.times(spec.issues_per_day)
        threads = sorted([(t, True) for t in pr_times] + [(t, False) for t in issue_times])
        pulls: dict[int, PullRequest] = {}
        reviews: dict[int, list[Review]] = {}
        raw_comments: list[tuple[int, int, bool, Actor | None, int | None]] = []
        drafts: list[_Draft] = []
        raw_reviews: list[tuple[int, int, Actor | None, ReviewState]] = []
        for number, (created, is_pr) in enumerate(threads, start=1):
            duration = max(300, int(rng.lognormvariate(math.log(6 * 3600), 1.2)))
            end = created + duration
            if not is_pr:
                self.add_comments(raw_comments, number, False, created, min(end + 2 * DAY, self.t1))
                continue
            pr_author = self.social_actor(DEPENDABOT, 0.04)
            outcome = rng.random()
            merged_at = closed_at = None
            if end < self.t1 and outcome < 0.8:
                closed_at = end
                merged_at = end if outcome < 0.65 else None
            n_reviews = (
                min(5, int(rng.expovariate(1.0 / spec.reviews_per_pr))) if spec.reviews_per_pr > 0 else 0
            )
            # Nothing happens after the repo's last active moment (archived and idle repos stop early).
            review_end = min(end if closed_at is not None else created + 3 * DAY, self.t1)
            review_at = sorted(rng.randint(created, review_end) for _ in range(n_reviews))
            pr_reviews: list[tuple[int, int, Actor | None, ReviewState]] = []
            for t in review_at:
                reviewer = self.social_actor(ACTIONS_BOT, 0.0)
                if reviewer is not None and reviewer == pr_author:
                    reviewer = self.person()
                state = rng.choices(_REVIEW_STATES, _REVIEW_WEIGHTS)[0]
                pr_reviews.append((t, number, reviewer, state))
            raw_reviews += pr_reviews
            first_comment = len(raw_comments)
            self.add_comments(raw_comments, number, True, created, review_end)
            events = [created]
            events += [t for t, _, _, state in pr_reviews if state != "PENDING"]
            events += [c[1] for c in raw_comments[first_comment:]]
            if closed_at is not None:
                events.append(closed_at)
            title = f"{rng.choice(('Fix', 'Add', 'Refactor', 'Bump', 'Document'))} {rng.choice(_NOUN)}"
            merge_sha = None
            if merged_at is not None:
                draft = self.merge_commit(number, title, pr_author, merged_at)
                drafts.append(draft)
                merge_sha = draft[1]
            draft_pr = closed_at is None and rng.random() < 0.2
            pulls[number] = PullRequest(
                number,
                self.info.id * 100 + number,
                pr_author,
                title,
                created,
                merged_at,
                closed_at,
                draft_pr,
                merge_sha,
                tuple(sorted(events)),
            )
        commits: list[Commit] = []
        if kind != "empty":
            per_day = spec.commits_per_day * (3.0 if kind == "huge" else 1.0)
            drafts += [self.direct_commit(t) for t in self.times(per_day)]
            drafts.sort(key=lambda d: d[0])
            commits = self.chain(drafts)
        commit_times = [c.committed_at for c in commits]
        for seq, (t, number, reviewer, state) in enumerate(sorted(raw_reviews, key=lambda r: r[0])):
            i = bisect_right(commit_times, t)
            head = commits[i - 1].sha if i else ""
            submitted = None if state == "PENDING" else t
            reviews.setdefault(number, []).append(
                Review(self.info.id * 10_000 + seq + 1, number, reviewer, state, t, submitted, head)
            )
        comments = [
            IssueComment(
                self.info.id * 10_000 + seq + 1, number, on_pr, user, t, edited, f"Comment {seq + 1}"
            )
            for seq, (number, t, on_pr, user, edited) in enumerate(
                sorted(raw_comments, key=lambda c: (c[1], c[0]))
            )
        ]
        issues = frozenset(n for n, (_, is_pr) in enumerate(threads, start=1) if not is_pr)
        return RepoData(self.info, commits, pulls, reviews, comments, issues)

    def add_comments(
        self,
        out: list[tuple[int, int, bool, Actor | None, int | None]],
        number: int,
        on_pr: bool,
        start: int,
        end: int,
    ) -> None:
        rng = self.rng
        n = (
            int(rng.expovariate(1.0 / self.spec.comments_per_thread))
            if self.spec.comments_per_thread > 0
            else 0
        )
        for _ in range(n):
            t = rng.randint(start, max(start, end))
            edited: int | None = t + rng.randint(60, 2 * DAY) if rng.random() < 0.15 else None
            if edited is not None and edited > self.t1:
                edited = None
            out.append((number, t, on_pr, self.social_actor(ACTIONS_BOT, 0.05), edited))

    def chain(self, drafts: list[_Draft]) -> list[Commit]:
        """Links the time-sorted drafts into one linear default branch (each commit's first parent is the previous)."""
        out: list[Commit] = []
        parent = ""
        for committed, sha, second, author, ident, authored, committer, c_ident, msg, adds, dels in drafts:
            first = parent or (self.sha() if second else "")
            parents = tuple(p for p in (first, second) if p)
            out.append(
                Commit(sha, parents, author, ident, authored, committer, c_ident, committed, msg, adds, dels)
            )
            parent = sha
        return out


def build_repo(spec: WorldSpec, info: RepoInfo, users: Sequence[Actor]) -> RepoData:
    """Every event of one repo, deterministic from (seed, org, repo)."""
    return _RepoBuilder(spec, info, users).build()
