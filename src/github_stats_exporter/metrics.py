"""The metric contract: every family the exporter can expose, with type, help, unit and labels.

This is the single place where names and label sets are declared; producers build samples
through `MetricSpec.sample`, which rejects label sets the contract does not allow. Families are
grouped by domain: activity, weekly LOC, Copilot usage, the GitHub client, collection state,
serving, the store, backfill and leader election. Nothing here does I/O or knows where values
come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from github_stats_exporter.model import Sample


class MetricType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family.

    ``name`` is the family name. For counters the exposed sample name is ``name + "_total"``.
    ``labels`` are required on every sample, in this order; ``optional_labels`` may be present.
    ``cluster_state`` marks a self-metric gauge that describes collection (the collectors' state, not
    this process): the leader publishes it through the store and every replica serves the stored
    value, never its own (docs/metrics.md, "Cluster state and per-process series").
    """

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    optional_labels: tuple[str, ...] = ()
    unit: str = ""
    cluster_state: bool = False

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.type is MetricType.COUNTER else self.name

    def sample(self, value: float, labels: Mapping[str, str] | None = None) -> Sample:
        """Build a sample, checking the label set against the contract."""
        given = dict(labels or {})
        missing = [k for k in self.labels if k not in given]
        unknown = [k for k in given if k not in self.labels and k not in self.optional_labels]
        if missing or unknown:
            msg = f"{self.name}: missing labels {missing}, unknown labels {unknown}"
            raise ValueError(msg)
        ordered = [(k, given[k]) for k in self.labels]
        ordered += [(k, given[k]) for k in self.optional_labels if k in given]
        return Sample(self.name, tuple(ordered), float(value))


def _gauge(name: str, help_: str, labels: tuple[str, ...] = (), **kw: object) -> MetricSpec:
    return MetricSpec(name, MetricType.GAUGE, help_, labels, **kw)  # type: ignore[arg-type]


def _counter(name: str, help_: str, labels: tuple[str, ...] = ()) -> MetricSpec:
    return MetricSpec(name, MetricType.COUNTER, help_, labels)


ORU = ("org", "repo", "user")

# --- Activity: business gauges (names and labels are the Go exporter's public contract) ---------------------
ACTIVITY_COMMITS = _gauge(
    "gh_activity_commits_24h", "Commits on the default branch in the rolling [now-24h, now) window.", ORU
)
ACTIVITY_PRS_OPENED = _gauge(
    "gh_activity_prs_opened_24h", "Pull requests opened by the user in the rolling 24h window.", ORU
)
ACTIVITY_PRS_MERGED = _gauge(
    "gh_activity_prs_merged_24h", "Pull requests authored by the user merged in the rolling 24h window.", ORU
)
ACTIVITY_REVIEWS = _gauge(
    "gh_activity_reviews_submitted_24h", "Pull request reviews submitted in the rolling 24h window.", ORU
)
ACTIVITY_ISSUE_COMMENTS = _gauge(
    "gh_activity_issue_comments_24h",
    "Issue and pull request conversation comments in the rolling 24h window.",
    ORU,
)
ACTIVITY_LAST_EVENT = _gauge(
    "gh_activity_last_event_unixtime", "Unix time of the user's newest counted event in the 24h window.", ORU
)

# --- Activity: collector self-metrics -----------------------------------------------------------------------
ACTIVITY_REPOS = _gauge(
    "gh_exporter_activity_repos",
    "Repositories selected for activity collection in the org's last listing (allowlist, archived rule).",
    ("org",),
    cluster_state=True,
)
ACTIVITY_REPOS_FAILING = _gauge(
    "gh_exporter_activity_repos_failing",
    "Repositories whose last activity collection failed after retries (their previous snapshot is kept).",
    ("org",),
    cluster_state=True,
)
ACTIVITY_REPO_FAILURES = _counter(
    "gh_exporter_activity_repo_failures",
    "Activity fetches of a repository that failed after retries, by stream; each records a missed window.",
    ("org", "stream"),
)
ACTIVITY_LEDGER_EVENTS = _gauge(
    "gh_exporter_activity_ledger_events",
    "Events held in the org's per-repo activity ledgers (last 24h plus a margin).",
    ("org",),
    cluster_state=True,
)
# Named after GitHub responses, but counted by the activity collector for the items it skips.
GITHUB_MALFORMED_ITEMS = _counter(
    "gh_exporter_github_malformed_items",
    "Items of GitHub responses that could not be parsed and were skipped.",
    ("org", "endpoint"),
)

