"""Ground truth: the exact metric values a correct exporter must produce for the simulated world at time ``now``.

Computed straight from the world's events, never from API responses, so an exporter bug cannot leak in.
Keys are ``(metric, org, repo, user)``; only non-zero values produce entries.

Window ``W = [now - 86400, now)``; only events at or before ``now`` exist.

- ``gh_activity_commits_24h``: commits on the default branch (merge commits included) whose committer
  date is in W. User: ``author.login`` if the author is linked to an account; else the login parsed
  from a noreply author email (``ID+login@users.noreply.github.com`` or ``login@users.noreply.github.com``);
  else ``unlinked_git_author`` if the git author has a name or an email; else ``unattributed_commit``.
- ``gh_activity_prs_opened_24h``: PR author login, ``created_at`` in W.
- ``gh_activity_prs_merged_24h``: PR author login (not the merger), ``merged_at`` in W.
- ``gh_activity_reviews_submitted_24h``: reviewer login, ``submitted_at`` in W, any state but PENDING.
- ``gh_activity_issue_comments_24h``: commenter login, ``created_at`` in W (issue and PR conversation
  comments; later edits do not count again).
- A null user counts as ``unknown``; the deleted-account placeholder keeps login ``ghost``; bots count
  under their login (``dependabot[bot]``).
- ``gh_activity_last_event_unixtime``: per (repo, user) the newest timestamp among that user's counted
  events in W (commit committer date, PR ``created_at``, ``merged_at``, review ``submitted_at``, comment
  ``created_at``).
- Weekly LOC (``gh_activity_loc_added_weekly`` / ``gh_activity_loc_removed_weekly``): the latest complete
  week is the newest Sunday-00:00-UTC start ``w`` with ``w + 7 days <= now``. Per contributor login, the
  additions / deletions of the non-merge commits *authored* in ``[w, w + 7 days)`` that are visible
  (committed at or before ``now``); authors without a linked account are summed into ``unknown``. Both
  metrics are emitted for every contributor with additions or deletions > 0 in that week (so one of the
  two may be 0). The huge repo's truth is the real sums (what a commit-sampling fallback recovers),
  although its stats endpoint reports zeros; the empty repo has none.
- Archived and disabled repos produce nothing unless ``include_archived``.
"""

from __future__ import annotations

import re
from collections import defaultdict

from github_stats_exporter.simulator.entities import Actor, Commit, RepoData
from github_stats_exporter.simulator.world import World

TruthKey = tuple[str, str, str, str]

COMMITS = "gh_activity_commits_24h"
PRS_OPENED = "gh_activity_prs_opened_24h"
PRS_MERGED = "gh_activity_prs_merged_24h"
REVIEWS = "gh_activity_reviews_submitted_24h"
COMMENTS = "gh_activity_issue_comments_24h"
LAST_EVENT = "gh_activity_last_event_unixtime"
LOC_ADDED = "gh_activity_loc_added_weekly"
LOC_REMOVED = "gh_activity_loc_removed_weekly"

WINDOW_SECONDS = 86400
WEEK_SECONDS = 7 * 86400
_FIRST_SUNDAY = 3 * 86400  # 1970-01-04 00:00 UTC, the first Sunday of the Unix epoch
_NOREPLY = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$", re.IGNORECASE)


def login_of(user: Actor | None) -> str:
    return "unknown" if user is None else user.login


def commit_user(commit: Commit) -> str:
    """The user label of a commit under the attribution rules above."""
    if commit.author is not None:
        return commit.author.login
    match = _NOREPLY.match(commit.git_author.email)
    if match:
        return match.group(1)
    if commit.git_author.name or commit.git_author.email:
        return "unlinked_git_author"
    return "unattributed_commit"


def week_start(t: float) -> int:
    """Start (Sunday 00:00 UTC) of the week containing ``t``."""
    return int((t - _FIRST_SUNDAY) // WEEK_SECONDS) * WEEK_SECONDS + _FIRST_SUNDAY


def loc_week_start(now: float) -> int:
    """The latest complete week: the newest Sunday start ``w`` with ``w + 7 days <= now``."""
    return week_start(now) - WEEK_SECONDS


def activity_truth(world: World, now: float, *, include_archived: bool = False) -> dict[TruthKey, float]:
    """Every activity and weekly-LOC series a correct exporter emits at ``now``, keyed (metric, org, repo, user)."""
    out: dict[TruthKey, float] = {}
    for org in world.org_names:
        for info in world.repos(org):
            if (info.archived or info.disabled) and not include_archived:
                continue
            data = world.repo(org, info.name)
            out.update(repo_activity_truth(data, now))
            out.update(repo_loc_truth(data, now))
    return out


def repo_activity_truth(data: RepoData, now: float) -> dict[TruthKey, float]:
    """The 24h activity series of one repo."""
    lo = now - WINDOW_SECONDS
    counts: dict[tuple[str, str], int] = defaultdict(int)
    last: dict[str, float] = {}

    def count(metric: str, user: str, t: float) -> None:
        if lo <= t < now:
            counts[metric, user] += 1
            last[user] = max(last.get(user, t), t)

    for c in data.visible_commits(now):
        count(COMMITS, commit_user(c), c.committed_at)
    for pr in data.pulls.values():
        user = login_of(pr.user)
        count(PRS_OPENED, user, pr.created_at)
        if pr.merged_at is not None:
            count(PRS_MERGED, user, pr.merged_at)
    for reviews in data.reviews.values():
        for r in reviews:
            if r.state != "PENDING" and r.submitted_at is not None:
                count(REVIEWS, login_of(r.user), r.submitted_at)
    for cm in data.comments:
        count(COMMENTS, login_of(cm.user), cm.created_at)
    org, repo = data.info.org, data.info.name
    out: dict[TruthKey, float] = {(metric, org, repo, user): float(n) for (metric, user), n in counts.items()}
    out.update({(LAST_EVENT, org, repo, user): float(t) for user, t in last.items()})
    return out


def repo_loc_truth(data: RepoData, now: float) -> dict[TruthKey, float]:
    """The weekly LOC series of one repo for the latest complete week."""
    return repo_week_loc_truth(data, now, loc_week_start(now))


def repo_week_loc_truth(data: RepoData, now: float, w: int) -> dict[TruthKey, float]:
    """The weekly LOC series of one repo for the week starting at ``w``, as GitHub shows it at ``now``."""
    added: dict[str, int] = defaultdict(int)
    removed: dict[str, int] = defaultdict(int)
    for c in data.visible_commits(now):
        if c.is_merge or not w <= c.authored_at < w + WEEK_SECONDS:
            continue
        user = login_of(c.author)
        added[user] += c.additions
        removed[user] += c.deletions
    org, repo = data.info.org, data.info.name
    out: dict[TruthKey, float] = {}
    for user in added:
        if added[user] or removed[user]:
            out[LOC_ADDED, org, repo, user] = float(added[user])
            out[LOC_REMOVED, org, repo, user] = float(removed[user])
    return out
