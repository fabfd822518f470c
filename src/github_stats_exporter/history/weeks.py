"""Every complete week of one repository's lines of code from ``stats/contributors``, as timestamped samples.

GitHub answers 202 while it computes the statistics: the reader asks again after 2, 4, 8… seconds
(injected sleep), like the live LOC collector. Weeks are summed per user by the live `week_totals`;
only users with added or removed lines get series. It must not write files or pick repositories.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from github_stats_exporter import metrics
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.stats import contributor_stats
from github_stats_exporter.model import Sample
from github_stats_exporter.scrape.locstate import WEEK_SECONDS, week_totals

COMPUTING_POLLS = 5
"""How often a 202 is asked again (2+4+8+16+32 s) before the repository counts as failed."""

Point = tuple[int, Sample]
"""(Unix seconds, sample)."""


class StatsNotReady(ExporterError):
    """GitHub was still computing the repository's statistics after every poll."""

    transient = True


async def repo_weeks(
    client: GitHubClient,
    org: str,
    repo: str,
    weeks: Sequence[int],
    *,
    sleep: Callable[[float], Awaitable[object]],
    polls: int = COMPUTING_POLLS,
) -> list[Point]:
    """The LOC samples of ``repo`` for each week start in ``weeks``, stamped at the week's last second."""
    answer = await contributor_stats(client, org, repo)
    for attempt in range(polls):
        if answer.status != "computing":
            break
        await sleep(2.0 ** (attempt + 1))
        answer = await contributor_stats(client, org, repo)
    if answer.status == "computing":
        msg = f"{org}/{repo}: GitHub was still computing stats/contributors after {polls} polls"
        raise StatsNotReady(msg)
    out: list[Point] = []
    for week in weeks:
        totals = week_totals(answer.contributors, week)
        stamp = week + WEEK_SECONDS - 1
        for user, (added, removed) in sorted(totals.lines.items()):
            if added or removed:
                labels = {"org": org, "repo": repo, "user": user}
                out.append((stamp, metrics.ACTIVITY_LOC_ADDED.sample(added, labels)))
                out.append((stamp, metrics.ACTIVITY_LOC_REMOVED.sample(removed, labels)))
    return out
