"""The Copilot adoption dashboard: active users, seats, activity, pull requests and top users.

Reads only `gh_copilot_usage_*` and `gh_copilot_seat*` (docs/metrics.md, "Copilot usage" and
"Copilot seats"). Holds the Copilot selectors the teams dashboard shares. Must not sum distinct-user
counts over days, teams or scopes: each panel's description says what may be added and what may not.
"""

from __future__ import annotations

from github_stats_exporter.dashboards.grafana import (
    CustomVariable,
    Dashboard,
    Kind,
    LabelVariable,
    Panel,
    Query,
    Row,
    sel,
)
from github_stats_exporter.metrics import spec_for

ORG = 'org="$org"'
SCOPE = 'scope="$scope"'
WINDOW = 'window="$window"'
AGGREGATE = 'user="all"'
USERS_SCOPE = 'scope=~"users|enterprise_users"'
TOTALS = ('ide=""', 'feature=""', 'language=""', 'model=""', 'chat_mode=""')
"""Matchers that keep the totals and drop the breakdown series of the same family."""

SCOPE_VARIABLE = CustomVariable(
    "scope",
    "Scope",
    ("org", "enterprise"),
    "org: an organization's reports; enterprise: the enterprise's. Never add the two: a user counts in both.",
)
WINDOW_VARIABLE = CustomVariable(
    "window",
    "Window",
    ("28d", "1d"),
    "28d: the latest 28-day report, additive values summed over its days; 1d: its newest day.",
)

DISTINCT = (
    "A distinct-user count from the newest day of the report (the same in both windows): never sum it "
    "over days, teams, orgs or scopes, and do not add the daily values of a range to get a month."
)
ADDITIVE = (
    "Summed over the days of the selected window (28d: the 28 days of the latest report; 1d: its newest "
    "day). The 28d value is not 28 times the 1d value, and two 28d values of different days overlap: do "
    "not add values of different times."
)
FRESHNESS = " GitHub publishes a day about two days after it ends, so the newest day lags."


def totals(metric: str) -> tuple[str, ...]:
    """The `TOTALS` matchers for the breakdown labels ``metric`` can carry (docs/metrics.md)."""
    optional = spec_for(metric).optional_labels
    return tuple(m for m in TOTALS if m.split("=", 1)[0] in optional)


def usage(metric: str, *extra: str) -> str:
    """An aggregate-report value of the selected org, scope and window, breakdowns excluded."""
    return sel(metric, ORG, SCOPE, WINDOW, AGGREGATE, *totals(metric), *extra)


def _distinct_stat(title: str, metric: str, note: str = "") -> Panel:
    return Panel(
        title,
        DISTINCT + note + FRESHNESS,
        (Query(f"max({usage(metric)})"),),
        kind=Kind.STAT,
        width=4,
        height=4,
    )


def _additive(title: str, metrics: tuple[tuple[str, str], ...], note: str = "") -> Panel:
    queries = tuple(Query(f"sum({usage(metric)})", legend) for metric, legend in metrics)
    return Panel(title, ADDITIVE + note, queries)


ACTIVE_USERS = Row(
    "Active users",
    (
        _distinct_stat("Daily active users", "gh_copilot_usage_daily_active_users"),
        _distinct_stat(
            "Weekly active users", "gh_copilot_usage_weekly_active_users", " 7 days ending on it."
        ),
        _distinct_stat(
            "Monthly active users", "gh_copilot_usage_monthly_active_users", " 28 days ending on it."
        ),
        _distinct_stat("Monthly active chat users", "gh_copilot_usage_monthly_active_chat_users"),
        _distinct_stat("Monthly active agent users", "gh_copilot_usage_monthly_active_agent_users"),
        _distinct_stat(
            "Daily active CLI users",
            "gh_copilot_usage_daily_active_cli_users",
            " GitHub omits it on days without CLI use; the exporter shows 0 then.",
        ),
        Panel(
            "Active users over time",
            DISTINCT
            + " The curve steps once per published day: each point is the newest day known at that time.",
            (
                Query(f"max({usage('gh_copilot_usage_daily_active_users')})", "daily"),
                Query(f"max({usage('gh_copilot_usage_weekly_active_users')})", "weekly"),
                Query(f"max({usage('gh_copilot_usage_monthly_active_users')})", "monthly"),
            ),
            width=12,
        ),
        Panel(
            "Agent, cloud agent and app users",
            DISTINCT + " Cloud-agent and app counts are absent on days GitHub sends null.",
            (
                Query(f"max({usage('gh_copilot_usage_monthly_active_agent_users')})", "monthly agent"),
                Query(
                    f"max({usage('gh_copilot_usage_monthly_active_copilot_cloud_agent_users')})",
                    "monthly cloud agent",
                ),
                Query(
                    f"max({usage('gh_copilot_usage_daily_active_vscode_agent_users')})", "daily VS Code agent"
                ),
                Query(
                    f"max({usage('gh_copilot_usage_daily_active_copilot_app_users')})", "daily Copilot app"
                ),
            ),
            width=12,
        ),
    ),
)