# --- Weekly LOC: business gauges (Go exporter's public contract) --------------------------------------------
ACTIVITY_LOC_ADDED = _gauge(
    "gh_activity_loc_added_weekly", "Lines added in the latest complete week (Sunday 00:00 UTC start).", ORU
)
ACTIVITY_LOC_REMOVED = _gauge(
    "gh_activity_loc_removed_weekly",
    "Lines removed in the latest complete week (Sunday 00:00 UTC start).",
    ORU,
)

# --- Weekly LOC: collector self-metrics ---------------------------------------------------------------------
# The first three are Go-compatible names; the two per-repo gauges live in the LOC snapshots (shared
# store), so every replica serves the same values.
LOC_SOURCE_MODE = _gauge(
    "gh_exporter_loc_source_mode",
    "1 for the source of the repository's weekly LOC values (stats_contributors or sampled_commit_stats), else 0.",
    ("org", "repo", "mode"),
)
LOC_FALLBACK_INCOMPLETE = _gauge(
    "gh_exporter_loc_fallback_incomplete",
    "1 when the repository's weekly LOC values are partial (commit sampling cut short by its caps), else 0.",
    ("org", "repo"),
)
LOC_FALLBACK_BUDGET_EXHAUSTED = _counter(
    "gh_exporter_loc_fallback_budget_exhausted",
    "Commit-sampling refreshes cut short by the org's hourly commit-detail budget.",
    ("org",),
)
LOC_REFRESHES = _counter(
    "gh_exporter_loc_refreshes",
    "Weekly LOC refresh attempts per repository by result (stats_contributors, sampled_commit_stats, "
    "unchanged_idle, held_zeroed, warming, empty, failed).",
    ("org", "result"),
)
LOC_REPOS_WARMING = _gauge(
    "gh_exporter_loc_repos_warming",
    "Repositories whose contributor statistics GitHub was still computing (202) after the org's last LOC pass.",
    ("org",),
    cluster_state=True,
)
LOC_REPOS_FAILED = _gauge(
    "gh_exporter_loc_repos_failed",
    "Repositories whose last LOC refresh failed after retries (they keep their previous values).",
    ("org",),
    cluster_state=True,
)
LOC_MALFORMED_ITEMS = _counter(
    "gh_exporter_loc_malformed_items",
    "Malformed items in stats/contributors, commit listings or commit details that were skipped.",
    ("org", "endpoint"),
)

# --- Copilot usage: business gauges (report values are window totals, not local counters) -------------------
COPILOT_LABELS = ORU
COPILOT_OPTIONAL = ("scope", "window", "feature", "ide", "language", "model", "chat_mode", "day")


def _copilot(name: str, help_: str) -> MetricSpec:
    return _gauge(name, help_, COPILOT_LABELS, optional_labels=COPILOT_OPTIONAL)


COPILOT_INTERACTIONS = _copilot(
    "gh_copilot_usage_user_initiated_interaction_count", "Prompts users explicitly sent to Copilot."
)
COPILOT_CODE_GENERATION = _copilot(
    "gh_copilot_usage_code_generation_activity_count", "Copilot output events (suggestions, code blocks)."
)
COPILOT_CODE_ACCEPTANCE = _copilot(
    "gh_copilot_usage_code_acceptance_activity_count", "Accept actions on Copilot output."
)
COPILOT_LOC_SUGGESTED_ADD = _copilot(
    "gh_copilot_usage_loc_suggested_to_add_sum", "Lines Copilot suggested to add."
)
COPILOT_LOC_SUGGESTED_DELETE = _copilot(
    "gh_copilot_usage_loc_suggested_to_delete_sum", "Lines Copilot suggested to delete."
)
COPILOT_LOC_ADDED = _copilot("gh_copilot_usage_loc_added_sum", "Lines added through Copilot.")
COPILOT_LOC_DELETED = _copilot("gh_copilot_usage_loc_deleted_sum", "Lines deleted through Copilot.")
COPILOT_PRS_CREATED = _copilot(
    "gh_copilot_usage_pull_requests_total_created", "Pull requests created (aggregate reports)."
)
COPILOT_PRS_REVIEWED = _copilot(
    "gh_copilot_usage_pull_requests_total_reviewed", "Pull requests reviewed (aggregate reports)."
)
COPILOT_PRS_CREATED_BY_COPILOT = _copilot(
    "gh_copilot_usage_pull_requests_total_created_by_copilot", "Pull requests created by Copilot."
)
COPILOT_PRS_REVIEWED_BY_COPILOT = _copilot(
    "gh_copilot_usage_pull_requests_total_reviewed_by_copilot", "Pull requests reviewed by Copilot."
)

