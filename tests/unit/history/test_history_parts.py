"""The history command's pure parts: span clipping, week choice, run sorting and merging, the file, the state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from github_stats_exporter import cli, metrics
from github_stats_exporter.github.ratelimit import RateLimitState
from github_stats_exporter.history.blocks import MISSING, create_blocks, promtool
from github_stats_exporter.history.chunks import split_by_week
from github_stats_exporter.history.estimate import estimate
from github_stats_exporter.history.plan import HistoryError, Plan, Span, day_end, resolve_span
from github_stats_exporter.history.spill import merged, run_lines, write_run
from github_stats_exporter.history.state import StateDir, TaskRecord
from github_stats_exporter.history.writer import write_openmetrics
from github_stats_exporter.model import Sample

TODAY = date(2026, 12, 5)


def test_the_span_defaults_to_the_newest_day_and_clips_to_one_year_with_a_warning() -> None:
    """--to defaults to two days back; a --from older than a year starts a year back and says so."""
    span = resolve_span(TODAY, date(2025, 1, 1), None)
    assert span.last == date(2026, 12, 3)
    assert span.first == date(2025, 12, 5)
    assert any("one year" in w for w in span.warnings)
    assert resolve_span(TODAY, date(2026, 11, 1), date(2026, 11, 30)).warnings == ()


@pytest.mark.parametrize(
    ("first", "last"),
    [
        pytest.param(date(2026, 12, 4), None, id="from-after-newest"),
        pytest.param(date(2026, 11, 10), date(2026, 11, 9), id="from-after-to"),
    ],
)
def test_an_empty_span_is_refused(first: date, last: date | None) -> None:
    """A span without a single day is a clear error, not an empty file."""
    with pytest.raises(HistoryError, match="nothing to read"):
        resolve_span(TODAY, first, last)


def test_weeks_are_the_complete_weeks_ending_inside_the_span() -> None:
    """A week counts when it is complete at `now` and its last second lies in the span."""
    span = Span(date(2026, 11, 1), date(2026, 11, 30))  # Sunday 1st .. Monday 30th
    weeks = Plan(span, (), ("acme",)).weeks(now=day_end("2026-12-05"))
    ends = [datetime.fromtimestamp(w + 7 * 86400 - 1, UTC).date() for w in weeks]
    assert [e.isoformat() for e in ends] == ["2026-11-07", "2026-11-14", "2026-11-21", "2026-11-28"]
    early = Plan(span, (), ("acme",)).weeks(now=day_end("2026-11-20"))
    assert len(early) == 2  # the week ending on the 21st is not complete yet


def _sample(user: str, value: float) -> Sample:
    return metrics.ACTIVITY_LOC_ADDED.sample(value, {"org": "o", "repo": "r", "user": user})


def test_merged_runs_keep_families_contiguous_and_each_series_oldest_first(tmp_path: Path) -> None:
    """Runs written day by day merge (in passes above the fan-in) into series-major, time-ordered lines."""
    runs = []
    for day in range(5):
        stamp = 1_000_000 + day * 86400
        points = [(stamp, _sample("b", day)), (stamp, _sample("a", day))]
        points.append(
            (stamp, metrics.ACTIVITY_LOC_REMOVED.sample(day, {"org": "o", "repo": "r", "user": "a"}))
        )
        path = tmp_path / f"{day}.run"
        write_run(path, run_lines(points))
        runs.append(path)
    with merged(list(reversed(runs)), tmp_path / "scratch", fan_in=2) as lines:
        out = list(lines)
    series = [line.split("\t")[0] for line in out]
    assert series == sorted(series)
    assert series.count('gh_activity_loc_added_weekly{org="o",repo="r",user="a"}') == 5
    stamps = [int(line.split("\t")[1]) for line in out if 'user="b"' in line]
    assert stamps == sorted(stamps)
    assert not list((tmp_path / "scratch").iterdir())  # intermediate runs are removed


def test_the_file_has_one_header_per_family_timestamps_no_duplicates_and_eof(tmp_path: Path) -> None:
    """OpenMetrics with timestamps: a family's TYPE once, a repeated point once, `# EOF` at the end."""
    lines = run_lines([(100, _sample("a", 1)), (200, _sample("a", 2.5))])
    written = write_openmetrics([*lines, lines[-1]], tmp_path / "out.om")
    text = (tmp_path / "out.om").read_text()
    assert text.count("# TYPE gh_activity_loc_added_weekly gauge") == 1
    assert 'gh_activity_loc_added_weekly{org="o",repo="r",user="a"} 1 100\n' in text
    assert 'gh_activity_loc_added_weekly{org="o",repo="r",user="a"} 2.5 200\n' in text
    assert text.endswith("# EOF\n")
    assert (written.series, written.samples, written.families) == (1, 2, 1)