SEATS_TOTAL = sel("gh_copilot_seats", ORG, SCOPE, 'kind="total"')
UNUSED_SEATS = sel("gh_copilot_seats_by_last_activity", ORG, SCOPE, 'since=~"older|never"')
SEATS = Row(
    "Seats (licences)",
    (
        Panel(
            "Seats",
            "Licences in the current billing cycle (gh_copilot_seats kind=total). The enterprise listing "
            "counts each user once; org and enterprise seats overlap, never add them.",
            (Query(f"max({SEATS_TOTAL})"),),
            kind=Kind.STAT,
            width=4,
            height=5,
        ),
        Panel(
            "Unused for 28 days or more",
            "Seats whose last activity is 28 days old or older, or never (GitHub resets it after 90 idle "
            "days). Seat buckets are exclusive and sum to the seats.",
            (Query(f"sum({UNUSED_SEATS})"),),
            kind=Kind.STAT,
            width=4,
            height=5,
        ),
        Panel(
            "Monthly active users per seat",
            "Monthly active users (newest report day) divided by the seats now. Both are distinct counts of "
            "the same org or enterprise, so the ratio is meaningful; the report lags the seats by days. Never sum "
            "it or its parts over orgs or the enterprise: a user counts in each.",
            (Query(f"max({usage('gh_copilot_usage_monthly_active_users')}) / max({SEATS_TOTAL})"),),
            kind=Kind.STAT,
            unit="percentunit",
            width=4,
            height=5,
        ),
        Panel(
            "Seats by last activity",
            "Age of each seat's last activity at collection: 1d, 7d, 28d, older, never (exclusive buckets). "
            "GitHub processes activity with up to 24 h delay.",
            (Query(sel("gh_copilot_seats_by_last_activity", ORG, SCOPE), "{{since}}"),),
            kind=Kind.BARGAUGE,
            width=6,
            height=5,
        ),
        Panel(
            "Seats by editor",
            "Editor of each seat's last activity (none when GitHub knows none); sums to the seats.",
            (Query(sel("gh_copilot_seats_by_editor", ORG, SCOPE), "{{editor}}"),),
            kind=Kind.BARGAUGE,
            width=6,
            height=5,
        ),
        Panel(
            "Seat breakdown",
            "The billing summary's seat_breakdown (orgs only; the enterprise has only kind=total).",
            (Query(sel("gh_copilot_seats", ORG, SCOPE), "{{kind}}"),),
            width=24,
        ),
    ),
)