# --- Copilot usage: business gauges beyond the Go exporter's eleven -----------------------------------------
# Aggregate reports; the additive ones also per user.
COPILOT_PRS_MERGED = _copilot(
    "gh_copilot_usage_pull_requests_total_merged", "Pull requests merged (aggregate reports)."
)
COPILOT_PRS_MERGED_CREATED_BY_COPILOT = _copilot(
    "gh_copilot_usage_pull_requests_total_merged_created_by_copilot",
    "Pull requests created by Copilot that were merged (aggregate reports).",
)
COPILOT_CLI_SESSIONS = _copilot("gh_copilot_usage_cli_session_count", "Copilot CLI sessions.")
COPILOT_CLI_REQUESTS = _copilot(
    "gh_copilot_usage_cli_request_count", "Copilot CLI requests, including automated agent follow-ups."
)
COPILOT_CLI_PROMPTS = _copilot("gh_copilot_usage_cli_prompt_count", "Prompts users sent in the Copilot CLI.")
COPILOT_DAILY_ACTIVE_USERS = _copilot(
    "gh_copilot_usage_daily_active_users", "Distinct Copilot users on the newest day of the report."
)
COPILOT_WEEKLY_ACTIVE_USERS = _copilot(
    "gh_copilot_usage_weekly_active_users", "Distinct Copilot users in the 7 days ending on the newest day."
)
COPILOT_MONTHLY_ACTIVE_USERS = _copilot(
    "gh_copilot_usage_monthly_active_users", "Distinct Copilot users in the 28 days ending on the newest day."
)
COPILOT_MONTHLY_ACTIVE_CHAT_USERS = _copilot(
    "gh_copilot_usage_monthly_active_chat_users",
    "Distinct Copilot Chat users in the 28 days ending on the newest day.",
)
COPILOT_MONTHLY_ACTIVE_AGENT_USERS = _copilot(
    "gh_copilot_usage_monthly_active_agent_users",
    "Distinct IDE agent-mode users in the 28 days ending on the newest day.",
)
COPILOT_DAILY_ACTIVE_CLI_USERS = _copilot(
    "gh_copilot_usage_daily_active_cli_users", "Distinct Copilot CLI users on the newest day of the report."
)

# --- Copilot seats: business gauges (the licence census of `…/copilot/billing[/seats]`) ----------------------
# `scope` is `org` or `enterprise`: an enterprise slug often equals an org login (as for gh_copilot_usage_*).
COPILOT_SEATS = _gauge(
    "gh_copilot_seats",
    "Copilot seats of the current billing cycle by kind (the fields of seat_breakdown).",
    ("org", "scope", "kind"),
)
COPILOT_SEATS_BY_LAST_ACTIVITY = _gauge(
    "gh_copilot_seats_by_last_activity",
    "Copilot seats by the age of their last activity (exclusive buckets 1d, 7d, 28d, older, never).",
    ("org", "scope", "since"),
)
COPILOT_SEATS_BY_EDITOR = _gauge(
    "gh_copilot_seats_by_editor",
    "Copilot seats by the editor of their last activity (none when GitHub knows none).",
    ("org", "scope", "editor"),
)
COPILOT_SEATS_BY_PLAN = _gauge(
    "gh_copilot_seats_by_plan", "Copilot seats by plan type.", ("org", "scope", "plan_type")
)
COPILOT_SEAT_LAST_ACTIVITY = _gauge(
    "gh_copilot_seat_last_activity_unixtime",
    "Unix time of the seat holder's last Copilot activity (only with copilot.include_seat_users).",
    ("org", "scope", "user"),
)

# --- Copilot usage: fields GitHub added in 2026 (docs/metrics.md, "Copilot usage: 2026 fields") ---------------
# No breakdown labels on these; a keyed family has its one extra label between `window` and `day`.
COPILOT_OPTIONAL_2026 = ("scope", "window", "day")


def _copilot_keyed(name: str, help_: str, label: str) -> MetricSpec:
    return _gauge(name, help_, COPILOT_LABELS, optional_labels=("scope", "window", label, "day"))


def _copilot_2026(name: str, help_: str) -> MetricSpec:
    return _gauge(name, help_, COPILOT_LABELS, optional_labels=COPILOT_OPTIONAL_2026)


