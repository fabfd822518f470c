"""The activity ledger: dedupe, trimming, window edges, checkpoints, attribution and its stored form."""

from __future__ import annotations

import gc
import json
import math

import pytest

from github_stats_exporter.scrape.ledger import (
    MARGIN_SECONDS,
    OVERLAP_SECONDS,
    WINDOW_SECONDS,
    EventKind,
    Ledger,
    LedgerFormatError,
    commit_user,
    user_label,
)

NOW = 1_780_000_000.0


def values(ledger: Ledger, now: float = NOW) -> dict[tuple[str, str], float]:
    return {(s.name, s.label("user") or ""): s.value for s in ledger.samples("acme", "widgets", now)}


@pytest.mark.parametrize(
    ("login", "email", "name", "expected"),
    [
        pytest.param("octocat", "octo@example.com", "Octo", "octocat", id="linked-author"),
        pytest.param("dependabot[bot]", "", "", "dependabot[bot]", id="bot-linked"),
        pytest.param("ghost", "", "", "ghost", id="ghost-keeps-login"),
        pytest.param(None, "12345+mona@users.noreply.github.com", "Mona", "mona", id="noreply-with-id"),
        pytest.param(None, "mona@users.noreply.github.com", "Mona", "mona", id="noreply-legacy"),
        pytest.param(None, "12345+Mona@Users.NoReply.GitHub.com", "", "Mona", id="noreply-any-case"),
        pytest.param(None, "dev@example.com", "Dev", "unlinked_git_author", id="plain-email"),
        pytest.param(None, "", "Only A Name", "unlinked_git_author", id="name-only"),
        pytest.param(None, "", "", "unattributed_commit", id="no-name-no-email"),
        pytest.param("", "", "", "unattributed_commit", id="empty-login-is-unlinked"),
    ],
)
def test_commit_attribution(login: str | None, email: str, name: str, expected: str) -> None:
    """A commit counts for its linked login, else the noreply login, else the documented placeholders."""
    assert commit_user(login, email, name) == expected


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        pytest.param("octocat", "octocat", id="login"),
        pytest.param("github-actions[bot]", "github-actions[bot]", id="bot"),
        pytest.param("ghost", "ghost", id="ghost"),
        pytest.param(None, "unknown", id="null-user"),
        pytest.param("", "unknown", id="empty-login"),
    ],
)
def test_user_label_for_prs_reviews_comments(login: str | None, expected: str) -> None:
    """PRs, reviews and comments count for the login; a missing user is ``unknown``."""
    assert user_label(login) == expected


def test_events_are_deduplicated_by_kind_and_id() -> None:
    """Seeing the same event again changes nothing; the same id under another kind is another event."""
    ledger = Ledger()
    assert ledger.add(EventKind.COMMIT, "abc", NOW - 10, "mona")
    assert not ledger.add(EventKind.COMMIT, "abc", NOW - 10, "mona")
    assert ledger.add(EventKind.PR_OPENED, "7", NOW - 10, "mona")
    assert ledger.add(EventKind.PR_MERGED, "7", NOW - 5, "mona")
    assert values(ledger) == {
        ("gh_activity_commits_24h", "mona"): 1,
        ("gh_activity_prs_opened_24h", "mona"): 1,
        ("gh_activity_prs_merged_24h", "mona"): 1,
        ("gh_activity_last_event_unixtime", "mona"): NOW - 5,
    }


@pytest.mark.parametrize(
    ("offset", "counted"),
    [
        pytest.param(-WINDOW_SECONDS - 1, False, id="just-before-window"),
        pytest.param(-WINDOW_SECONDS, True, id="window-start-inclusive"),
        pytest.param(-1, True, id="just-before-now"),
        pytest.param(0, False, id="now-exclusive"),
        pytest.param(5, False, id="future"),
    ],
)
def test_window_is_half_open(offset: float, counted: bool) -> None:
    """Counts cover [now - 24h, now): the start is in, ``now`` itself is not."""
    ledger = Ledger()
    ledger.add(EventKind.REVIEW, "1", NOW + offset, "mona")
    expected = {
        ("gh_activity_reviews_submitted_24h", "mona"): 1,
        ("gh_activity_last_event_unixtime", "mona"): NOW + offset,
    }
    assert values(ledger) == (expected if counted else {})