ACTIVITY = Row(
    "Copilot activity (aggregate report)",
    (
        _additive(
            "Suggestions and acceptances",
            (
                ("gh_copilot_usage_code_generation_activity_count", "generated"),
                ("gh_copilot_usage_code_acceptance_activity_count", "accepted"),
                ("gh_copilot_usage_user_initiated_interaction_count", "prompts"),
            ),
        ),
        Panel(
            "Acceptance rate",
            "Accept actions divided by Copilot output events in the window. A ratio of two sums of the same "
            "window: valid per window, but never average it over orgs or days.",
            (
                Query(
                    f"sum({usage('gh_copilot_usage_code_acceptance_activity_count')}) / "
                    f"sum({usage('gh_copilot_usage_code_generation_activity_count')})"
                ),
            ),
            unit="percentunit",
        ),
        _additive(
            "Lines of code",
            (
                ("gh_copilot_usage_loc_suggested_to_add_sum", "suggested to add"),
                ("gh_copilot_usage_loc_added_sum", "added"),
                ("gh_copilot_usage_loc_deleted_sum", "deleted"),
            ),
            " Added lines include agent and edit mode; suggested lines exclude agent edits.",
        ),
        Panel(
            "Output events by IDE",
            ADDITIVE + " Only with copilot.include_breakdown_ide; CLI use has no IDE.",
            (
                Query(
                    sel(
                        "gh_copilot_usage_code_generation_activity_count",
                        ORG,
                        SCOPE,
                        WINDOW,
                        AGGREGATE,
                        'ide!=""',
                    ),
                    "{{ide}}",
                ),
            ),
            kind=Kind.BARGAUGE,
        ),
        _additive(
            "Copilot CLI",
            (
                ("gh_copilot_usage_cli_session_count", "sessions"),
                ("gh_copilot_usage_cli_request_count", "requests"),
                ("gh_copilot_usage_cli_prompt_count", "prompts"),
            ),
        ),
        _additive(
            "Copilot app and VS Code agent",
            (
                ("gh_copilot_usage_copilot_app_session_count", "app sessions"),
                ("gh_copilot_usage_copilot_app_request_count", "app requests"),
                ("gh_copilot_usage_vscode_agent_session_count", "VS Code agent sessions"),
            ),
        ),
        Panel(
            "Third-party agent sessions",
            ADDITIVE + " Per agent app (at most 25 per report).",
            (
                Query(
                    sel("gh_copilot_usage_third_party_agent_session_count", ORG, SCOPE, WINDOW, AGGREGATE),
                    "{{agent}}",
                ),
            ),
            kind=Kind.BARGAUGE,
        ),
        Panel(
            "Engaged users by AI adoption phase",
            DISTINCT + " Per phase GitHub assigns (No Cohort, Phase 1-3).",
            (
                Query(
                    sel("gh_copilot_usage_ai_adoption_phase_engaged_users", ORG, SCOPE, WINDOW, AGGREGATE),
                    "{{phase}}",
                ),
            ),
            kind=Kind.BARGAUGE,
        ),
        Panel(
            "Skills, slash commands, plugins, MCP",
            "Distinct items used on the newest day (each item once): not additive over days.",
            (
                Query(f"max({usage('gh_copilot_usage_distinct_skill_use_count')})", "skills"),
                Query(f"max({usage('gh_copilot_usage_distinct_slash_cmd_use_count')})", "slash commands"),
                Query(f"max({usage('gh_copilot_usage_distinct_plugin_use_count')})", "plugins"),
                Query(f"max({usage('gh_copilot_usage_distinct_mcp_use_count')})", "MCP servers"),
            ),
            kind=Kind.BARGAUGE,
        ),
    ),
)