# Distinct-user counts and distinct-item counts of aggregate days: the newest day's value.
COPILOT_DAY_GAUGES_2026: tuple[MetricSpec, ...] = tuple(
    _copilot_2026(f"gh_copilot_usage_{field}", help_)
    for field, help_ in (
        ("daily_active_copilot_cloud_agent_users", "Distinct Copilot cloud agent users on the newest day."),
        (
            "weekly_active_copilot_cloud_agent_users",
            "Distinct cloud agent users in the 7 days ending on the newest day.",
        ),
        (
            "monthly_active_copilot_cloud_agent_users",
            "Distinct cloud agent users in the 28 days ending on the newest day.",
        ),
        (
            "daily_active_copilot_code_review_users",
            "Users who engaged with Copilot code review on the newest day.",
        ),
        (
            "weekly_active_copilot_code_review_users",
            "Users who engaged with Copilot code review in the trailing 7 days.",
        ),
        (
            "monthly_active_copilot_code_review_users",
            "Users who engaged with Copilot code review in the trailing 28 days.",
        ),
        (
            "daily_passive_copilot_code_review_users",
            "Users with only automatic Copilot reviews on the newest day.",
        ),
        (
            "weekly_passive_copilot_code_review_users",
            "Users with only automatic Copilot reviews in the trailing 7 days.",
        ),
        (
            "monthly_passive_copilot_code_review_users",
            "Users with only automatic Copilot reviews in the trailing 28 days.",
        ),
        ("daily_active_copilot_app_users", "Distinct GitHub Copilot app users on the newest day."),
        ("daily_active_vscode_agent_users", "Distinct users of the VS Code Agents window on the newest day."),
        ("distinct_skill_use_count", "Different CLI skills used on the newest day."),
        ("distinct_slash_cmd_use_count", "Different CLI slash commands used on the newest day."),
        ("distinct_plugin_use_count", "Different CLI plugins used on the newest day."),
        ("distinct_custom_agent_use_count", "Different custom agents used on the newest day."),
        ("distinct_mcp_use_count", "Different MCP servers used on the newest day."),
    )
)
COPILOT_CLI_OUTPUT_TOKENS = _copilot_2026(
    "gh_copilot_usage_cli_output_tokens_sum", "Output tokens of Copilot CLI requests."
)
COPILOT_CLI_PROMPT_TOKENS = _copilot_2026(
    "gh_copilot_usage_cli_prompt_tokens_sum", "Prompt tokens of Copilot CLI requests."
)
COPILOT_APP_SESSIONS = _copilot_2026(
    "gh_copilot_usage_copilot_app_session_count", "GitHub Copilot app sessions."
)
COPILOT_APP_REQUESTS = _copilot_2026(
    "gh_copilot_usage_copilot_app_request_count", "GitHub Copilot app requests."
)
COPILOT_APP_PROMPTS = _copilot_2026(
    "gh_copilot_usage_copilot_app_prompt_count", "Prompts users sent in the GitHub Copilot app."
)
COPILOT_APP_OUTPUT_TOKENS = _copilot_2026(
    "gh_copilot_usage_copilot_app_output_tokens_sum", "Output tokens of GitHub Copilot app requests."
)
COPILOT_APP_PROMPT_TOKENS = _copilot_2026(
    "gh_copilot_usage_copilot_app_prompt_tokens_sum", "Prompt tokens of GitHub Copilot app requests."
)
COPILOT_VSCODE_AGENT_SESSIONS = _copilot_2026(
    "gh_copilot_usage_vscode_agent_session_count", "Sessions in the VS Code Agents window."
)
COPILOT_VSCODE_AGENT_MESSAGES = _copilot_2026(
    "gh_copilot_usage_vscode_agent_total_user_messages", "User messages sent in the VS Code Agents window."
)
COPILOT_AI_CREDITS = _copilot_2026(
    "gh_copilot_usage_ai_credits_used",
    "AI credits the user consumed (users reports; a metrics signal, not a bill).",
)
COPILOT_PRS_SUGGESTIONS = _copilot_2026(
    "gh_copilot_usage_pull_requests_total_suggestions",
    "Review suggestions generated on pull requests, any author.",
)
COPILOT_PRS_APPLIED_SUGGESTIONS = _copilot_2026(
    "gh_copilot_usage_pull_requests_total_applied_suggestions", "Review suggestions applied, any author."
)
COPILOT_PRS_COPILOT_SUGGESTIONS = _copilot_2026(
    "gh_copilot_usage_pull_requests_total_copilot_suggestions", "Review suggestions generated by Copilot."
)
COPILOT_PRS_COPILOT_APPLIED_SUGGESTIONS = _copilot_2026(
    "gh_copilot_usage_pull_requests_total_copilot_applied_suggestions", "Copilot review suggestions applied."
)
COPILOT_PRS_MERGED_REVIEWED_BY_COPILOT = _copilot_2026(
    "gh_copilot_usage_pull_requests_total_merged_reviewed_by_copilot",
    "Merged pull requests that Copilot code review reviewed.",
)
COPILOT_PRS_MEDIANS: tuple[MetricSpec, ...] = tuple(
    _copilot_2026(f"gh_copilot_usage_pull_requests_{field}", help_)
    for field, help_ in (
        ("median_minutes_to_merge", "Median minutes from creation to merge of PRs merged on the newest day."),
        (
            "median_minutes_to_merge_copilot_authored",
            "Median minutes to merge of Copilot-created PRs merged on the newest day.",
        ),
        (
            "median_minutes_to_merge_copilot_reviewed",
            "Median minutes to merge of Copilot-reviewed PRs merged on the newest day.",
        ),
    )
)
COPILOT_PRS_SUGGESTIONS_BY_COMMENT_TYPE = _copilot_keyed(
    "gh_copilot_usage_pull_requests_copilot_suggestions_by_comment_type",
    "Copilot review suggestions per comment type.",
    "comment_type",
)
COPILOT_PRS_APPLIED_SUGGESTIONS_BY_COMMENT_TYPE = _copilot_keyed(
    "gh_copilot_usage_pull_requests_copilot_applied_suggestions_by_comment_type",
    "Applied Copilot review suggestions per comment type.",
    "comment_type",
)
COPILOT_THIRD_PARTY_AGENT_INTERACTIONS = _copilot_keyed(
    "gh_copilot_usage_third_party_agent_user_initiated_interaction_count",
    "Third-party agent app job starts per agent (not the top-level interaction count).",
    "agent",
)
COPILOT_THIRD_PARTY_AGENT_SESSIONS = _copilot_keyed(
    "gh_copilot_usage_third_party_agent_session_count",
    "Third-party agent app sessions per agent (aggregate reports).",
    "agent",
)
COPILOT_PHASE_ENGAGED_USERS = _copilot_keyed(
    "gh_copilot_usage_ai_adoption_phase_engaged_users",
    "Users in the AI adoption phase on the newest day.",
    "phase",
)
COPILOT_PHASE_PRS_MERGED = _copilot_keyed(
    "gh_copilot_usage_ai_adoption_phase_total_pull_requests_merged",
    "Pull requests merged by users in the AI adoption phase.",
    "phase",
)
COPILOT_PHASE_AVERAGES: tuple[MetricSpec, ...] = tuple(
    _copilot_keyed(
        f"gh_copilot_usage_ai_adoption_phase_{field}",
        f"Per-user average {what} of the phase, newest day.",
        "phase",
    )
    for field, what in (
        ("avg_user_initiated_interactions", "prompts"),
        ("avg_code_generation_activities", "output events"),
        ("avg_code_acceptance_activities", "accept actions"),
        ("avg_loc_added", "lines added"),
        ("avg_loc_deleted", "lines deleted"),
        ("avg_pull_requests_reviewed", "pull requests reviewed"),
        ("avg_pull_requests_created", "pull requests created"),
        ("avg_pull_requests_merged", "pull requests merged"),
        ("avg_pull_requests_median_minutes_to_merge", "median minutes to merge"),
    )
)

