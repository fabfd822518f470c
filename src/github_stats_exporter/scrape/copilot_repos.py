"""The Copilot repository collector of one org (or the enterprise): ``repos-1-day`` for every day of the window.

`ReposCollector.tick` runs the pass of its base, `DayCollector`: every day of the latest 28-day window has its
``repos-1-day`` record kept in the store through `DayFiles` (fetched once; a 204 day is kept as an empty
record, so it is not asked again). From a day's rows it keeps, per repository, the additive
``pull_requests`` fields, the medians, the Copilot suggestions per comment type and the
``pull_request_review_times`` elements. The series (docs/metrics.md, "Copilot repositories"):

* ``gh_copilot_usage_pull_requests_<field>{org, repo, user="all", scope, window}`` with ``scope``
  ``repository`` (org) or ``enterprise_repository`` (enterprise, ``repo`` = ``owner/name``): ``1d`` is the
  newest day, ``28d`` the sum over the window's days; medians only for ``1d``. A repository without a row on
  the newest day has no ``1d`` series.
* ``gh_copilot_repo_review_minutes{org, repo, scope, stage, quantile, authored_by, reviewed_by}`` from the
  newest day.

Rows without a repository name, of another day or repeating a repository are skipped and counted. This
module must not know config files, queues or the server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import msgspec

from github_stats_exporter import metrics
from github_stats_exporter.github.copilot import ReportRef, Scope
from github_stats_exporter.model import Sample, SnapshotKey
from github_stats_exporter.scrape.copilot_map import (
    AGGREGATE_USER,
    KEYED_SPECS,
    MAX_LABEL_VALUES,
    NEWEST_DAY_ONLY,
    PR_FIELDS,
    PR_MEDIAN_FIELDS,
    PR_SPECS,
)
from github_stats_exporter.scrape.copilot_parse import Number, PullRequests
from github_stats_exporter.scrape.day_collection import (
    DROP_MALFORMED,
    DROP_OTHER_DAY,
    DayCollector,
    DayOptions,
    add_values,
)
from github_stats_exporter.scrape.day_files import DayFiles
from github_stats_exporter.scrape.day_reports import DayReports

SNAPSHOT_KIND = "copilot_repos"
REPO_COMPONENTS: dict[str, str] = {
    "org": "github_api_copilot_org_repos",
    "enterprise": "github_api_copilot_enterprise_repos",
}
SERIES_SCOPES: dict[str, str] = {"org": "repository", "enterprise": "enterprise_repository"}
"""The ``scope`` label of the repository series: org and enterprise views of one repo must not collide."""
DROP_DUPLICATE = "duplicate"
STAGES = ("ready_to_first_review", "first_to_final_review", "final_review_to_merge")
QUANTILES = (("0.5", "median"), ("0.9", "p90"))
"""(``quantile`` label, field prefix) of the review-stage durations."""
COMMENT_TYPE = "comment_type"


# --- rows as the files hold them (only the fields the series need) -------------------------------


class ReviewTimes(msgspec.Struct, kw_only=True, gc=False):
    """One ``pull_request_review_times`` element: who authored and reviewed, and the stage durations."""

    authored_by: str | None = None
    reviewed_by: str | None = None
    median_minutes_ready_to_first_review: Number | None = None
    p90_minutes_ready_to_first_review: Number | None = None
    median_minutes_first_to_final_review: Number | None = None
    p90_minutes_first_to_final_review: Number | None = None
    median_minutes_final_review_to_merge: Number | None = None
    p90_minutes_final_review_to_merge: Number | None = None

    def minutes(self) -> list[Number | None]:
        """Per (stage, quantile) stage by stage, median then p90."""
        return [getattr(self, f"{prefix}_minutes_{stage}") for stage in STAGES for _, prefix in QUANTILES]


class RepoRow(msgspec.Struct, kw_only=True, gc=False):
    """One repository's row of ``repos-1-day``."""

    day: str | None = None
    repo_owner_name: str | None = None
    repo_name: str | None = None
    pull_requests: PullRequests | None = None
    pull_request_review_times: list[ReviewTimes] | None = None


# --- what is kept per day -------------------------------------------------------------------------


class ReviewStages(msgspec.Struct, kw_only=True):
    """The stage durations of one (authored_by, reviewed_by) pair, in the order of `ReviewTimes.minutes`."""

    authored_by: str
    reviewed_by: str
    minutes: list[Number | None]


