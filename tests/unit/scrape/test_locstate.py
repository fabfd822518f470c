"""The pure LOC core: week boundaries, the state machine, zero detection, totals, cache records, samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from github_stats_exporter import metrics
from github_stats_exporter.github.stats import CommitRef, CommitStats, ContributorWeeks, WeekCounts
from github_stats_exporter.scrape.locstate import (
    FALLBACK,
    PRIMARY,
    WEEK_SECONDS,
    LocPolicy,
    LocState,
    WeekTotals,
    cached_commit,
    current_mode,
    decode_cache,
    encode_cache,
    hour_bucket,
    is_due,
    loc_samples,
    loc_week,
    observe,
    sampled_totals,
    week_commits,
    week_totals,
)
from github_stats_exporter.simulator.truth import loc_week_start

SUNDAY = datetime(2026, 5, 24, tzinfo=UTC).timestamp()  # Sunday 00:00 UTC
W = int(SUNDAY) - WEEK_SECONDS  # the complete week that ends at SUNDAY
DETECT = LocPolicy(
    fallback_enabled=True, zero_detection_windows=2, detail_calls_per_hour=100, cooldown=1000.0
)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(SUNDAY, W, id="exactly-sunday-midnight-completes-the-week"),
        pytest.param(SUNDAY - 1, W - WEEK_SECONDS, id="one-second-before-it-does-not"),
        pytest.param(SUNDAY + 6 * 86400 + 86399, W, id="saturday-night-still-same-week"),
        pytest.param(SUNDAY + WEEK_SECONDS, W + WEEK_SECONDS, id="next-sunday-moves-on"),
    ],
)
def test_selected_week_boundary(now: float, expected: int) -> None:
    """The selected week is the newest Sunday-00:00-UTC start w with w + 7 days <= now."""
    assert loc_week(now) == expected
    assert datetime.fromtimestamp(expected, UTC).weekday() == 6  # Sunday


@given(st.floats(min_value=1e9, max_value=4e9, allow_nan=False))
def test_selected_week_agrees_with_the_simulator_truth(now: float) -> None:
    """Our week arithmetic equals the ground truth's at any time."""
    assert loc_week(now) == loc_week_start(now)
    assert loc_week(now) + WEEK_SECONDS <= now < loc_week(now) + 2 * WEEK_SECONDS


def test_hour_bucket_is_the_clock_hour() -> None:
    """Budgets are booked per clock hour: 10:59:59 and 10:00:00 share a bucket, 11:00:00 does not."""
    ten = datetime(2026, 5, 27, 10, tzinfo=UTC).timestamp()
    assert hour_bucket(ten) == hour_bucket(ten + 3599) != hour_bucket(ten + 3600)


def test_week_totals_sum_unknown_contributors_and_pick_only_the_week() -> None:
    """Entries without a login are summed into 'unknown'; only cells inside the selected week count."""
    contributors = [
        ContributorWeeks("ana", (WeekCounts(W - WEEK_SECONDS, 50, 5, 2), WeekCounts(W, 10, 2, 1))),
        ContributorWeeks(None, (WeekCounts(W, 3, 1, 1),)),
        ContributorWeeks(None, (WeekCounts(W, 4, 0, 2), WeekCounts(W + WEEK_SECONDS, 9, 9, 9))),
        ContributorWeeks("bob", (WeekCounts(W, 0, 0, 0),)),
    ]
    totals = week_totals(contributors, W)
    assert totals.lines == {"ana": (10, 2), "unknown": (7, 1), "bob": (0, 0)}
    assert totals.commits == 4
    assert not totals.zeroed


@pytest.mark.parametrize(
    ("cells", "zeroed"),
    [
        pytest.param([("a", 0, 0, 3), ("b", 0, 0, 1)], True, id="commits-but-no-lines"),
        pytest.param([("a", 0, 0, 3), ("b", 1, 0, 1)], False, id="one-line-is-enough"),
        pytest.param([("a", 0, 0, 0)], False, id="no-commits-is-an-idle-week"),
        pytest.param([], False, id="no-contributors"),
    ],
)
def test_zeroed_detection_input(cells: list[tuple[str, int, int, int]], zeroed: bool) -> None:
    """A week is 'zeroed' when some contributor has commits but nobody has a single added or removed line."""
    contributors = [ContributorWeeks(u, (WeekCounts(W, a, d, c),)) for u, a, d, c in cells]
    assert week_totals(contributors, W).zeroed is zeroed