# --- Copilot teams: business gauges (users-1-day joined day by day with user-teams-1-day) --------------------
# `team` is the team slug; `scope` is `org` or `enterprise`; `window` is `28d` (the days of the latest 28-day
# users report) or `1d` (its newest day). A user in two teams counts in both; teams GitHub leaves out (fewer
# than five seated users that day) have no series for that day.
COPILOT_TEAM_LABELS = ("org", "team", "scope", "window")


def _team(name: str, help_: str) -> MetricSpec:
    return _gauge(name, help_, COPILOT_TEAM_LABELS)


COPILOT_TEAM_INTERACTIONS = _team(
    "gh_copilot_team_user_initiated_interaction_count", "Prompts the team's members sent to Copilot."
)
COPILOT_TEAM_CODE_GENERATION = _team(
    "gh_copilot_team_code_generation_activity_count", "Copilot output events of the team's members."
)
COPILOT_TEAM_CODE_ACCEPTANCE = _team(
    "gh_copilot_team_code_acceptance_activity_count", "Accept actions of the team's members."
)
COPILOT_TEAM_LOC_SUGGESTED_ADD = _team(
    "gh_copilot_team_loc_suggested_to_add_sum", "Lines Copilot suggested the team's members add."
)
COPILOT_TEAM_LOC_SUGGESTED_DELETE = _team(
    "gh_copilot_team_loc_suggested_to_delete_sum", "Lines Copilot suggested the team's members delete."
)
COPILOT_TEAM_LOC_ADDED = _team(
    "gh_copilot_team_loc_added_sum", "Lines the team's members added through Copilot."
)
COPILOT_TEAM_LOC_DELETED = _team(
    "gh_copilot_team_loc_deleted_sum", "Lines the team's members deleted through Copilot."
)
COPILOT_TEAM_AI_CREDITS = _team(
    "gh_copilot_team_ai_credits_used", "AI credits the team's members used (a metrics signal, not a bill)."
)
COPILOT_TEAM_ACTIVE_USERS = _team(
    "gh_copilot_team_active_users", "Distinct members of the team with a users-report row in the window."
)