def test_the_state_marks_tasks_done_and_refuses_another_plan(tmp_path: Path) -> None:
    """A task is done once its record is written; a state directory of another plan is refused."""
    state = StateDir(tmp_path / "s", "plan-a")
    assert state.done("k") is None
    state.finish("k", ["x\t000000000001\t1\n"], TaskRecord("ok", 1))
    assert state.done("k") == TaskRecord("ok", 1)
    (state.runs / "broken.json").write_text("{")
    assert state.done("broken") is None  # a record cut by a crash: the task runs again
    assert StateDir(tmp_path / "s", "plan-a").done("k") is not None
    with pytest.raises(HistoryError, match="another history plan"):
        StateDir(tmp_path / "s", "plan-b")


def test_the_estimate_waits_for_resets_only_beyond_the_remaining_budget() -> None:
    """Requests within the budget above the threshold go at once; the rest waits for hourly resets."""
    state = RateLimitState(limit=5000, remaining=1100, used=3900, reset_at=1_000.0 + 600, resource="core")
    assert estimate(900, state, 100, now=1_000.0).wait_seconds == 0.0
    assert estimate(1500, state, 100, now=1_000.0).wait_seconds == 600.0
    assert estimate(1000 + 4900 * 2, state, 100, now=1_000.0).wait_seconds == 600.0 + 3600.0
    assert estimate(10, None, 100, now=0.0).wait_seconds is None


def test_tsdb_without_promtool_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """--tsdb with no promtool on the PATH says how to get it or run it by hand."""
    monkeypatch.setenv("PATH", "")
    with pytest.raises(HistoryError) as info:
        promtool()
    assert str(info.value) == MISSING


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--from", "2026-13-01"], id="malformed-day"),
        pytest.param(["--from", "2026-01-01", "--concurrency", "0"], id="zero-concurrency"),
    ],
)
def test_the_command_rejects_bad_arguments(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A --from that is not YYYY-MM-DD or a --concurrency below 1 stops argparse, naming the value."""
    with pytest.raises(SystemExit) as info:
        cli.main(["history", *args, "--output", "x.om"])
    assert info.value.code == 2
    assert f"{args[-1]!r}" in capsys.readouterr().err


def test_a_to_beyond_the_newest_day_is_clipped_with_a_warning() -> None:
    """--to after the newest published day ends at that day and says so."""
    span = resolve_span(TODAY, date(2026, 11, 1), date(2026, 12, 5))
    assert span.last == date(2026, 12, 3)
    assert any("not available yet" in w for w in span.warnings)


async def test_a_failing_promtool_is_reported_with_its_output(tmp_path: Path) -> None:
    """promtool's exit code and the end of its output become the error."""
    fake = tmp_path / "promtool"
    fake.write_text("#!/bin/sh\necho 'out of order sample' >&2\nexit 1\n")
    fake.chmod(0o755)
    write_openmetrics(run_lines([(100, _sample("a", 1))]), tmp_path / "h.om")
    with pytest.raises(HistoryError, match=r"promtool failed \(exit 1\): out of order sample"):
        await create_blocks(str(fake), tmp_path / "h.om", tmp_path / "blocks", tmp_path / "weeks")
    assert not list((tmp_path / "weeks").iterdir())  # the week files are removed after


def test_a_history_file_splits_into_weeks_that_keep_order_and_metadata(tmp_path: Path) -> None:
    """Each week's file has its families' metadata, its points in the source order and `# EOF`."""
    week = 7 * 86400
    removed = metrics.ACTIVITY_LOC_REMOVED.sample(5, {"org": "o", "repo": "r", "user": "a"})
    points = [
        (week * 10 + 1, _sample("a", 1)),
        (week * 10 + 2, _sample("a", 2)),
        (week * 11 + 1, _sample("a", 3)),
    ]
    points += [(week * 11 + 5, _sample("b", 4)), (week * 10 + 3, removed)]
    write_openmetrics(run_lines(points), tmp_path / "h.om")
    first, second = split_by_week(tmp_path / "h.om", tmp_path / "weeks")
    one, two = first.read_text(), second.read_text()
    assert one.count("# TYPE gh_activity_loc_added_weekly gauge") == 1
    assert one.count("# TYPE gh_activity_loc_removed_weekly gauge") == 1
    assert 'user="a"} 1 ' in one
    assert one.index('user="a"} 1 ') < one.index('user="a"} 2 ')
    assert 'user="a"} 3 ' in two
    assert 'user="b"} 4 ' in two
    assert "gh_activity_loc_removed_weekly{" not in two
    assert one.endswith("# EOF\n")
    assert two.endswith("# EOF\n")
