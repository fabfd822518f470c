"""Streaming parser for Copilot report files: NDJSON (one record per line) or a JSON array, chunk by chunk.

Records are decoded with msgspec into typed structs holding only the fields the exporter maps; unknown
keys are skipped, absent keys take defaults, and a line that does not decode is counted (``dropped``)
and skipped, never raised. Memory stays bounded by one line plus one chunk; the JSON-array form (seen
only in documentation examples) is the exception and is buffered whole. No I/O, no metrics here.
"""

from __future__ import annotations

import msgspec

from github_stats_exporter.scrape.report_rows import RowParser

Number = int | float
# gc=False on every struct: decoded records never form reference cycles, and leaving them out of the
# cyclic collector's bookkeeping makes the hot decode path measurably faster.


class Counters(msgspec.Struct, kw_only=True, gc=False):
    """The seven activity counters every user row, aggregate day and breakdown element carries."""

    user_initiated_interaction_count: Number | None = None
    code_generation_activity_count: Number | None = None
    code_acceptance_activity_count: Number | None = None
    loc_suggested_to_add_sum: Number | None = None
    loc_suggested_to_delete_sum: Number | None = None
    loc_added_sum: Number | None = None
    loc_deleted_sum: Number | None = None


COUNTER_FIELDS = tuple(Counters.__struct_fields__)


class Breakdown(msgspec.Struct, kw_only=True, gc=False):
    """One element of a ``totals_by_*`` array: ``value``, the value of its dimension, and its counters.

    Each array decodes into its own subclass, which reads ``value`` from that array's dimension key
    (``ide``, ``feature``, ``language``, ``model``), so the mapper sums every array with one loop.
    Every other key of the element (the ``feature`` of the language and model arrays, version objects)
    is skipped unparsed, so decoding builds no string and fills no default the mapper would not use.
    The fields are declared in the order GitHub writes the keys (dimension first, then the counters
    as in `Counters`): msgspec looks a key up from the field after the last one matched, so keys in
    declared order are found at the first comparison (docs/benchmarks.md, "Copilot report parsing").
    """

    value: str | None = None
    user_initiated_interaction_count: Number | None = None
    code_generation_activity_count: Number | None = None
    code_acceptance_activity_count: Number | None = None
    loc_suggested_to_add_sum: Number | None = None
    loc_suggested_to_delete_sum: Number | None = None
    loc_added_sum: Number | None = None
    loc_deleted_sum: Number | None = None


class IdeBreakdown(Breakdown, kw_only=True, gc=False):
    """An element of ``totals_by_ide``."""

    value: str | None = msgspec.field(default=None, name="ide")

    @property
    def ide(self) -> str | None:
        return self.value


class FeatureBreakdown(Breakdown, kw_only=True, gc=False):
    """An element of ``totals_by_feature``."""

    value: str | None = msgspec.field(default=None, name="feature")

    @property
    def feature(self) -> str | None:
        return self.value


class LanguageBreakdown(Breakdown, kw_only=True, gc=False):
    """An element of ``totals_by_language_feature`` (summed over features by the mapper)."""

    value: str | None = msgspec.field(default=None, name="language")

    @property
    def language(self) -> str | None:
        return self.value


class ModelBreakdown(Breakdown, kw_only=True, gc=False):
    """An element of ``totals_by_model_feature`` (summed over features by the mapper)."""

    value: str | None = msgspec.field(default=None, name="model")

    @property
    def model(self) -> str | None:
        return self.value


class CommentType(msgspec.Struct, kw_only=True, gc=False):
    """One element of ``pull_requests.copilot_suggestions_by_comment_type``."""

    comment_type: str | None = None
    total_copilot_suggestions: Number | None = None
    total_copilot_applied_suggestions: Number | None = None


class PullRequests(msgspec.Struct, kw_only=True, gc=False):
    """An aggregate day's ``pull_requests`` object: additive totals, the day's medians, comment types."""

    total_created: Number | None = None
    total_reviewed: Number | None = None
    total_created_by_copilot: Number | None = None
    total_reviewed_by_copilot: Number | None = None
    total_merged: Number | None = None
    total_merged_created_by_copilot: Number | None = None
    total_suggestions: Number | None = None
    total_applied_suggestions: Number | None = None
    total_copilot_suggestions: Number | None = None
    total_copilot_applied_suggestions: Number | None = None
    total_merged_reviewed_by_copilot: Number | None = None
    median_minutes_to_merge: Number | None = None
    median_minutes_to_merge_copilot_authored: Number | None = None
    median_minutes_to_merge_copilot_reviewed: Number | None = None
    copilot_suggestions_by_comment_type: list[CommentType] | None = None


class TokenUsage(msgspec.Struct, kw_only=True, gc=False):
    """``token_usage`` of ``totals_by_cli`` / ``totals_by_copilot_app`` (the average is not summable)."""

    output_tokens_sum: Number | None = None
    prompt_tokens_sum: Number | None = None


class CliTotals(msgspec.Struct, kw_only=True, gc=False):
    """The additive part of ``totals_by_cli`` and of ``totals_by_copilot_app`` (same shape)."""

    session_count: Number | None = None
    request_count: Number | None = None
    prompt_count: Number | None = None
    token_usage: TokenUsage | None = None


class VscodeAgentTotals(msgspec.Struct, kw_only=True, gc=False):
    """``totals_by_vscode_agent``."""

    session_count: Number | None = None
    total_user_messages: Number | None = None


class ThirdPartyAgent(msgspec.Struct, kw_only=True, gc=False):
    """One element of ``totals_by_3rd_party_agent`` (``session_count`` only in aggregate reports)."""

    agent_id: str | int | None = None
    agent_name: str | None = None
    user_initiated_interaction_count: Number | None = None
    session_count: Number | None = None