@pytest.mark.parametrize(
    ("policy", "windows_before", "zeroed", "verdict", "windows_after", "mode"),
    [
        pytest.param(DETECT, 0, False, "publish", 0, PRIMARY, id="normal-answer"),
        pytest.param(DETECT, 1, False, "publish", 0, PRIMARY, id="non-zero-resets-the-count"),
        pytest.param(DETECT, 0, True, "hold", 1, PRIMARY, id="first-zero-window-holds"),
        pytest.param(DETECT, 1, True, "fallback", 2, FALLBACK, id="second-zero-window-switches"),
        pytest.param(
            LocPolicy(fallback_enabled=True, zero_detection_windows=1),
            0,
            True,
            "fallback",
            1,
            FALLBACK,
            id="one-window",
        ),
        pytest.param(
            LocPolicy(fallback_enabled=True, zero_detection_windows=0),
            5,
            True,
            "publish",
            0,
            PRIMARY,
            id="zero-disables",
        ),
        pytest.param(
            LocPolicy(fallback_enabled=False, zero_detection_windows=2),
            1,
            True,
            "publish",
            0,
            PRIMARY,
            id="no-fallback",
        ),
    ],
)
def test_zero_detection_thresholds(
    policy: LocPolicy, windows_before: int, zeroed: bool, verdict: str, windows_after: int, mode: str
) -> None:
    """Zeroed answers switch to sampling only after the configured number of consecutive windows."""
    state, got = observe(LocState(zero_windows=windows_before), zeroed, 500.0, policy)
    assert (got, state.zero_windows, state.mode) == (verdict, windows_after, mode)
    if mode == FALLBACK:
        assert state.fallback_until == 500.0 + policy.cooldown


@pytest.mark.parametrize(
    ("now", "policy", "mode"),
    [
        pytest.param(999.0, DETECT, FALLBACK, id="before-cooldown-end"),
        pytest.param(1000.0, DETECT, PRIMARY, id="cooldown-expired"),
        pytest.param(10.0, LocPolicy(fallback_enabled=False), PRIMARY, id="fallback-switched-off"),
    ],
)
def test_cooldown_expiry_returns_to_primary(now: float, policy: LocPolicy, mode: str) -> None:
    """Fallback lasts until fallback_until; afterwards (or once disabled) stats/contributors is asked again."""
    state = current_mode(
        LocState(mode=FALLBACK, fallback_until=1000.0, zero_windows=2, more=True), now, policy
    )
    assert state.mode == mode
    assert state.zero_windows == 2  # a still-zeroed repo goes straight back to sampling


def test_still_zeroed_after_cooldown_switches_back_immediately() -> None:
    """After the cooldown one more zeroed answer is enough, so the repo never loses its values for a detection period."""
    expired = current_mode(LocState(mode=FALLBACK, fallback_until=1000.0, zero_windows=2), 2000.0, DETECT)
    state, verdict = observe(expired, True, 2000.0, DETECT)
    assert (verdict, state.mode, state.fallback_until) == ("fallback", FALLBACK, 3000.0)


NOW = float(SUNDAY + 3 * 86400)
FRESH = LocState(last_refresh=NOW - 60, week=W)


@pytest.mark.parametrize(
    ("state", "due"),
    [
        pytest.param(LocState(), True, id="never-refreshed"),
        pytest.param(FRESH, False, id="fresh-within-interval"),
        pytest.param(LocState(last_refresh=NOW - 86400, week=W), True, id="interval-elapsed"),
        pytest.param(LocState(last_refresh=NOW - 60, week=W - WEEK_SECONDS), True, id="new-week-started"),
        pytest.param(LocState(last_refresh=NOW - 60, week=W, warming=True), True, id="202-pending"),
        pytest.param(LocState(last_refresh=NOW - 60, week=W, failed=True), True, id="last-attempt-failed"),
        pytest.param(LocState(last_refresh=NOW - 60, week=W, zero_windows=1), True, id="zeroing-suspected"),
        pytest.param(
            LocState(mode=FALLBACK, last_refresh=NOW - 60, week=W, more=True),
            True,
            id="sampling-left-commits",
        ),
        pytest.param(
            LocState(mode=FALLBACK, last_refresh=NOW - 60, week=W, zero_windows=2), False, id="sampled"
        ),
    ],
)
def test_refresh_is_due_only_when_needed(state: LocState, due: bool) -> None:
    """Stats are asked only when stale, a new week began, a 202 is pending, zeroing is suspected or work is left."""
    assert (
        is_due(
            state,
            NOW,
            W,
            LocPolicy(refresh_interval=86400.0, fallback_enabled=True, zero_detection_windows=2),
        )
        is due
    )