# --- Copilot repositories: review-stage durations of `repos-1-day` (its pull_requests fields reuse the
# gh_copilot_usage_pull_requests_* families with scope="repository" or "enterprise_repository") ---------------
COPILOT_REPO_REVIEW_MINUTES = _gauge(
    "gh_copilot_repo_review_minutes",
    "Minutes a review stage took for human-authored, human-reviewed pull requests merged on the newest day "
    "(median or p90).",
    ("org", "repo", "scope", "stage", "quantile", "authored_by", "reviewed_by"),
)

# --- Copilot usage: collector self-metrics ------------------------------------------------------------------
COPILOT_SCRAPE_RUNS = _counter(
    "gh_exporter_copilot_scrape_runs",
    "Copilot report collections by outcome (success, partial, skipped_*, *_error).",
    ("org", "scope", "result"),
)
COPILOT_REPORT_DOWNLOADS = _counter(
    "gh_exporter_copilot_report_download",
    "Signed report-file downloads by outcome (success, failure, expired).",
    ("org", "scope", "result"),
)
COPILOT_RECORDS_PARSED = _counter(
    "gh_exporter_copilot_records_parsed",
    "Report records decoded (user rows and aggregate days).",
    ("org", "scope"),
)
COPILOT_RECORDS_DROPPED = _counter(
    "gh_exporter_copilot_records_dropped",
    "Report records not exported, by reason (max_records_per_report, max_users_per_report, parse_error).",
    ("org", "scope", "reason"),
)
COPILOT_LABEL_VALUES_DROPPED = _counter(
    "gh_exporter_copilot_label_values_dropped",
    "Report elements not exported because their agent, comment_type or phase value was over the per-report cap.",
    ("org", "scope", "label"),
)
COPILOT_LAST_SUCCESS = _gauge(
    "gh_exporter_copilot_last_success_unixtime",
    "Unix time of the last complete collection of the report.",
    ("org", "scope"),
    cluster_state=True,
)
COPILOT_REPORT_STALENESS = _gauge(
    "gh_exporter_copilot_report_staleness_seconds",
    "Seconds between now and the start (00:00 UTC) of the newest day of the last collected report.",
    ("org", "scope"),
    unit="seconds",
    cluster_state=True,
)

COPILOT_SEAT_COLLECTIONS = _counter(
    "gh_exporter_copilot_seat_collections",
    "Copilot seat collections by outcome (success, unchanged, truncated, fetch_error, store_error).",
    ("org", "scope", "result"),
)
COPILOT_SEAT_RECORDS_DROPPED = _counter(
    "gh_exporter_copilot_seat_records_dropped",
    "Seat objects not counted, by reason (malformed, duplicate).",
    ("org", "scope", "reason"),
)
COPILOT_SEATS_LAST_SUCCESS = _gauge(
    "gh_exporter_copilot_seats_last_success_unixtime",
    "Unix time of the last complete collection of the Copilot seats.",
    ("org", "scope"),
    cluster_state=True,
)

# --- GitHub client: requests, retries and the rate-limit budget ---------------------------------------------
GITHUB_REQUESTS = _counter(
    "gh_exporter_github_requests",
    "HTTP requests sent to GitHub (every attempt and page), by logical endpoint and status class.",
    ("org", "endpoint", "status_class"),
)
GITHUB_RETRIES = _counter(
    "gh_exporter_github_retries", "GitHub requests retried, by reason.", ("org", "endpoint", "reason")
)
GITHUB_SECONDARY_LIMIT_HITS = _counter(
    "gh_exporter_github_secondary_limit_hits",
    "Secondary rate-limit responses (403/429) from GitHub.",
    ("org",),
)
GITHUB_RATE_LIMIT_WAITS = _counter(
    "gh_exporter_github_rate_limit_waits", "Pauses taken to protect the rate-limit budget.", ("org", "reason")
)
GITHUB_RATE_LIMIT_WAIT_SECONDS = _counter(
    "gh_exporter_github_rate_limit_wait_seconds", "Seconds spent paused for rate limits.", ("org",)
)