class RepoValues(msgspec.Struct, kw_only=True):
    """One repository on one day: totals (`PR_FIELDS`), medians, comment types, review stages."""

    totals: list[Number | None]
    medians: list[Number | None]
    comment_types: dict[str, list[Number | None]] = msgspec.field(default_factory=dict)
    review_times: list[ReviewStages] = msgspec.field(default_factory=list)


class RepoDay(msgspec.Struct, kw_only=True):
    """One day's repositories by their ``repo`` label; empty for a 204 day."""

    repos: dict[str, RepoValues] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RepoOptions(DayOptions):
    """One scope's repository collection (`DayOptions`: scope, interval, download retries); self-metrics
    use ``scope`` = ``repos`` or ``enterprise_repos``."""

    components: ClassVar[Mapping[str, str]] = REPO_COMPONENTS
    self_scopes: ClassVar[Mapping[str, str]] = {"org": "repos", "enterprise": "enterprise_repos"}

    @property
    def series_scope(self) -> str:
        """The `scope` label of the series (``repository`` or ``enterprise_repository``)."""
        return SERIES_SCOPES[self.scope]


def snapshot_key(scope: Scope, scope_id: str) -> SnapshotKey:
    return SnapshotKey(SNAPSHOT_KIND, (scope, scope_id))


class ReposCollector(DayCollector):
    """Repository-level Copilot series of one org or the enterprise, through that scope's client."""

    snapshot_kind = SNAPSHOT_KIND
    event = "copilot_repos"
    options: RepoOptions

    @cached_property
    def days(self) -> DayFiles[RepoDay]:
        return self.day_files("repos", RepoDay)

    def _files(self) -> tuple[DayFiles[RepoDay]]:
        return (self.days,)

    async def _build(self, days: list[str], newest: str) -> list[Sample]:
        records = [(day, (await self.days.get_or_fetch(day, self._fetch))[0]) for day in days]
        return self._samples(records, newest)

    @cached_property
    def repo_days(self) -> RepoDays:
        """One day's ``repos-1-day`` rows, reduced (shared with the history command)."""
        return RepoDays(self.reports, self.options.scope, self.options.scope_id, self.drop)

    async def _fetch(self, day: str) -> RepoDay:
        return await self.repo_days.day(day) or RepoDay()  # a 204 day is kept as an empty record

    def _samples(self, records: list[tuple[str, RepoDay]], newest: str) -> list[Sample]:
        return repo_samples(
            records, newest, self.options.scope_id, self.options.series_scope, self.drop_label_value
        )


class RepoDays:
    """Reads one scope's ``repos-1-day`` of a day as a `RepoDay`.

    Rows of another day, without a repository name or repeating a repository are dropped and reported
    through ``drop(reason)``.
    """

    def __init__(self, reports: DayReports, scope: Scope, scope_id: str, drop: Callable[[str], None]) -> None:
        self._reports = reports
        self._scope = scope
        self._scope_id = scope_id
        self._drop = drop

    def _label(self, row: RepoRow) -> str | None:
        if not row.repo_name:
            return None
        if self._scope == "org":
            return row.repo_name
        # Enterprise rows span orgs, whose repositories may share a name.
        return f"{row.repo_owner_name}/{row.repo_name}" if row.repo_owner_name else None

    async def day(self, day: str) -> RepoDay | None:
        """``day``'s repositories; None when GitHub has no report for it (204). Raises `DayReportError`."""
        rows = await self._reports.day(ReportRef(self._scope, self._scope_id, "repos"), day, RepoRow)
        if rows is None:
            return None
        repos: dict[str, RepoValues] = {}
        for row in rows:
            label = self._label(row)
            if row.day != day:
                self._drop(DROP_OTHER_DAY)
            elif label is None:
                self._drop(DROP_MALFORMED)
            elif label in repos:
                self._drop(DROP_DUPLICATE)
            else:
                repos[label] = _values(row)
        return RepoDay(repos=repos)


