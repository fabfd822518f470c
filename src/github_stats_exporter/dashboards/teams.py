"""The team and repository dashboard: Copilot use per team, and each repository's activity.

Reads `gh_copilot_team_*` (docs/metrics.md, "Copilot teams") and the per-repository activity families
(`gh_activity_*`, "Activity"). Must not add team values up to an org total: a user counts in every team
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


REPOSITORIES = Row(
    "Repositories",
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
            description="Repositories of the org with activity in the last 24 h.",
        ),
    ),
    rows=(TEAMS, REPOSITORIES),
)