class AdoptionPhase(msgspec.Struct, kw_only=True, gc=False):
    """One element of ``totals_by_ai_adoption_phase`` (aggregate days)."""

    phase: str | None = None
    total_engaged_users: Number | None = None
    avg_user_initiated_interactions: Number | None = None
    avg_code_generation_activities: Number | None = None
    avg_code_acceptance_activities: Number | None = None
    avg_loc_added: Number | None = None
    avg_loc_deleted: Number | None = None
    avg_pull_requests_reviewed: Number | None = None
    avg_pull_requests_created: Number | None = None
    avg_pull_requests_merged: Number | None = None
    avg_pull_requests_median_minutes_to_merge: Number | None = None
    total_pull_requests_merged: Number | None = None


class _UserFields(Counters, kw_only=True, gc=False):
    """Fields a users-report row can carry (every other key is skipped unparsed)."""

    day: str | None = None
    user_id: int | str | None = None
    user_login: str | None = None
    report_start_day: str | None = None
    report_end_day: str | None = None
    ai_credits_used: Number | None = None
    pull_requests: PullRequests | None = None
    totals_by_cli: CliTotals | None = None
    totals_by_copilot_app: CliTotals | None = None
    totals_by_vscode_agent: VscodeAgentTotals | None = None
    totals_by_3rd_party_agent: list[ThirdPartyAgent] | None = None
    totals_by_ai_adoption_phase: list[AdoptionPhase] | None = None


class _RecordFields(_UserFields, kw_only=True, gc=False):
    """Fields an aggregate day or 28-day wrapper adds: its newest-day scalars (distinct counts)."""

    daily_active_users: Number | None = None
    weekly_active_users: Number | None = None
    monthly_active_users: Number | None = None
    monthly_active_chat_users: Number | None = None
    monthly_active_agent_users: Number | None = None
    daily_active_cli_users: Number | None = None
    daily_active_copilot_cloud_agent_users: Number | None = None
    weekly_active_copilot_cloud_agent_users: Number | None = None
    monthly_active_copilot_cloud_agent_users: Number | None = None
    daily_active_copilot_code_review_users: Number | None = None
    weekly_active_copilot_code_review_users: Number | None = None
    monthly_active_copilot_code_review_users: Number | None = None
    daily_passive_copilot_code_review_users: Number | None = None
    weekly_passive_copilot_code_review_users: Number | None = None
    monthly_passive_copilot_code_review_users: Number | None = None
    daily_active_copilot_app_users: Number | None = None
    daily_active_vscode_agent_users: Number | None = None
    distinct_skill_use_count: Number | None = None
    distinct_slash_cmd_use_count: Number | None = None
    distinct_plugin_use_count: Number | None = None
    distinct_custom_agent_use_count: Number | None = None
    distinct_mcp_use_count: Number | None = None


class Record(_RecordFields, kw_only=True, gc=False):
    """A user row, an aggregate day record, or a 28-day aggregate wrapper (then ``day_totals`` is set)."""

    totals_by_ide: list[IdeBreakdown] | None = None
    totals_by_feature: list[FeatureBreakdown] | None = None
    totals_by_language_feature: list[LanguageBreakdown] | None = None
    totals_by_model_feature: list[ModelBreakdown] | None = None
    day_totals: list[Record] | None = None


class SlimRecord(_RecordFields, kw_only=True, gc=False):
    """`Record` without the breakdown arrays: msgspec skips them unparsed when no breakdown is wanted."""

    day_totals: list[SlimRecord] | None = None


class UserRecord(_UserFields, kw_only=True, gc=False):
    """A users-report row: without the aggregate-only scalars, which are then skipped, not defaulted
    (each declared field costs its default on every decoded row; see docs/benchmarks.md)."""

    totals_by_ide: list[IdeBreakdown] | None = None
    totals_by_feature: list[FeatureBreakdown] | None = None
    totals_by_language_feature: list[LanguageBreakdown] | None = None
    totals_by_model_feature: list[ModelBreakdown] | None = None
    day_totals: list[UserRecord] | None = None


class SlimUserRecord(_UserFields, kw_only=True, gc=False):
    """`UserRecord` without the breakdown arrays."""

    day_totals: list[SlimUserRecord] | None = None


AnyRecord = Record | SlimRecord | UserRecord | SlimUserRecord
RecordType = type[Record] | type[SlimRecord] | type[UserRecord] | type[SlimUserRecord]
_RECORD_TYPES: dict[tuple[bool, bool], RecordType] = {
    (True, False): Record,
    (False, False): SlimRecord,
    (True, True): UserRecord,
    (False, True): SlimUserRecord,
}


class ReportParser(RowParser[AnyRecord]):
    """Incremental parser of usage reports: ``feed`` chunks as they arrive, then ``finish``.

    The framing (NDJSON or array, bad lines counted, truncation) is `RowParser`'s. With
    ``breakdowns=False`` the ``totals_by_*`` arrays are skipped while decoding (faster); with
    ``users=True`` (a users report) so are the aggregate-only scalars.
    """

    def __init__(self, *, breakdowns: bool = True, users: bool = False) -> None:
        super().__init__(_RECORD_TYPES[breakdowns, users])


def parse_body(
    body: bytes, *, breakdowns: bool = True, users: bool = False, chunk_size: int = 65536
) -> tuple[list[AnyRecord], ReportParser]:
    """Parse a whole body in chunks (tests and tools); returns the records and the parser with its counts."""
    parser = ReportParser(breakdowns=breakdowns, users=users)
    out: list[AnyRecord] = []
    for start in range(0, len(body), chunk_size):
        out.extend(parser.feed(body[start : start + chunk_size]))
    out.extend(parser.finish())
    return out, parser