def _rate_limit_gauge(name: str, help_: str) -> MetricSpec:
    """A gauge read from the ``x-ratelimit-*`` headers, per installation and resource (cluster state)."""
    return _gauge(name, help_, ("org", "installation_id"), optional_labels=("resource",), cluster_state=True)


GITHUB_RATE_LIMIT_REMAINING = _rate_limit_gauge(
    "gh_exporter_github_rate_limit_remaining",
    "Requests left in the current rate-limit window, from the newest response headers.",
)
GITHUB_RATE_LIMIT_REMAINING_COMPAT = _rate_limit_gauge(
    "gh_app_rate_limit_remaining",
    "Deprecated alias of gh_exporter_github_rate_limit_remaining (Go exporter compatibility).",
)
GITHUB_RATE_LIMIT_LIMIT = _rate_limit_gauge(
    "gh_exporter_github_rate_limit_limit", "Size of the rate-limit window (requests per hour)."
)
GITHUB_RATE_LIMIT_RESET = _rate_limit_gauge(
    "gh_exporter_github_rate_limit_reset_unixtime", "Unix time the current rate-limit window resets."
)
GITHUB_ETAG_HITS = _counter(
    "gh_exporter_github_conditional_hits",
    "Conditional requests answered 304 (free for the primary limit).",
    ("org", "endpoint"),
)
GITHUB_ETAG_EVICTIONS = _counter(
    "gh_exporter_github_etag_cache_evictions",
    "Entries the org's ETag cache dropped to stay within its bound (github.etag_cache_entries).",
    ("org",),
)
GITHUB_SHARED_ETAG_LOOKUPS = _counter(
    "gh_exporter_github_shared_etag_lookups",
    "Lookups of the ETags replicas share through the store, by result (hit, same, miss, skipped).",
    ("org", "result"),
)

# --- Collection state: cycles and their health --------------------------------------------------------------
SCRAPE_RUNS = _counter("gh_exporter_scrape_runs", "Collection cycles per org by result.", ("org", "result"))
SCRAPE_DURATION = _gauge(
    "gh_exporter_scrape_duration_seconds",
    "Duration of the org's last collection cycle.",
    ("org",),
    unit="seconds",
    cluster_state=True,
)
LEADER_CYCLE_LAST_RUN = _gauge(
    "gh_exporter_leader_cycle_last_run_unixtime",
    "Unix time the leader last finished a collection cycle.",
    cluster_state=True,
)
COLLECTION_HEALTH = _gauge(
    "gh_exporter_collection_health",
    "1 when the cluster's last collection of the component (activity:<org>, loc:<org>, Copilot reports) "
    "succeeded, else 0; published by the leader, served by every replica.",
    ("component",),
    cluster_state=True,
)

# --- Serving: build, HTTP, health and the page cache --------------------------------------------------------
BUILD_INFO = _gauge(
    "gh_exporter_build_info",
    "Always 1; labels carry the exporter and Python versions.",
    ("version", "python"),
)
HTTP_REQUESTS = _counter(
    "gh_exporter_http_requests", "Requests served by this process's HTTP server.", ("path", "code")
)
READY = _gauge(
    "gh_exporter_ready",
    "1 while this process is ready (its /readyz verdict: a rendered page, live, not draining, required "
    "components healthy), else 0.",
)
DEPENDENCY_HEALTH = _gauge(
    "gh_exporter_dependency_health",
    "1 when a dependency of this process (store, queue, GitHub probe, page cache) is healthy, else 0.",
    ("dependency",),
)
SERIES_LOADED = _gauge(
    "gh_exporter_metrics_series_loaded", "Series in the rendered exposition, per metric family.", ("metric",)
)
CACHE_REFRESH_DURATION = _gauge(
    "gh_exporter_metrics_cache_refresh_duration_seconds",
    "Duration of the last exposition cache refresh.",
    unit="seconds",
)
WEB_CONFIG_RELOAD_OK = _gauge(
    "gh_exporter_web_config_last_reload_successful",
    "1 when this process's last load of server.web_config_file succeeded, 0 while it serves an older one.",
)