def test_last_event_is_the_newest_counted_event_per_user() -> None:
    """The last-event gauge takes the newest counted event of any kind, ignoring events outside the window."""
    ledger = Ledger()
    ledger.add(EventKind.COMMIT, "a", NOW - 100, "mona")
    ledger.add(EventKind.COMMENT, "c1", NOW - 50, "mona")
    ledger.add(EventKind.COMMENT, "c2", NOW + 10, "mona")  # not yet in the window
    ledger.add(EventKind.COMMENT, "c3", NOW - 60, "hubot")
    got = values(ledger)
    assert got[("gh_activity_last_event_unixtime", "mona")] == NOW - 50
    assert got[("gh_activity_last_event_unixtime", "hubot")] == NOW - 60
    assert got[("gh_activity_issue_comments_24h", "mona")] == 1


def test_events_age_out_as_time_moves() -> None:
    """The same ledger gives smaller counts later, and none once every event left the window."""
    ledger = Ledger()
    ledger.add(EventKind.COMMIT, "a", NOW - 3600, "mona")
    ledger.add(EventKind.COMMIT, "b", NOW - 60, "mona")
    assert values(ledger)[("gh_activity_commits_24h", "mona")] == 2
    later = NOW - 3600 + WINDOW_SECONDS + 1
    assert values(ledger, later)[("gh_activity_commits_24h", "mona")] == 1
    assert values(ledger, NOW + WINDOW_SECONDS) == {}


def test_next_change_is_the_next_window_edge() -> None:
    """Samples stay valid until an event enters or leaves the window, and adding an event invalidates them."""
    ledger = Ledger()
    ledger.add(EventKind.COMMIT, "a", NOW - 3600, "mona")
    ledger.add(EventKind.COMMIT, "b", NOW + 30, "mona")
    assert ledger.next_change(NOW) == NOW + 30
    ledger.samples("acme", "widgets", NOW)
    assert ledger.unchanged_since_samples(NOW + 29)
    assert not ledger.unchanged_since_samples(NOW + 30)
    ledger.add(EventKind.COMMIT, "c", NOW - 1, "mona")
    assert not ledger.unchanged_since_samples(NOW)
    assert Ledger().next_change(NOW) == math.inf


def test_trim_drops_events_and_pr_marks_before_the_floor() -> None:
    """Trimming keeps the ledger small: only events at or after the floor survive."""
    ledger = Ledger()
    floor = NOW - WINDOW_SECONDS - MARGIN_SECONDS
    ledger.add(EventKind.COMMIT, "old", floor - 1, "mona")
    ledger.add(EventKind.COMMIT, "edge", floor, "mona")
    ledger.pr_reviewed[1] = floor - 1
    ledger.pr_reviewed[2] = floor + 1
    assert ledger.trim(floor) == 1
    assert len(ledger) == 1
    assert ledger.pr_reviewed == {2: floor + 1}


def test_since_starts_at_window_plus_margin_and_stays_put_while_idle() -> None:
    """First run fetches 24h + margin; a fetch without new data keeps the same since (same URL, 304s)."""
    ledger = Ledger()
    first = ledger.since_for("commits", NOW)
    assert first == int(NOW - WINDOW_SECONDS - MARGIN_SECONDS)
    assert ledger.advance("commits", first, None, NOW)
    for step in range(1, 30):
        now = NOW + step * 3600
        assert ledger.since_for("commits", now) == first
        assert not ledger.advance("commits", first, None, now)


def test_since_moves_only_when_data_arrives_behind_the_window_or_spans_pages() -> None:
    """A response with data moves since to newest - overlap once since lags the window or paging grew."""
    ledger = Ledger()
    since = ledger.since_for("pulls", NOW)
    ledger.advance("pulls", since, NOW - 60, NOW)  # since is exactly the floor: not behind yet
    assert ledger.since_for("pulls", NOW + 300) == since
    assert ledger.advance("pulls", since, NOW + 200, NOW + 300)  # now since < floor
    assert ledger.since_for("pulls", NOW + 600) == int(NOW + 200 - OVERLAP_SECONDS)
    moved = ledger.since_for("pulls", NOW + 600)
    assert ledger.advance("pulls", moved, NOW + 900, NOW + 1000, pages=2)
    assert ledger.since_for("pulls", NOW + 1200) == int(NOW + 900 - OVERLAP_SECONDS)