PULL_REQUESTS = Row(
    "Pull requests and code review (aggregate report)",
    (
        _additive(
            "Pull requests",
            (
                ("gh_copilot_usage_pull_requests_total_created", "created"),
                ("gh_copilot_usage_pull_requests_total_created_by_copilot", "created by Copilot"),
                ("gh_copilot_usage_pull_requests_total_merged", "merged"),
                ("gh_copilot_usage_pull_requests_total_merged_created_by_copilot", "merged, by Copilot"),
            ),
            " Only with copilot.include_pull_request_activity.",
        ),
        _additive(
            "Reviews",
            (
                ("gh_copilot_usage_pull_requests_total_reviewed", "reviewed"),
                ("gh_copilot_usage_pull_requests_total_reviewed_by_copilot", "reviewed by Copilot"),
                (
                    "gh_copilot_usage_pull_requests_total_merged_reviewed_by_copilot",
                    "merged, Copilot-reviewed",
                ),
            ),
            " A pull request reviewed on several days counts on each of them.",
        ),
        _additive(
            "Review suggestions",
            (
                ("gh_copilot_usage_pull_requests_total_copilot_suggestions", "Copilot suggestions"),
                ("gh_copilot_usage_pull_requests_total_copilot_applied_suggestions", "Copilot, applied"),
                ("gh_copilot_usage_pull_requests_total_suggestions", "all suggestions"),
                ("gh_copilot_usage_pull_requests_total_applied_suggestions", "all, applied"),
            ),
        ),
        Panel(
            "Copilot review suggestions by comment type",
            ADDITIVE,
            (
                Query(
                    sel(
                        "gh_copilot_usage_pull_requests_copilot_suggestions_by_comment_type",
                        ORG,
                        SCOPE,
                        WINDOW,
                        AGGREGATE,
                    ),
                    "{{comment_type}}",
                ),
            ),
            kind=Kind.BARGAUGE,
        ),
        Panel(
            "Median minutes to merge (newest day)",
            "Medians of the newest report day only (window=1d whatever the window variable says): medians "
            "of different days cannot be combined, so never average or sum them. Absent on days without merges.",
            (
                Query(
                    sel("gh_copilot_usage_pull_requests_median_minutes_to_merge", ORG, SCOPE, 'window="1d"'),
                    "all",
                ),
                Query(
                    sel(
                        "gh_copilot_usage_pull_requests_median_minutes_to_merge_copilot_reviewed",
                        ORG,
                        SCOPE,
                        'window="1d"',
                    ),
                    "Copilot-reviewed",
                ),
            ),
            unit="m",
        ),
        Panel(
            "Code review users",
            DISTINCT
            + " Active: requested a Copilot review or applied a suggestion; passive: automatic reviews only.",
            (
                Query(
                    f"max({usage('gh_copilot_usage_monthly_active_copilot_code_review_users')})",
                    "monthly active",
                ),
                Query(
                    f"max({usage('gh_copilot_usage_monthly_passive_copilot_code_review_users')})",
                    "monthly passive",
                ),
            ),
        ),
    ),
)

PER_USER = (
    " From the per-user report of the org (scope users) or the enterprise (enterprise_users); values are "
    "kept apart per scope, since an enterprise slug can equal an org login and a user is in both reports. "
    "The user label follows copilot.user_label_mode (login, id, hashed or redacted)."
)


def top_users(metric: str) -> str:
    """The 15 largest per-user values of the window, per user and per-user scope (never added across them)."""
    return f"topk(15, sum by (user, scope) ({sel(metric, ORG, USERS_SCOPE, WINDOW, *totals(metric))}))"


TOP_USERS = Row(
    "Users (per-user report)",
    (
        Panel(
            "Top users by Copilot output",
            "The 15 users with the most output events in the window." + PER_USER,
            (Query(top_users("gh_copilot_usage_code_generation_activity_count"), "{{user}} ({{scope}})"),),
            kind=Kind.BARGAUGE,
            width=12,
            height=9,
        ),
        Panel(
            "Top users by AI credits",
            "ai_credits_used summed over the window per user: a metrics signal, not a billed amount."
            + PER_USER,
            (Query(top_users("gh_copilot_usage_ai_credits_used"), "{{user}} ({{scope}})"),),
            kind=Kind.BARGAUGE,
            width=12,
            height=9,
        ),
    ),
)

DASHBOARD = Dashboard(
    slug="copilot-adoption",
    uid="gse-copilot-adoption",
    title="GitHub Copilot adoption",
    description="Copilot usage-metrics reports and seats of one org or the enterprise (docs/dashboards.md).",
    variables=(
        SCOPE_VARIABLE,
        LabelVariable(
            "org",
            "Org or enterprise",
            sel("gh_copilot_usage_daily_active_users", SCOPE),
            "org",
            description="An org login, or the enterprise slug when the scope is enterprise.",
        ),
        WINDOW_VARIABLE,
    ),
    rows=(ACTIVE_USERS, SEATS, ACTIVITY, PULL_REQUESTS, TOP_USERS),
)