# --- Store --------------------------------------------------------------------------------------------------
STORE_SERIES = _gauge(
    "gh_exporter_store_series",
    "Series held by all snapshots in the store (the number store.max_series_budget limits).",
)
STORE_SERIES_REFUSED = _counter(
    "gh_exporter_store_series_refused",
    "New series refused because they would exceed store.max_series_budget, by snapshot kind.",
    ("kind",),
)
STORE_FLUSH_FAILURES = _counter(
    "gh_exporter_store_flush_failures",
    "Failed attempts to add this process's counter increments to the store's shared totals.",
)
STORE_SERIES_BUDGET = _gauge(
    "gh_exporter_store_series_budget",
    "The store.max_series_budget this process enforces (0: no limit); compare with gh_exporter_store_series.",
)
# Per process, unlike the failures counter above: that counter travels through the store, so while
# flushes fail it cannot reach the shared totals that every replica serves (docs/runbook.md).
STORE_FLUSH_FAILING = _gauge(
    "gh_exporter_store_flush_failing_seconds",
    "Seconds since this process's first failed counter flush that has not been followed by a successful "
    "one; 0 while flushes succeed.",
    unit="seconds",
)

# --- Backfill and its queue ---------------------------------------------------------------------------------
BACKFILL_ENQUEUED = _counter(
    "gh_exporter_backfill_jobs_enqueued",
    "Backfill jobs published to the queue (broker-confirmed), by missed-window reason.",
    ("org", "reason"),
)
BACKFILL_DEDUPED = _counter(
    "gh_exporter_backfill_jobs_deduped",
    "Backfill jobs not published because the same window was enqueued within backfill.dedup_ttl.",
    ("org", "reason"),
)
BACKFILL_DROPPED = _counter(
    "gh_exporter_backfill_enqueues_dropped",
    "Backfill enqueues held back or given up: org_rate_cap (retried next sweep), expired, "
    "pending_overflow, future_window.",
    ("org", "reason"),
)
BACKFILL_PROCESSED = _counter(
    "gh_exporter_backfill_jobs_processed",
    "Backfill messages handled by this replica's workers, by job kind and result.",
    ("org", "kind", "result"),
)
QUEUE_DEPTH = _gauge(
    "gh_exporter_queue_depth",
    "Messages waiting in the queue (ready, not in flight).",
    ("queue",),
    cluster_state=True,
)
QUEUE_OLDEST_AGE = _gauge(
    "gh_exporter_queue_oldest_message_age_seconds",
    "Age of the oldest message waiting in the work queue (0 when empty).",
    ("queue",),
    unit="seconds",
    cluster_state=True,
)
QUEUE_DLQ_DEPTH = _gauge(
    "gh_exporter_queue_dlq_depth",
    "Messages in the dead-letter queue (jobs that cannot succeed).",
    ("queue",),
    cluster_state=True,
)

# --- Leader election ----------------------------------------------------------------------------------------
IS_LEADER = _gauge("gh_exporter_leader", "1 on the replica that currently runs scheduled collection.")
LEADER_TRANSITIONS = _counter(
    "gh_exporter_leader_transitions",
    "Times this replica became the leader (acquired the lease).",
)
LEADER_ELECTION_ERRORS = _counter(
    "gh_exporter_leader_election_errors",
    "Failed lease attempts, by reason; the elector retries on leader_election.retry_period.",
    ("reason",),
)
SHARD_UNITS_HELD = _gauge(
    "gh_exporter_shard_units_held", "Work units of sharded collection this replica holds (0 in single mode)."
)
SHARD_UNIT_EPOCH = _gauge(
    "gh_exporter_shard_unit_epoch",
    "Fencing epoch of each leased work unit of sharded collection, by the replica that holds it.",
    ("unit", "replica"),
    cluster_state=True,
)


PER_PROCESS: frozenset[str] = frozenset(
    {
        BUILD_INFO.name,
        IS_LEADER.name,
        SHARD_UNITS_HELD.name,
        READY.name,
        DEPENDENCY_HEALTH.name,
        CACHE_REFRESH_DURATION.name,
        WEB_CONFIG_RELOAD_OK.name,
        STORE_FLUSH_FAILING.name,
    }
)
"""Families whose values legitimately differ between replicas: facts about the answering process.
Everything else on the page is the same on every replica of a cluster (docs/metrics.md)."""

FAMILIES: dict[str, MetricSpec] = {
    spec.name: spec
    for value in list(globals().values())
    # A tuple of specs declares a table of families (e.g. COPILOT_DAY_GAUGES_2026).
    for spec in (value if isinstance(value, tuple) else (value,))
    if isinstance(spec, MetricSpec)
}
"""Every family by name. The renderer uses it for TYPE/HELP/UNIT and family order."""


def spec_for(name: str) -> MetricSpec:
    """Look a family up by name; unknown names are a programming error."""
    try:
        return FAMILIES[name]
    except KeyError:
        msg = f"metric family {name!r} is not in the contract (metrics.py)"
        raise KeyError(msg) from None
