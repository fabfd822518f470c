"""The team and repository dashboard: Copilot use per team, and each repository's activity.

Reads `gh_copilot_team_*` (docs/metrics.md, "Copilot teams"), the per-repository Copilot pull-request
series (`scope="repository"`, "Copilot repositories") and the per-repository activity families
(`gh_activity_*`, "Activity"), which share the `org` and `repo` labels. Must not add team values up to an org total: a user counts in every team
they belong to, and the panel descriptions say so.
"""

from __future__ import annotations

from github_stats_exporter.dashboards.adoption import ORG, SCOPE, SCOPE_VARIABLE, WINDOW, WINDOW_VARIABLE
from github_stats_exporter.dashboards.grafana import Dashboard, Kind, LabelVariable, Panel, Query, Row, sel

TEAM = 'team=~"$team"'
REPO = 'repo=~"$repo"'

OVERLAP = (
    " A user counts in every team they belong to that day, so teams do not add up to the org; a team with "
    "fewer than five seated Copilot users on a day is missing from that day (GitHub leaves it out)."
)
TEAM_ADDITIVE = (
    "Summed over the team members' daily rows of the window (28d: the latest 28-day report; 1d: its newest "
    "day); each day's activity goes to the teams the user was in that day." + OVERLAP
)
TEAM_DISTINCT = (
    "Distinct users with Copilot activity in the window: the 28d value counts each user once over 28 days, "
    "so it is not the sum of the daily values, and it is never summable across teams." + OVERLAP
)


def team(metric: str) -> str:
    """A team family of the selected org, scope, teams and window."""
    return sel(metric, ORG, SCOPE, TEAM, WINDOW)


def per_team(metric: str) -> str:
    return f"sum by (team) ({team(metric)})"


