"""Missed windows: a window of the wrong shape, or a reason of another collector, cannot be built."""

from __future__ import annotations

from datetime import date

import pytest

from github_stats_exporter.model import (
    ActivityReason,
    CopilotReason,
    DayWindow,
    JobKind,
    LocReason,
    MissedReason,
    MissedWindow,
    TimeWindow,
    Window,
)

DAY = date(2024, 5, 30)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(10.0, 5.0, id="end-before-start"),
        pytest.param(float("nan"), 5.0, id="nan"),
        pytest.param(0.0, float("inf"), id="infinite"),
    ],
)
def test_a_time_window_is_finite_and_ordered(start: float, end: float):
    """A time window refuses NaN, infinity and an end before its start."""
    with pytest.raises(ValueError, match="finite start <= end"):
        TimeWindow(start, end)


def test_a_day_window_lists_its_days_in_order():
    """A day window includes both ends; its first day may not follow its last."""
    assert DayWindow(DAY, date(2024, 6, 1)).days == (DAY, date(2024, 5, 31), date(2024, 6, 1))
    assert DayWindow(DAY, DAY).days == (DAY,)
    with pytest.raises(ValueError, match="first <= last"):
        DayWindow(date(2024, 6, 1), DAY)


def test_time_windows_unite_into_the_smallest_cover():
    """The union of two windows spans from the earlier start to the later end, gap included."""
    assert TimeWindow(10, 20).union(TimeWindow(30, 40)) == TimeWindow(10, 40)


@pytest.mark.parametrize(
    ("kind", "reason", "window"),
    [
        pytest.param(JobKind.ACTIVITY, ActivityReason.COMMITS_FAILED, TimeWindow(0, 1), id="activity"),
        pytest.param(JobKind.LOC, LocReason.FALLBACK_COMMIT_DETAIL_FAILED, TimeWindow(0, 1), id="loc"),
        pytest.param(JobKind.COPILOT, CopilotReason.REPORT_PARSE_ERROR, DayWindow(DAY, DAY), id="copilot"),
    ],
)
def test_each_collector_records_its_own_reason_and_window_shape(
    kind: JobKind, reason: MissedReason, window: Window
):
    """A window is accepted when its reason belongs to its kind's collector and its shape fits that kind."""
    missed = MissedWindow(kind, "org", "acme", "widgets", reason, window)
    assert (missed.kind, missed.reason, missed.window) == (kind, reason, window)


@pytest.mark.parametrize(
    ("kind", "reason", "window"),
    [
        pytest.param(JobKind.LOC, ActivityReason.PULLS_FAILED, TimeWindow(0, 1), id="reason-of-activity"),
        pytest.param(JobKind.ACTIVITY, "activity_pulls_failed", TimeWindow(0, 1), id="plain-string-reason"),
        pytest.param(JobKind.COPILOT, CopilotReason.REPORT_FETCH_ERROR, TimeWindow(0, 1), id="copilot-times"),
        pytest.param(JobKind.ACTIVITY, ActivityReason.PULLS_FAILED, DayWindow(DAY, DAY), id="activity-days"),
    ],
)
def test_a_window_that_no_collector_could_run_is_refused(kind: JobKind, reason: MissedReason, window: Window):
    """A mismatched reason or window shape fails where it is built, not later in a backfill worker."""
    with pytest.raises(TypeError):
        MissedWindow(kind, "org", "acme", "widgets", reason, window)


def test_reason_values_are_the_documented_wire_and_label_values():
    """The reason values are part of the wire format and metric labels; renaming one breaks queued jobs."""
    assert {str(r) for r in ActivityReason} == {
        "activity_commits_failed",
        "activity_pulls_failed",
        "activity_reviews_failed",
        "activity_issue_comments_failed",
    }
    assert {str(r) for r in LocReason} == {
        "contributor_stats_failed",
        "fallback_list_commits_failed",
        "fallback_commit_detail_failed",
    }
    assert {str(r) for r in CopilotReason} == {
        "copilot_report_fetch_error",
        "copilot_report_download_error",
        "copilot_report_parse_error",
    }
