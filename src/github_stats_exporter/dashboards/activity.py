"""The activity dashboard: commits, pull requests, reviews, comments and weekly lines per repo and user.

Reads `gh_activity_*` (docs/metrics.md, "Activity" and "Weekly lines of code"). Must not sum the rolling
24 h gauges over time: every point already covers a whole window.
"""

from __future__ import annotations

from github_stats_exporter.dashboards.grafana import Dashboard, Kind, LabelVariable, Panel, Query, Row, sel

ORGS = 'org=~"$org"'
REPOS = 'repo=~"$repo"'
USERS = 'user=~"$user"'

ROLLING = (
    "Rolling 24 h window [now-24h, now). Adding over repositories and users is fine (each event counts "
    "once); adding points over time is not: each point already covers the last 24 h."
)
WEEKLY = (
    "The latest complete week (Sunday 00:00 UTC to Sunday), merge commits excluded; the value changes once "
    "a week. Commits by authors linked to no account are summed into user=unknown."
)

STREAMS = (
    (
        "gh_activity_commits_24h",
        "Commits",
        "Default-branch commits by committer date, merge commits included.",
    ),
    ("gh_activity_prs_opened_24h", "PRs opened", "Pull requests opened, counted for the author."),
    ("gh_activity_prs_merged_24h", "PRs merged", "Pull requests merged, counted for the author."),
    ("gh_activity_reviews_submitted_24h", "Reviews", "Reviews submitted (not pending), for the reviewer."),
    ("gh_activity_issue_comments_24h", "Comments", "Issue and PR conversation comments (not inline)."),
)


def picked(metric: str) -> str:
    return sel(metric, ORGS, REPOS, USERS)


STREAM_STATS = tuple(
    Panel(
        f"{title} (24 h)",
        f"{note} {ROLLING}",
        (Query(f"sum({picked(metric)})"),),
        kind=Kind.STAT,
        width=4,
        height=4,
    )
    for metric, title, note in STREAMS
)
ACTIVE_USERS = Panel(
    "Active users (24 h)",
    "Users with at least one counted event in the window (bots included, e.g. dependabot[bot]).",
    (Query(f"count(count by (user) ({picked('gh_activity_last_event_unixtime')}))"),),
    kind=Kind.STAT,
    width=4,
    height=4,
)
TOTALS = Row("Last 24 hours", (*STREAM_STATS, ACTIVE_USERS))

TRENDS = Row(
    "Over time",
    (
        Panel(
            "Activity (24 h window)",
            ROLLING,
            tuple(Query(f"sum({picked(metric)})", title) for metric, title, _ in STREAMS),
            width=12,
        ),
        Panel(
            "Commits per repository (24 h)",
            ROLLING,
            (Query(f"sum by (repo) ({picked('gh_activity_commits_24h')})", "{{repo}}"),),
            width=12,
        ),
    ),
)

PEOPLE = Row(
    "People",
    (
        Panel(
            "Users (last 24 h)",
            ROLLING + " Bots count under their own login, deleted accounts as ghost, commits without a "
            "linked account as unlinked_git_author or unattributed_commit.",
            tuple(Query(f"sum by (user) ({picked(metric)})", title) for metric, title, _ in STREAMS),
            kind=Kind.TABLE,
            width=16,
            height=9,
        ),
        Panel(
            "Hours since last event",
            "Now minus each user's newest counted event; only users active in the last 24 h have one.",
            (
                Query(
                    f"(time() - max by (user) ({picked('gh_activity_last_event_unixtime')})) / 3600",
                    "{{user}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            width=8,
            height=9,
        ),
    ),
)

LINES = Row(
    "Lines of code (latest complete week)",
    (
        Panel(
            "Lines added and removed per repository",
            WEEKLY,
            (
                Query(f"sum by (repo) ({picked('gh_activity_loc_added_weekly')})", "{{repo}} added"),
                Query(f"sum by (repo) ({picked('gh_activity_loc_removed_weekly')})", "{{repo}} removed"),
            ),
            kind=Kind.BARGAUGE,
            width=12,
            height=9,
        ),
        Panel(
            "Top authors by lines added",
            WEEKLY,
            (Query(f"topk(10, sum by (user) ({picked('gh_activity_loc_added_weekly')}))", "{{user}}"),),
            kind=Kind.BARGAUGE,
            width=12,
            height=9,
        ),
        Panel(
            "Repositories with partial line counts",
            "1 when the repository's weekly lines come from commit sampling that stopped early (commit cap, "
            "hourly budget or a commit without stats); the values are then a lower bound.",
            (Query(f"count({sel('gh_exporter_loc_fallback_incomplete', ORGS, REPOS)} == 1) or vector(0)"),),
            kind=Kind.STAT,
            width=6,
            height=4,
        ),
        Panel(
            "Source of the line counts",
            "Repositories per source: stats_contributors (GitHub's statistics) or sampled_commit_stats "
            "(large repositories, whose statistics GitHub reports as zero).",
            (Query(f"sum by (mode) ({sel('gh_exporter_loc_source_mode', ORGS, REPOS)})", "{{mode}}"),),
            kind=Kind.BARGAUGE,
            width=18,
            height=4,
        ),
    ),
)

DASHBOARD = Dashboard(
    slug="activity",
    uid="gse-activity",
    title="GitHub activity",
    description="Commits, pull requests, reviews, comments and weekly lines per repository and user "
    "(docs/dashboards.md).",
    variables=(
        LabelVariable("org", "Org", "gh_activity_last_event_unixtime", "org", multi=True, include_all=True),
        LabelVariable(
            "repo",
            "Repository",
            sel("gh_activity_last_event_unixtime", ORGS),
            "repo",
            multi=True,
            include_all=True,
            description="Repositories with activity in the last 24 h.",
        ),
        LabelVariable(
            "user",
            "User",
            sel("gh_activity_last_event_unixtime", ORGS, REPOS),
            "user",
            multi=True,
            include_all=True,
            description="Users with activity in the last 24 h in the selected repositories.",
        ),
    ),
    rows=(TOTALS, TRENDS, PEOPLE, LINES),
)