def repo_samples(
    records: list[tuple[str, RepoDay]],
    newest: str,
    scope_id: str,
    series_scope: str,
    drop_label_value: Callable[[str], object],
) -> list[Sample]:
    """``28d`` sums over the records' days, ``1d`` and the review stages from ``newest``.

    ``series_scope`` is the ``scope`` label (`SERIES_SCOPES`); comment types beyond the first
    `MAX_LABEL_VALUES` are dropped and reported through ``drop_label_value("comment_type")``.
    """
    totals: dict[tuple[str, str], list[Number | None]] = {}
    kinds: dict[tuple[str, str, str], list[Number | None]] = {}
    admitted = _comment_types(records, drop_label_value)
    for day, record in records:
        windows = ("28d", "1d") if day == newest else ("28d",)
        for repo, values in record.repos.items():
            for window in windows:
                acc = totals.get((repo, window))
                totals[repo, window] = values.totals if acc is None else add_values(acc, values.totals)
                for kind, counts in values.comment_types.items():
                    if kind not in admitted:
                        continue
                    part = kinds.get((repo, window, kind))
                    kinds[repo, window, kind] = counts if part is None else add_values(part, counts)
    out: list[Sample] = []

    def labels(repo: str, window: str) -> tuple[tuple[str, str], ...]:
        return (
            ("org", scope_id),
            ("repo", repo),
            ("user", AGGREGATE_USER),
            ("scope", series_scope),
            ("window", window),
        )

    for (repo, window), summed in sorted(totals.items()):
        out += _present(PR_SPECS, summed, labels(repo, window))
    for (repo, window, kind), counts in sorted(kinds.items()):
        out += _present(KEYED_SPECS[COMMENT_TYPE], counts, (*labels(repo, window), (COMMENT_TYPE, kind)))
    newest_day = dict(records).get(newest, RepoDay())
    for repo, values in sorted(newest_day.repos.items()):
        out += _present(metrics.COPILOT_PRS_MEDIANS, values.medians, labels(repo, NEWEST_DAY_ONLY))
        for stages in values.review_times:
            out += _review(scope_id, series_scope, repo, stages)
    return out


def _comment_types(records: list[tuple[str, RepoDay]], drop_label_value: Callable[[str], object]) -> set[str]:
    """The first `MAX_LABEL_VALUES` comment types of the records (oldest day first); the elements of
    further types are dropped and counted."""
    admitted: set[str] = set()
    for _, record in records:
        for values in record.repos.values():
            for kind in values.comment_types:
                if kind in admitted:
                    continue
                if len(admitted) < MAX_LABEL_VALUES:
                    admitted.add(kind)
                else:
                    drop_label_value(COMMENT_TYPE)
    return admitted


def _review(scope_id: str, series_scope: str, repo: str, stages: ReviewStages) -> list[Sample]:
    name = metrics.COPILOT_REPO_REVIEW_MINUTES.name
    pairs = [(stage, quantile) for stage in STAGES for quantile, _ in QUANTILES]
    return [
        Sample(
            name,
            (
                ("org", scope_id),
                ("repo", repo),
                ("scope", series_scope),
                ("stage", stage),
                ("quantile", quantile),
                ("authored_by", stages.authored_by),
                ("reviewed_by", stages.reviewed_by),
            ),
            float(value),
        )
        for (stage, quantile), value in zip(pairs, stages.minutes, strict=True)
        if value is not None
    ]


def _values(row: RepoRow) -> RepoValues:
    prs = row.pull_requests
    if prs is None:
        values = RepoValues(totals=[None] * len(PR_FIELDS), medians=[None] * len(PR_MEDIAN_FIELDS))
    else:
        comment_types: dict[str, list[Number | None]] = {}
        for element in prs.copilot_suggestions_by_comment_type or ():
            if element.comment_type is not None and element.comment_type not in comment_types:
                counts = [element.total_copilot_suggestions, element.total_copilot_applied_suggestions]
                comment_types[element.comment_type] = counts
        values = RepoValues(
            totals=[getattr(prs, name) for name in PR_FIELDS],
            medians=[getattr(prs, name) for name in PR_MEDIAN_FIELDS],
            comment_types=comment_types,
        )
    seen: set[tuple[str, str]] = set()
    for times in row.pull_request_review_times or ():
        authored, reviewed = times.authored_by, times.reviewed_by
        if authored and reviewed and (authored, reviewed) not in seen:  # the first element of a pair wins
            seen.add((authored, reviewed))
            stages = ReviewStages(authored_by=authored, reviewed_by=reviewed, minutes=times.minutes())
            values.review_times.append(stages)
    return values


def _present(
    specs: tuple[metrics.MetricSpec, ...], values: list[Number | None], labels: tuple[tuple[str, str], ...]
) -> list[Sample]:
    return [
        Sample(spec.name, labels, float(v)) for spec, v in zip(specs, values, strict=True) if v is not None
    ]