TEAMS = Row(
    "Copilot by team",
    (
        Panel(
            "Active users per team",
            TEAM_DISTINCT,
            (Query(team("gh_copilot_team_active_users"), "{{team}}"),),
            kind=Kind.BARGAUGE,
        ),
        Panel(
            "Output events per team",
            TEAM_ADDITIVE,
            (Query(per_team("gh_copilot_team_code_generation_activity_count"), "{{team}}"),),
        ),
        Panel(
            "Acceptance rate per team",
            "Accept actions divided by output events of the team's rows in the window." + OVERLAP,
            (
                Query(
                    f"{per_team('gh_copilot_team_code_acceptance_activity_count')} / "
                    f"{per_team('gh_copilot_team_code_generation_activity_count')}",
                    "{{team}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Prompts per active user",
            "Prompts of the team's rows divided by its distinct active users in the same window." + OVERLAP,
            (
                Query(
                    f"{per_team('gh_copilot_team_user_initiated_interaction_count')} / "
                    f"{per_team('gh_copilot_team_active_users')}",
                    "{{team}}",
                ),
            ),
        ),
        Panel(
            "Lines added per team",
            TEAM_ADDITIVE,
            (Query(per_team("gh_copilot_team_loc_added_sum"), "{{team}}"),),
        ),
        Panel(
            "AI credits per team",
            TEAM_ADDITIVE + " ai_credits_used is a metrics signal, not a billed amount.",
            (Query(per_team("gh_copilot_team_ai_credits_used"), "{{team}}"),),
        ),
        Panel(
            "Teams",
            "One row per team, values of the selected window." + OVERLAP,
            (
                Query(per_team("gh_copilot_team_active_users"), "active users"),
                Query(per_team("gh_copilot_team_user_initiated_interaction_count"), "prompts"),
                Query(per_team("gh_copilot_team_code_generation_activity_count"), "output events"),
                Query(per_team("gh_copilot_team_code_acceptance_activity_count"), "accepted"),
                Query(per_team("gh_copilot_team_loc_suggested_to_add_sum"), "lines suggested"),
                Query(per_team("gh_copilot_team_loc_added_sum"), "lines added"),
                Query(per_team("gh_copilot_team_loc_deleted_sum"), "lines deleted"),
                Query(per_team("gh_copilot_team_loc_suggested_to_delete_sum"), "deletions suggested"),
            ),
            kind=Kind.TABLE,
            width=24,
            height=8,
        ),
    ),
)

ACTIVITY_24H = (
    "Rolling 24 h window [now-24h, now) per repository, from the activity collector. Summing over users "
    "and repositories is fine (an event counts once, for one user in one repository); summing over time "
    "is not (each point already covers 24 h)."
)


def per_repo(metric: str) -> str:
    return f"sum by (repo) ({sel(metric, ORG, REPO)})"


REPOSITORY = 'scope="repository"'
"""The org's repos-1-day series: their `repo` is the repository name, as on the activity series."""
COPILOT_WINDOW = (
    "Copilot columns: the repos-1-day rows of the selected window (28d: the latest 28-day window summed; "
    "1d: its newest day), about two days behind, org scope only (enterprise repositories are named "
    "owner/name). Only repositories with activity on a day have a row that day."
)
MIXED_PERIODS = (
    " Activity columns: the rolling last 24 h of the activity collector. The two sides cover different "
    "periods: compare repositories with each other, not a Copilot column with an activity column."
)


def copilot_repo(metric: str, *extra: str) -> str:
    return f"sum by (repo) ({sel(metric, ORG, REPOSITORY, REPO, *extra)})"


def pr(field: str) -> str:
    return copilot_repo(f"gh_copilot_usage_pull_requests_{field}", WINDOW)


REVIEW_MINUTES = (
    "Minutes a review stage took (ready to first review, first to final review, final review to merge) for "
    "pull requests merged on the newest report day that a person opened and another person reviewed; "
    "GitHub reports it for pull requests ready for review since 2026-09-21. A median of one day: never "
    "average or add medians of different days or repositories."
)

COPILOT_REPOSITORIES = Row(
    "Copilot pull requests per repository",
    (
        Panel(
            "Copilot and activity per repository",
            COPILOT_WINDOW + MIXED_PERIODS,
            (
                Query(pr("total_created"), "PRs created"),
                Query(pr("total_created_by_copilot"), "created by Copilot"),
                Query(pr("total_merged"), "PRs merged"),
                Query(pr("total_reviewed_by_copilot"), "reviewed by Copilot"),
                Query(pr("total_merged_reviewed_by_copilot"), "merged, Copilot-reviewed"),
                Query(pr("total_copilot_suggestions"), "Copilot suggestions"),
                Query(pr("total_copilot_applied_suggestions"), "applied"),
                Query(f"sum by (repo) ({sel('gh_activity_commits_24h', ORG, REPO)})", "commits 24 h"),
                Query(f"sum by (repo) ({sel('gh_activity_prs_opened_24h', ORG, REPO)})", "PRs opened 24 h"),
                Query(f"sum by (repo) ({sel('gh_activity_prs_merged_24h', ORG, REPO)})", "PRs merged 24 h"),
                Query(
                    f"sum by (repo) ({sel('gh_activity_reviews_submitted_24h', ORG, REPO)})", "reviews 24 h"
                ),
            ),
            kind=Kind.TABLE,
            width=24,
            height=9,
        ),
        Panel(
            "Share of reviews by Copilot",
            "Pull requests reviewed by Copilot divided by pull requests reviewed, per repository, in the "
            "selected window (a pull request reviewed on several days counts on each). " + COPILOT_WINDOW,
            (Query(f"{pr('total_reviewed_by_copilot')} / {pr('total_reviewed')}", "{{repo}}"),),
            kind=Kind.BARGAUGE,
            unit="percentunit",
        ),
        Panel(
            "Applied Copilot review suggestions",
            "Applied Copilot review suggestions divided by Copilot review suggestions, per repository. "
            + COPILOT_WINDOW,
            (
                Query(
                    f"{pr('total_copilot_applied_suggestions')} / {pr('total_copilot_suggestions')}",
                    "{{repo}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            unit="percentunit",
        ),
        Panel(
            "Median minutes to merge (newest day)",
            "Median of the pull requests merged on the newest report day, per repository (window=1d whatever "
            "the window variable says). Never average or add medians.",
            (
                Query(
                    copilot_repo("gh_copilot_usage_pull_requests_median_minutes_to_merge", 'window="1d"'),
                    "{{repo}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            unit="m",
        ),
        Panel(
            "Review stages, median (newest day)",
            REVIEW_MINUTES,
            (
                Query(
                    "max by (repo, stage) ("
                    + sel("gh_copilot_repo_review_minutes", ORG, REPOSITORY, REPO, 'quantile="0.5"')
                    + ")",
                    "{{repo}} {{stage}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            unit="m",
            width=12,
            height=9,
        ),
        Panel(
            "Review stages, 90th percentile (newest day)",
            REVIEW_MINUTES,
            (
                Query(
                    "max by (repo, stage) ("
                    + sel("gh_copilot_repo_review_minutes", ORG, REPOSITORY, REPO, 'quantile="0.9"')
                    + ")",
                    "{{repo}} {{stage}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            unit="m",
            width=12,
            height=9,
        ),
    ),
)

REPOSITORIES = Row(
    "Repository activity",
    (
        Panel(
            "Repositories (last 24 h)",
            ACTIVITY_24H + " Repositories without events in the window have no row.",
            (
                Query(per_repo("gh_activity_commits_24h"), "commits"),
                Query(per_repo("gh_activity_prs_opened_24h"), "PRs opened"),
                Query(per_repo("gh_activity_prs_merged_24h"), "PRs merged"),
                Query(per_repo("gh_activity_reviews_submitted_24h"), "reviews"),
                Query(per_repo("gh_activity_issue_comments_24h"), "comments"),
            ),
            kind=Kind.TABLE,
            width=24,
            height=8,
        ),
        Panel(
            "Commits per repository (24 h)",
            ACTIVITY_24H,
            (Query(per_repo("gh_activity_commits_24h"), "{{repo}}"),),
            width=12,
        ),
        Panel(
            "Pull requests merged per repository (24 h)",
            ACTIVITY_24H + " Counted for the PR author, not the person who merged.",
            (Query(per_repo("gh_activity_prs_merged_24h"), "{{repo}}"),),
            width=12,
        ),
    ),
)

DASHBOARD = Dashboard(
    slug="copilot-teams-repositories",
    uid="gse-teams-repositories",
    title="GitHub Copilot teams and repositories",
    description="Copilot use per team and activity per repository (docs/dashboards.md).",
    variables=(
        SCOPE_VARIABLE,
        LabelVariable(
            "org",
            "Org or enterprise",
            sel("gh_copilot_team_active_users", SCOPE),
            "org",
            description="An org login, or the enterprise slug when the scope is enterprise.",
        ),
        LabelVariable(
            "team",
            "Team",
            sel("gh_copilot_team_active_users", ORG, SCOPE),
            "team",
            multi=True,
            include_all=True,
            description="Team slugs GitHub reports (teams with five or more seated Copilot users).",
        ),
        WINDOW_VARIABLE,
        LabelVariable(
            "repo",
            "Repository",
            sel("gh_activity_last_event_unixtime", ORG),
            "repo",
            multi=True,
            include_all=True,
            description="Repositories of the org with activity in the last 24 h (All also covers repositories "
            "with Copilot pull requests only).",
        ),
    ),
    rows=(TEAMS, COPILOT_REPOSITORIES, REPOSITORIES),
)