def test_first_fetch_at_a_fractional_instant_keeps_its_since() -> None:
    """A first fetch that brought data at a non-whole second keeps since, so the next cycle asks the same URL (a 304)."""
    ledger = Ledger()
    now = NOW + 0.75
    since = ledger.since_for("commits", now)
    ledger.advance("commits", since, now - 60, now)
    assert ledger.since_for("commits", now + 60) == since


def test_outage_longer_than_window_restarts_at_the_window_not_the_checkpoint() -> None:
    """After an outage the next fetch starts at now - 24h - margin: the window is never widened."""
    ledger = Ledger()
    ledger.advance("comments", int(NOW - 1000), None, NOW)
    later = NOW + WINDOW_SECONDS + MARGIN_SECONDS + 1
    assert ledger.since_for("comments", later) == int(later - WINDOW_SECONDS - MARGIN_SECONDS)
    assert ledger.since_for("comments", NOW + WINDOW_SECONDS) == int(NOW - 1000)


def test_round_trip_through_the_store_record() -> None:
    """A ledger written to a checkpoint record reads back identical (events, streams, PR marks)."""
    ledger = Ledger()
    ledger.add(EventKind.COMMIT, "a" * 40, NOW - 5, "mona")
    ledger.add(EventKind.REVIEW, "99", NOW - 7, "hubot")
    ledger.add(EventKind.COMMENT, "100", NOW - 9, "mona")
    ledger.advance("commits", 1_779_000_000, None, NOW)
    ledger.pr_reviewed[12] = NOW - 3
    record = ledger.to_record("rev1")
    assert Ledger.revision(record) == "rev1"
    back = Ledger.from_record(record)
    assert back is not None
    assert back.events == ledger.events
    assert back.streams == ledger.streams
    assert back.pr_reviewed == {12: float(int(NOW - 3))}
    assert values(back) == values(ledger)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param('{"v": 99, "users": [], "events": []}', id="future-version"),
        pytest.param('{"v": 1, "users": [], "events": [[0, "a", 1.0, 3]]}', id="dangling-user"),
        pytest.param('{"v": 1, "users": "x", "events": []}', id="wrong-type"),
    ],
)
def test_unreadable_ledgers_raise_a_format_error(text: str) -> None:
    """A corrupt or foreign ledger is reported as LedgerFormatError, never half-loaded."""
    with pytest.raises(LedgerFormatError):
        Ledger.from_record(b'{"rev": "r", "ledger": ' + text.encode() + b"}")


def test_checkpoints_and_events_leave_the_garbage_collectors_sight() -> None:
    """A process keeps a ledger per repository: its checkpoints and events are numbers and strings the GC stops scanning."""
    ledger = Ledger()
    ledger.add(EventKind.COMMIT, "a" * 40, NOW - 5, "mona")
    for stream in ("commits", "pulls", "comments"):
        ledger.advance(stream, int(NOW) - 3600, NOW - 5, NOW)
    # The first pass may meet a dict before the tuples inside it; the second finds them all untracked.
    gc.collect()
    gc.collect()

    assert not gc.is_tracked(ledger.streams)
    assert not gc.is_tracked(ledger.events)
    assert ledger.since_for("pulls", NOW + 60) == int(NOW) - 3600


def test_a_record_of_an_earlier_version_still_reads() -> None:
    """A record that held the ledger as JSON text inside JSON (before the one codec) reads back the same."""
    ledger = Ledger()
    ledger.add(EventKind.COMMIT, "a" * 40, NOW - 5, "mona")
    ledger.advance("commits", 1_779_000_000, None, NOW)
    inner = json.loads(ledger.to_record("rev1"))["ledger"]
    legacy = json.dumps({"rev": "rev1", "ledger": json.dumps(inner)}).encode()
    back = Ledger.from_record(legacy)
    assert Ledger.revision(legacy) == "rev1"
    assert back is not None
    assert (back.events, back.streams) == (ledger.events, ledger.streams)


@pytest.mark.parametrize(
    "record", [pytest.param(b"{}", id="empty"), pytest.param(b'{"ledger": ""}', id="blank")]
)
def test_empty_record_means_no_ledger(record: bytes) -> None:
    """The empty record earlier versions wrote when a repo was forgotten reads as "no ledger"."""
    assert Ledger.from_record(record) is None
