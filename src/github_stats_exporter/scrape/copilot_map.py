"""Copilot report records → metric samples: label policy, window sums, breakdowns, caps.

Pure and synchronous: records go in one at a time (``ReportMapper.add``) and only running sums are
kept, so memory grows with the number of *series*, never with the number of records. The mapper
decides labels and values; it does no I/O and never sees a download link.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, Literal

from github_stats_exporter import metrics
from github_stats_exporter.metrics import MetricSpec
from github_stats_exporter.model import Sample
from github_stats_exporter.scrape.copilot_parse import (
    AdoptionPhase,
    AnyRecord,
    CliTotals,
    Number,
    PullRequests,
)
from github_stats_exporter.scrape.copilot_sums import (
    DEFAULT,
    GROUPS,
    NEAR,
    Entry,
    Group,
    Layout,
    merge,
)

# Re-exported: the mapper's callers (config, collection, tests) name the dimensions through it.
from github_stats_exporter.scrape.copilot_sums import DIMENSIONS as DIMENSIONS
from github_stats_exporter.scrape.copilot_sums import Dimension as Dimension

UserLabelMode = Literal["login", "id", "hashed", "none"]
REDACTED_USER = "redacted"
UNKNOWN_USER = "unknown"
AGGREGATE_USER = "all"
HASH_LABEL_CHARS = 16
DROP_MAX_RECORDS = "max_records_per_report"
DROP_MAX_USERS = "max_users_per_report"
DROP_PARSE_ERROR = "parse_error"
MAX_LABEL_VALUES = 25
"""Distinct ``agent``, ``comment_type`` and ``phase`` values one report may produce, per label; elements
with further values are dropped and counted (docs/metrics.md, "Copilot usage: 2026 fields")."""
KeyedLabel = Literal["agent", "comment_type", "phase"]
KEYED_LABELS: tuple[KeyedLabel, ...] = ("agent", "comment_type", "phase")

# Additive families in the order of the value vector `_values` reads from a record.
COUNTER_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_INTERACTIONS,
    metrics.COPILOT_CODE_GENERATION,
    metrics.COPILOT_CODE_ACCEPTANCE,
    metrics.COPILOT_LOC_SUGGESTED_ADD,
    metrics.COPILOT_LOC_SUGGESTED_DELETE,
    metrics.COPILOT_LOC_ADDED,
    metrics.COPILOT_LOC_DELETED,
)
PR_FIELDS = (
    "total_created",
    "total_reviewed",
    "total_created_by_copilot",
    "total_reviewed_by_copilot",
    "total_merged",
    "total_merged_created_by_copilot",
    "total_suggestions",
    "total_applied_suggestions",
    "total_copilot_suggestions",
    "total_copilot_applied_suggestions",
    "total_merged_reviewed_by_copilot",
)
PR_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_PRS_CREATED,
    metrics.COPILOT_PRS_REVIEWED,
    metrics.COPILOT_PRS_CREATED_BY_COPILOT,
    metrics.COPILOT_PRS_REVIEWED_BY_COPILOT,
    metrics.COPILOT_PRS_MERGED,
    metrics.COPILOT_PRS_MERGED_CREATED_BY_COPILOT,
    metrics.COPILOT_PRS_SUGGESTIONS,
    metrics.COPILOT_PRS_APPLIED_SUGGESTIONS,
    metrics.COPILOT_PRS_COPILOT_SUGGESTIONS,
    metrics.COPILOT_PRS_COPILOT_APPLIED_SUGGESTIONS,
    metrics.COPILOT_PRS_MERGED_REVIEWED_BY_COPILOT,
)
PR_MEDIAN_FIELDS = (
    "median_minutes_to_merge",
    "median_minutes_to_merge_copilot_authored",
    "median_minutes_to_merge_copilot_reviewed",
)
CLI_FIELDS = ("session_count", "request_count", "prompt_count")
CLI_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_CLI_SESSIONS,
    metrics.COPILOT_CLI_REQUESTS,
    metrics.COPILOT_CLI_PROMPTS,
    metrics.COPILOT_CLI_OUTPUT_TOKENS,
    metrics.COPILOT_CLI_PROMPT_TOKENS,
)
APP_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_APP_SESSIONS,
    metrics.COPILOT_APP_REQUESTS,
    metrics.COPILOT_APP_PROMPTS,
    metrics.COPILOT_APP_OUTPUT_TOKENS,
    metrics.COPILOT_APP_PROMPT_TOKENS,
)
VSCODE_AGENT_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_VSCODE_AGENT_SESSIONS,
    metrics.COPILOT_VSCODE_AGENT_MESSAGES,
)
CREDIT_SPECS: tuple[MetricSpec, ...] = (metrics.COPILOT_AI_CREDITS,)
ADDITIVE_SPECS = COUNTER_SPECS + PR_SPECS + CLI_SPECS + APP_SPECS + VSCODE_AGENT_SPECS + CREDIT_SPECS
COUNTER_NAMES = tuple(spec.name for spec in COUNTER_SPECS)
_GROUP_SPECS = (COUNTER_SPECS, PR_SPECS, CLI_SPECS, APP_SPECS, VSCODE_AGENT_SPECS, CREDIT_SPECS)
if len(_GROUP_SPECS) != GROUPS:  # an entry's head holds one slot per group (copilot_sums.Entry)
    _msg = f"copilot_sums.GROUPS is {GROUPS}, the mapper sums {len(_GROUP_SPECS)} groups"
    raise AssertionError(_msg)
# Additive values of keyed elements, per label: which families their values go to.
KEYED_SPECS: dict[str, tuple[MetricSpec, ...]] = {
    "agent": (metrics.COPILOT_THIRD_PARTY_AGENT_INTERACTIONS, metrics.COPILOT_THIRD_PARTY_AGENT_SESSIONS),
    "comment_type": (
        metrics.COPILOT_PRS_SUGGESTIONS_BY_COMMENT_TYPE,
        metrics.COPILOT_PRS_APPLIED_SUGGESTIONS_BY_COMMENT_TYPE,
    ),
    "phase": (metrics.COPILOT_PHASE_PRS_MERGED,),
}
# Distinct-user counts: taken from the newest day only, never summed over days.
GAUGE_FIELDS = (
    "daily_active_users",
    "weekly_active_users",
    "monthly_active_users",
    "monthly_active_chat_users",
    "monthly_active_agent_users",
    "daily_active_cli_users",
    *(spec.name.removeprefix("gh_copilot_usage_") for spec in metrics.COPILOT_DAY_GAUGES_2026),
)
GAUGE_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_DAILY_ACTIVE_USERS,
    metrics.COPILOT_WEEKLY_ACTIVE_USERS,
    metrics.COPILOT_MONTHLY_ACTIVE_USERS,
    metrics.COPILOT_MONTHLY_ACTIVE_CHAT_USERS,
    metrics.COPILOT_MONTHLY_ACTIVE_AGENT_USERS,
    metrics.COPILOT_DAILY_ACTIVE_CLI_USERS,
    *metrics.COPILOT_DAY_GAUGES_2026,
)
_CLI_USERS_INDEX = GAUGE_FIELDS.index("daily_active_cli_users")
PHASE_GAUGE_FIELDS = (
    "total_engaged_users",
    *(
        spec.name.removeprefix("gh_copilot_usage_ai_adoption_phase_")
        for spec in metrics.COPILOT_PHASE_AVERAGES
    ),
)
PHASE_GAUGE_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_PHASE_ENGAGED_USERS,
    *metrics.COPILOT_PHASE_AVERAGES,
)
NEWEST_DAY_ONLY = "1d"
"""The window label of the view that carries the pull-request medians (a median cannot be summed)."""

_prs = attrgetter(*PR_FIELDS)
_gauges = attrgetter(*GAUGE_FIELDS)
_medians = attrgetter(*PR_MEDIAN_FIELDS)
_phase_gauges = attrgetter(*PHASE_GAUGE_FIELDS)
_CHAT_MODE = re.compile(r"chat_panel_(.+)_mode")
CHAT_MODE = "chat_mode"
"""The label of the chat-mode breakdown: one ``chat_panel_<mode>_mode`` feature each, so its sums are
those of that feature (derived when the series are built, never summed twice)."""
# Each breakdown label is fed by one array of a record (`_add_day` reads them in `DIMENSIONS` order):
# totals_by_ide, totals_by_feature, totals_by_language_feature and totals_by_model_feature, the last two
# summed over features. With breakdowns on, records must be decoded with their arrays
# (`ReportParser(breakdowns=True)`), as every caller does.

Slot = list[Any]
"""What one (user identity, day label) of the report maps to: its ``user`` label, then its `Entry` in each
window view (None until that view takes a record of it)."""
Keyed = tuple[str, str, Group]
"""(label, value, additive values) of one element of a keyed array (agent, comment_type, phase)."""


@dataclass(frozen=True, slots=True)
class _DayGauges:
    """What an aggregate window takes from its newest day: distinct counts, PR medians, phase gauges."""

    values: tuple[Number | None, ...]
    medians: tuple[Number | None, ...] | None
    phases: dict[str, tuple[Number | None, ...]]


def _usage(totals: CliTotals | None) -> Group:
    """``totals_by_cli`` / ``totals_by_copilot_app``: sessions, requests, prompts, output and prompt tokens."""
    if totals is None:
        return None
    tokens = totals.token_usage
    if tokens is None:
        return (totals.session_count, totals.request_count, totals.prompt_count, None, None)
    return (
        totals.session_count,
        totals.request_count,
        totals.prompt_count,
        tokens.output_tokens_sum,
        tokens.prompt_tokens_sum,
    )


@dataclass(frozen=True, slots=True)
class LabelPolicy:
    """How the ``user`` and ``day`` labels are written (``copilot.user_label_mode``, ``emit_day_label``)."""

    mode: UserLabelMode = "login"
    hash_key: bytes | None = field(default=None, repr=False)
    emit_day_label: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("login", "id", "hashed", "none"):
            msg = f"user_label_mode must be login, id, hashed or none, got {self.mode!r}"
            raise ValueError(msg)
        if self.mode == "hashed" and not self.hash_key:
            msg = "user_label_mode 'hashed' needs a secret hash key"
            raise ValueError(msg)

    def user(self, login: str | None, user_id: int | str | None) -> str:
        """The ``user`` label of a per-user row."""
        ident = str(user_id) if user_id is not None and user_id != "" else None
        login = login or None
        if self.mode == "none":
            return REDACTED_USER
        if self.mode == "id":
            return ident or login or UNKNOWN_USER
        if self.mode == "hashed":
            subject = login or ident
            if subject is None or self.hash_key is None:
                return UNKNOWN_USER
            digest = hmac.new(self.hash_key, subject.encode(), hashlib.sha256).hexdigest()
            return digest[:HASH_LABEL_CHARS]
        return login or ident or UNKNOWN_USER


@dataclass(frozen=True, slots=True)
class MapOptions:
    """What to export from a report and the hard caps (0 = unbounded)."""

    labels: LabelPolicy = field(default_factory=LabelPolicy)
    breakdowns: frozenset[Dimension] = frozenset()
    include_pull_requests: bool = True
    max_records: int = 0
    max_users: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.breakdowns) - set(DIMENSIONS)
        if unknown:
            msg = f"unknown breakdown dimensions {sorted(unknown)}; allowed: {DIMENSIONS}"
            raise ValueError(msg)
        if self.max_records < 0 or self.max_users < 0:
            msg = "max_records and max_users must be >= 0 (0 = unbounded)"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class ReportLabels:
    """The labels every series of one report shares: ``org`` (org login or enterprise slug) and ``scope``."""

    org: str
    scope: Literal["org", "enterprise", "users", "enterprise_users"]

    @property
    def is_users(self) -> bool:
        return self.scope in ("users", "enterprise_users")


class _Window:
    """Running sums of one window view (28-day sums, or the single newest day) of one report."""

    __slots__ = ("day", "entries", "gauge_day", "gauges", "keyed")

    def __init__(self, day: str | None) -> None:
        self.day = day  # only records of this day count (None: every record)
        # (user, day label) -> its additive groups and, per dimension, value -> counter sums. One list per
        # key, so that a record touches one object per window instead of one per group and dimension, and
        # the breakdown elements build no key tuple; nothing below the list is tracked by the cyclic GC
        # (see `CounterSums`).
        self.entries: dict[tuple[str, str], Entry] = {}
        self.keyed: dict[tuple[str, str, str, str], Group] = {}
        self.gauges: dict[str, _DayGauges] = {}
        self.gauge_day: dict[str, str] = {}


class ReportMapper:
    """Accumulates one report's records into the series of its window views.

    ``windows`` maps a window label to the day it is restricted to: ``{"28d": None, "1d": end_day}``
    for a 28-day report (sums over every day, plus the newest day alone), ``{"1d": None}`` for a 1-day
    report. Caps count records (user rows, aggregate days) and distinct users in arrival order.
    ``layout`` holds the breakdown sums (`copilot_sums`: the C loop's when it is built); every layout
    gives the same series.
    """

    def __init__(
        self,
        report: ReportLabels,
        options: MapOptions,
        windows: dict[str, str | None],
        layout: Layout = DEFAULT,
    ) -> None:
        if not windows:
            msg = "a report needs at least one window view"
            raise ValueError(msg)
        self.report = report
        self.options = options
        self._layout = layout  # how breakdown sums are held and added (copilot_sums)
        self._windows = {label: _Window(day) for label, day in windows.items()}
        self._views = tuple(enumerate(self._windows.values(), start=1))
        # (identity, day label) -> `Slot`: one lookup per record finds the user label and the entries of
        # every window view (docs/benchmarks.md, "Copilot report parsing").
        self._slots: dict[tuple[tuple[str | None, int | str | None] | None, str], Slot] = {}
        self._users: set[int | str] = set()
        self._user_labels: dict[tuple[str | None, int | str | None], str] = {}
        self._is_users = report.is_users
        self._max_records = options.max_records
        self._max_users = options.max_users
        self._emit_day = options.labels.emit_day_label
        self._include_prs = options.include_pull_requests
        # The enabled breakdowns in a fixed order (so series come out in the same order in every process).
        self._enabled = tuple(dim in options.breakdowns for dim in DIMENSIONS)
        self._breakdowns = any(self._enabled)
        # Each breakdown value gets a number, the same for every user and window view, in the order the
        # report first shows it: its sums sit at that index of every `Entry`. A record's element then
        # finds its sums with a lookup in a table of the report's few values, shared and so in the
        # caches, and an index into its user's list, instead of a lookup in a dict of that user's own,
        # scattered over the memory of 7,000 users (docs/benchmarks.md, "Copilot report parsing").
        self._value_numbers: tuple[dict[str, int], ...] = tuple({} for _ in DIMENSIONS)
        self._dimension_values: tuple[list[tuple[int, str]], ...] = tuple([] for _ in DIMENSIONS)
        self._next_number = NEAR
        self._numbering = tuple(partial(self._number, position) for position in range(len(DIMENSIONS)))
        self._label_values: dict[str, set[str]] = {label: set() for label in KEYED_LABELS}
        self.records = 0
        """Day records seen (kept or dropped)."""
        self.kept = 0
        self.dropped: dict[str, int] = {}
        self.label_drops: dict[str, int] = {}
        """Keyed elements dropped by `MAX_LABEL_VALUES`, per label (agent, comment_type, phase)."""

    def add_all(self, records: Iterable[AnyRecord]) -> None:
        """Every record of one decoded chunk (see `add`)."""
        add_day = self._add_day
        # Summing creates many small tuples and no cycles; without this pause the cyclic GC re-scans
        # the growing sums again and again (docs/benchmarks.md, "Copilot report parsing").
        paused = gc.isenabled()
        gc.disable()
        try:
            for record in records:
                days = record.day_totals
                if days is None:
                    add_day(record)
                else:
                    for day in days:
                        add_day(day)
        finally:
            if paused:
                gc.enable()

    def add(self, record: AnyRecord) -> None:
        """One decoded top-level record (a 28-day aggregate wrapper contributes each of its days)."""
        days = record.day_totals
        if days is not None:
            for day in days:
                self._add_day(day)
        else:
            self._add_day(record)

    def _add_day(self, record: AnyRecord) -> None:
        # The hot path (once per user-day of a report): flags are read from plain attributes set in
        # __init__, and the three value groups are merged inline.
        self.records += 1
        if self._max_records and self.kept >= self._max_records:
            self._drop(DROP_MAX_RECORDS)
            return
        ident_pair: tuple[str | None, int | str | None] | None = None
        if self._is_users:
            ident_pair = (record.user_login, record.user_id)
            if self._max_users and not self._admit(ident_pair):
                self._drop(DROP_MAX_USERS)
                return
        self.kept += 1
        day = record.day or ""
        day_key = day if self._emit_day else ""
        slot_key = (ident_pair, day_key)
        slot = self._slots.get(slot_key)
        if slot is None:
            slot = self._slots[slot_key] = self._new_slot(ident_pair)
        user: str = slot[0]
        prs = record.pull_requests if self._include_prs else None
        cli = record.totals_by_cli
        app = record.totals_by_copilot_app
        vscode = record.totals_by_vscode_agent
        credits = record.ai_credits_used
        # Attribute reads, not an attrgetter: the interpreter specializes these to slot reads, where
        # the C getter takes the generic lookup each time.
        counters = (
            record.user_initiated_interaction_count,
            record.code_generation_activity_count,
            record.code_acceptance_activity_count,
            record.loc_suggested_to_add_sum,
            record.loc_suggested_to_delete_sum,
            record.loc_added_sum,
            record.loc_deleted_sum,
        )
        pr_values = _prs(prs) if prs is not None else None
        cli_values = _usage(cli) if cli is not None else None
        app_values = _usage(app) if app is not None else None
        vscode_values = (vscode.session_count, vscode.total_user_messages) if vscode is not None else None
        credit_values = (credits,) if credits is not None else None
        phases = record.totals_by_ai_adoption_phase
        keyed = (
            self._keyed(record, prs, phases)
            if phases or prs is not None or record.totals_by_3rd_party_agent
            else None
        )
        breakdowns = self._breakdowns
        if breakdowns:
            ide_on, feature_on, language_on, model_on = self._enabled
            numbers = self._value_numbers
            numbering = self._numbering
            sum_ide, sum_feature, sum_language, sum_model = self._layout.summers
        for index, window in self._views:
            if window.day is not None and day != window.day:
                continue
            acc: Entry | None = slot[index]
            if acc is None:
                acc = slot[index] = self._entry(window, user, day_key)
            # Unrolled on purpose: this runs once per user-day and window view (docs/benchmarks.md).
            summed = acc[0]
            if summed is None:
                acc[0] = counters
            else:
                try:
                    a0, a1, a2, a3, a4, a5, a6 = summed
                    v0, v1, v2, v3, v4, v5, v6 = counters
                    acc[0] = (a0 + v0, a1 + v1, a2 + v2, a3 + v3, a4 + v4, a5 + v5, a6 + v6)
                except TypeError:  # a counter is None in the sums or in the record
                    acc[0] = merge(summed, counters)
            if pr_values is not None:
                acc[1] = merge(acc[1], pr_values)
            if cli_values is not None:
                acc[2] = merge(acc[2], cli_values)
            if app_values is not None:
                acc[3] = merge(acc[3], app_values)
            if vscode_values is not None:
                acc[4] = merge(acc[4], vscode_values)
            if credits is not None:
                total = acc[5]
                acc[5] = credit_values if total is None or total[0] is None else (total[0] + credits,)
            if keyed:
                parts = window.keyed
                for label, value, values in keyed:
                    part_key = (user, day_key, label, value)
                    parts[part_key] = merge(parts.get(part_key), values)
            if not self._is_users:
                self._take_gauges(window, record, prs, day, day_key)
            if breakdowns:
                # With breakdowns on, records are decoded with their arrays (see the note above).
                elements = record.totals_by_ide  # type: ignore[union-attr]
                if elements and ide_on:
                    sum_ide(acc, elements, numbers[0], numbering[0])
                elements = record.totals_by_feature  # type: ignore[union-attr]
                if elements and feature_on:
                    sum_feature(acc, elements, numbers[1], numbering[1])
                elements = record.totals_by_language_feature  # type: ignore[union-attr]
                if elements and language_on:
                    sum_language(acc, elements, numbers[2], numbering[2])
                elements = record.totals_by_model_feature  # type: ignore[union-attr]
                if elements and model_on:
                    sum_model(acc, elements, numbers[3], numbering[3])

    def _new_slot(self, ident_pair: tuple[str | None, int | str | None] | None) -> Slot:
        """The `Slot` of a new (identity, day label): its user label, no window entry yet."""
        user = AGGREGATE_USER
        if ident_pair is not None:
            known = self._user_labels.get(ident_pair)
            # Cached: identities of several day labels share it (and HMAC is not free).
            user = known if known is not None else self.options.labels.user(*ident_pair)
            self._user_labels[ident_pair] = user
        return [user, *(None for _ in self._views)]

    def _entry(self, window: _Window, user: str, day_key: str) -> Entry:
        """The `Entry` of (user, day label) in ``window``, shared by every identity with that user label."""
        key = (user, day_key)
        entry = window.entries.get(key)
        if entry is None:
            entry = window.entries[key] = [None] * NEAR
        return entry

    def _number(self, position: int, value: str | None) -> int | None:
        """Number a breakdown value new to the report (None: an element without a value, never summed)."""
        if value is None:
            return None
        number = self._value_numbers[position][value] = self._next_number
        self._dimension_values[position].append((number, value))
        self._next_number += 1
        return number

    def _keyed(
        self, record: AnyRecord, prs: PullRequests | None, phases: list[AdoptionPhase] | None
    ) -> list[Keyed]:
        """The additive values of a record's keyed elements, over the per-label caps."""
        out: list[Keyed] = []
        for agent in record.totals_by_3rd_party_agent or ():
            name = agent.agent_name or (str(agent.agent_id) if agent.agent_id is not None else None)
            if name is not None and self._admit_value("agent", name):
                out.append(("agent", name, (agent.user_initiated_interaction_count, agent.session_count)))
        if prs is not None:
            for element in prs.copilot_suggestions_by_comment_type or ():
                kind = element.comment_type
                if kind is not None and self._admit_value("comment_type", kind):
                    values = (element.total_copilot_suggestions, element.total_copilot_applied_suggestions)
                    out.append(("comment_type", kind, values))
        out.extend(
            ("phase", phase.phase, (phase.total_pull_requests_merged,))
            for phase in phases or ()
            if phase.phase is not None and self._admit_value("phase", phase.phase)
        )
        return out

    def _admit_value(self, label: str, value: str) -> bool:
        """Whether ``value`` is among the first `MAX_LABEL_VALUES` of ``label`` in this report."""
        seen = self._label_values[label]
        if value in seen:
            return True
        if len(seen) >= MAX_LABEL_VALUES:
            self.label_drops[label] = self.label_drops.get(label, 0) + 1
            return False
        seen.add(value)
        return True

    def _admit(self, ident_pair: tuple[str | None, int | str | None]) -> bool:
        """max_users: whether this row's user is among the first N distinct users (id, else login)."""
        ident = ident_pair[1] if ident_pair[1] is not None else ident_pair[0]
        if ident is None or ident in self._users:
            return True
        if len(self._users) >= self._max_users:
            return False
        self._users.add(ident)
        return True

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def _take_gauges(
        self, window: _Window, record: AnyRecord, prs: PullRequests | None, day: str, day_key: str
    ) -> None:
        newest = window.gauge_day.get(day_key)
        # Distinct-user counts: the newest day wins (first record of that day), nothing is summed.
        if newest is not None and day <= newest:
            return
        window.gauge_day[day_key] = day
        seen = self._label_values["phase"]
        phases = {
            phase.phase: _phase_gauges(phase)
            for phase in record.totals_by_ai_adoption_phase or ()
            # Admitted (and drops counted) by `_keyed` for this very record.
            if phase.phase is not None and phase.phase in seen
        }
        window.gauges[day_key] = _DayGauges(
            _gauges(record), _medians(prs) if prs is not None else None, phases
        )

    def samples(self, window: str) -> list[Sample]:
        """Every series of one window view, labels in the order the metric contract declares."""
        paused = gc.isenabled()
        gc.disable()  # as in `add_all`: many small objects, no cycles
        try:
            return self._samples(window)
        finally:
            if paused:
                gc.enable()

    def _samples(self, window: str) -> list[Sample]:
        view = self._windows[window]
        org, scope = self.report.org, self.report.scope
        emit_day = self.options.labels.emit_day_label
        out: list[Sample] = []

        def base(user: str, day: str) -> tuple[tuple[str, str], ...]:
            return (("org", org), ("repo", "*"), ("user", user), ("scope", scope), ("window", window))

        for (user, day), entry in view.entries.items():
            labels = base(user, day) + ((("day", day),) if emit_day and day else ())
            for specs, group in zip(_GROUP_SPECS, entry[:GROUPS], strict=True):
                if group is not None:
                    out += [
                        Sample(spec.name, labels, float(v))
                        for spec, v in zip(specs, group, strict=True)
                        if v is not None
                    ]
        chat_modes: dict[str, str | None] = {}
        read = self._layout.read
        for (user, day), entry in view.entries.items() if self._breakdowns else ():
            head = base(user, day)
            tail = (("day", day),) if emit_day and day else ()
            for dimension, numbered in zip(DIMENSIONS, self._dimension_values, strict=True):
                for number, value_label in numbered:
                    counter_sums = read(entry, number)
                    if counter_sums is None:
                        continue
                    named = [
                        (name, float(v))
                        for name, v in zip(COUNTER_NAMES, counter_sums, strict=True)
                        if v is not None
                    ]
                    labels = (*head, (dimension, value_label), *tail)
                    out += [Sample(name, labels, value) for name, value in named]
                    if dimension != "feature":
                        continue
                    mode = chat_modes.get(value_label, "")
                    if mode == "":
                        match = _CHAT_MODE.fullmatch(value_label)
                        mode = chat_modes[value_label] = match.group(1) if match else None
                    if mode is not None:
                        labels = (*head, (CHAT_MODE, mode), *tail)
                        out += [Sample(name, labels, value) for name, value in named]
        for (user, day, label, value_label), group in view.keyed.items():
            if group is None:
                continue
            labels = (*base(user, day), (label, value_label)) + ((("day", day),) if emit_day and day else ())
            out += [
                Sample(spec.name, labels, float(v))
                for spec, v in zip(KEYED_SPECS[label], group, strict=True)
                if v is not None
            ]
        for day, gauges in view.gauges.items():
            labels = base(AGGREGATE_USER, day) + ((("day", day),) if emit_day and day else ())
            for index, (spec, value) in enumerate(zip(GAUGE_SPECS, gauges.values, strict=True)):
                if value is None and index == _CLI_USERS_INDEX:
                    value = 0  # GitHub omits daily_active_cli_users on days without CLI use
                if value is not None:
                    out.append(Sample(spec.name, labels, float(value)))
            if gauges.medians is not None and window == NEWEST_DAY_ONLY:
                out += [
                    Sample(spec.name, labels, float(v))
                    for spec, v in zip(metrics.COPILOT_PRS_MEDIANS, gauges.medians, strict=True)
                    if v is not None
                ]
            for phase, values in gauges.phases.items():
                phase_labels = (*base(AGGREGATE_USER, day), ("phase", phase)) + (
                    (("day", day),) if emit_day and day else ()
                )
                out += [
                    Sample(spec.name, phase_labels, float(v))
                    for spec, v in zip(PHASE_GAUGE_SPECS, values, strict=True)
                    if v is not None
                ]
        return out

    def newest_day(self, window: str) -> str | None:
        """The newest day seen by an aggregate window view (None for users reports or no data)."""
        days = self._windows[window].gauge_day.values()
        return max(days) if days else None