def test_state_record_round_trip_and_tolerance() -> None:
    """The state survives the store; unreadable records fall back to a fresh state, an unknown mode to primary."""
    state = LocState(FALLBACK, 123.5, 2, 99.25, W, warming=True, failed=False, more=True)
    assert LocState.from_record(state.to_record()) == state
    assert LocState.from_record(None) == LocState()
    assert LocState.from_record(b'{"mode": "bogus", "week": "x", "zero_windows": ""}') == LocState()
    assert LocState.from_record(b'{"mode": "bogus", "week": 7}') == LocState(week=7)


def test_state_record_of_an_earlier_version_still_reads() -> None:
    """Records that held every field as a string (before the one codec) read into the same state."""
    legacy = {
        "mode": FALLBACK,
        "fallback_until": "123.5",
        "zero_windows": "2",
        "last_refresh": "99.25",
        "week": str(W),
        "warming": "1",
        "failed": "0",
        "more": "1",
    }
    expected = LocState(FALLBACK, 123.5, 2, 99.25, W, warming=True, failed=False, more=True)
    assert LocState.from_record(json.dumps(legacy).encode()) == expected


def _ref(sha: str, at: float, *, parents: int = 1, login: str | None = "ana") -> CommitRef:
    return CommitRef(sha, login, at, parents)


def test_week_commits_keep_the_weeks_non_merge_commits_oldest_first() -> None:
    """Sampling keeps commits authored inside the week (not merges), in a stable oldest-first order."""
    refs = [
        _ref("late", W + WEEK_SECONDS - 1),
        _ref("merge", W + 10, parents=2),
        _ref("next-week", W + WEEK_SECONDS),
        _ref("early", W),
        _ref("before", W - 1),
    ]
    assert [r.sha for r in week_commits(refs, W)] == ["early", "late"]


def test_sampled_totals_attribute_and_count_gaps() -> None:
    """Details sum per author (list login as a fallback, else 'unknown'); missing or invalid details are gaps."""
    refs = [
        _ref("a", W),
        _ref("b", W + 1, login=None),
        _ref("c", W + 2, login="listed"),
        _ref("d", W + 3),
        _ref("e", W),
    ]
    cache = {
        "a": cached_commit(refs[0], CommitStats("a", "ana", 5, 1)),
        "b": cached_commit(refs[1], CommitStats("b", None, 2, 2)),
        "c": cached_commit(refs[2], CommitStats("c", None, 1, 0)),
        "e": cached_commit(refs[4], CommitStats("e", "ana", 0, 0, valid=False)),
    }
    totals, gaps = sampled_totals(refs, cache)
    assert totals.lines == {"ana": (5, 1), "unknown": (2, 2), "listed": (1, 0)}
    assert gaps == 2


def test_commit_cache_record_is_per_week() -> None:
    """The detail cache round-trips through its record and is ignored for another week or when corrupt."""
    cache = {"abc": ("ana", 3, 1, True), "def": ("unknown", 0, 0, False)}
    record = encode_cache(W, cache)
    assert decode_cache(record, W) == cache
    assert decode_cache(record, W + WEEK_SECONDS) == {}
    assert decode_cache(json.dumps({"week": str(W), "commits": "{not json"}).encode(), W) == {}
    assert decode_cache(None, W) == {}


def test_commit_cache_record_of_an_earlier_version_still_reads() -> None:
    """A cache that held its commits as JSON text inside the record (before the one codec) reads the same."""
    legacy = {"week": str(W), "commits": json.dumps({"abc": ["ana", 3, 1, True]})}
    assert decode_cache(json.dumps(legacy).encode(), W) == {"abc": ("ana", 3, 1, True)}


def test_samples_only_for_active_users_with_one_hot_mode() -> None:
    """Only users with lines get the two LOC series; the source mode is one-hot and the partial flag is 0/1."""
    totals = WeekTotals({"ana": (3, 0), "bob": (0, 0), "unknown": (0, 4)}, 5)
    samples = loc_samples("acme", "web", totals, mode=FALLBACK, incomplete=True)
    values = {(s.name, *(v for _, v in s.labels)): s.value for s in samples}
    assert values == {
        (metrics.ACTIVITY_LOC_ADDED.name, "acme", "web", "ana"): 3,
        (metrics.ACTIVITY_LOC_REMOVED.name, "acme", "web", "ana"): 0,
        (metrics.ACTIVITY_LOC_ADDED.name, "acme", "web", "unknown"): 0,
        (metrics.ACTIVITY_LOC_REMOVED.name, "acme", "web", "unknown"): 4,
        (metrics.LOC_SOURCE_MODE.name, "acme", "web", PRIMARY): 0,
        (metrics.LOC_SOURCE_MODE.name, "acme", "web", FALLBACK): 1,
        (metrics.LOC_FALLBACK_INCOMPLETE.name, "acme", "web"): 1,
    }
