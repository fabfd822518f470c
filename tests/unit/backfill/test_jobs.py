"""The message contract: round trips, version-1 bodies already in queues, validation of every field."""

from __future__ import annotations

import json
from datetime import date

import pytest

from github_stats_exporter.backfill.base import delay_label, retry_queue_name
from github_stats_exporter.backfill.jobs import (
    MAX_BODY_BYTES,
    BackfillJob,
    MalformedJob,
    decode_job,
    dedup_key,
    encode_job,
    new_job,
)
from github_stats_exporter.model import (
    ActivityReason,
    CopilotReason,
    DayWindow,
    JobKind,
    LocReason,
    MissedWindow,
    TimeWindow,
)

T0 = 1_717_243_200.0


def _activity() -> BackfillJob:
    window = TimeWindow(T0 - 900, T0)
    missed = MissedWindow(JobKind.ACTIVITY, "org", "acme", "widgets", ActivityReason.PULLS_FAILED, window)
    return new_job(missed, created_at=T0 + 0.25)


def _copilot(
    report_type: str = "users", reason: CopilotReason = CopilotReason.REPORT_DOWNLOAD_ERROR
) -> BackfillJob:
    day = date(2024, 5, 30)
    missed = MissedWindow(JobKind.COPILOT, "enterprise", "bigco", report_type, reason, DayWindow(day, day))
    return new_job(missed, created_at=T0)


def _body(job: BackfillJob) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(encode_job(job))
    return decoded


def test_activity_job_round_trips_through_the_wire_format():
    """An encoded activity job decodes to an equal job, window and creation time included."""
    job = _activity()
    assert decode_job(encode_job(job)) == job


def test_copilot_job_round_trips_with_its_day():
    """A Copilot job carries a day instead of a time window and survives the round trip."""
    job = _copilot()
    body = _body(job)
    assert body["day"] == "2024-05-30"
    assert "window_start" not in body
    # The report and its day are spelled out a second time, as version 1 always did.
    assert (body["scope"], body["scope_id"], body["report_type"], body["reason"]) == (
        "enterprise",
        "bigco",
        "users",
        "copilot_report_download_error",
    )
    assert body["window_start_day"] == body["window_end_day"] == "2024-05-30"
    assert decode_job(encode_job(job)) == job


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("report_type", "organization", id="report-type-disagrees"),
        pytest.param("window_start_day", "2024-05-29", id="start-day-disagrees"),
        pytest.param("window_end_day", "2024-05-31", id="end-day-disagrees"),
    ],
)
def test_copilot_job_with_inconsistent_second_names_is_malformed(field: str, value: str):
    """A body whose report_type/window_*_day contradict its target/day is refused, naming the field."""
    body = _body(_copilot(reason=CopilotReason.REPORT_FETCH_ERROR))
    body[field] = value
    with pytest.raises(MalformedJob, match=field):
        decode_job(json.dumps(body).encode())


def test_body_is_versioned_and_readable():
    """The body names its schema version and writes times as RFC 3339 UTC."""
    body = _body(_activity())
    assert body["version"] == 1
    assert body["window_end"] == "2024-06-01T12:00:00.000000Z"
    assert body["attempt"] == 1


def test_next_attempt_increments_only_the_attempt():
    """A retry copy keeps id, dedup key and creation time and counts one attempt more."""
    job = _activity()
    retry = decode_job(encode_job(job.next_attempt()))
    assert (retry.attempt, retry.job_id, retry.created_at) == (2, job.job_id, job.created_at)


def test_dedup_key_names_kind_scope_target_and_window():
    """The dedup key is kind:scope:scope_id:target:start:end (days for Copilot)."""
    activity = MissedWindow(
        JobKind.ACTIVITY, "org", "acme", "w", ActivityReason.COMMITS_FAILED, TimeWindow(10.4, 20.2)
    )
    assert dedup_key(activity) == "activity:org:acme:w:10:21"
    day = date(2024, 5, 1)
    copilot = MissedWindow(
        JobKind.COPILOT, "org", "acme", "users", CopilotReason.REPORT_PARSE_ERROR, DayWindow(day, day)
    )
    assert dedup_key(copilot) == "copilot:org:acme:users:2024-05-01:2024-05-01"


def test_a_copilot_job_covers_exactly_one_day():
    """A multi-day Copilot window cannot become one job: the 1-day endpoint serves a single day."""
    missed = MissedWindow(
        JobKind.COPILOT,
        "org",
        "acme",
        "users",
        CopilotReason.REPORT_FETCH_ERROR,
        DayWindow(date(2024, 5, 1), date(2024, 5, 2)),
    )
    with pytest.raises(ValueError, match="one day"):
        new_job(missed, created_at=T0)


def _mutated(**changes: object) -> bytes:
    body = _body(_activity())
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"\xff\xfe", "not_json", id="binary"),
        pytest.param(b"{not json", "not_json", id="broken-json"),
        pytest.param(b"[1, 2]", "not_an_object", id="array"),
        pytest.param(b"x" * (MAX_BODY_BYTES + 1), "too_large", id="too-large"),
        pytest.param(_mutated(version=...), "missing_field:version", id="no-version"),
        pytest.param(_mutated(version=2), "unsupported_version:2", id="future-version"),
        pytest.param(_mutated(version="1"), "unsupported_version:1", id="string-version"),
        pytest.param(_mutated(kind="pages"), "bad_field:kind", id="unknown-kind"),
        pytest.param(_mutated(scope="team"), "bad_field:scope", id="unknown-scope"),
        pytest.param(_mutated(job_id=...), "missing_field:job_id", id="no-job-id"),
        pytest.param(_mutated(job_id=""), "bad_field:job_id", id="empty-job-id"),
        pytest.param(_mutated(target=7), "bad_field:target", id="numeric-target"),
        pytest.param(_mutated(attempt=...), "missing_field:attempt", id="no-attempt"),
        pytest.param(_mutated(attempt=0), "bad_field:attempt", id="attempt-zero"),
        pytest.param(_mutated(attempt=True), "bad_field:attempt", id="attempt-bool"),
        pytest.param(_mutated(created_at="yesterday"), "bad_field:created_at", id="bad-time"),
        pytest.param(_mutated(created_at="2024-06-01T12:00:00"), "bad_field:created_at", id="naive-time"),
        pytest.param(_mutated(window_end=...), "missing_field:window_end", id="no-window-end"),
        pytest.param(
            _mutated(window_start="2024-06-02T00:00:00Z", window_end="2024-06-01T00:00:00Z"),
            "bad_window",
            id="end-before-start",
        ),
        pytest.param(_mutated(kind="copilot", target="users"), "missing_field:day", id="copilot-no-day"),
        pytest.param(
            _mutated(kind="copilot", target="users", day="2024-13-01"), "bad_field:day", id="copilot-bad-day"
        ),
        pytest.param(
            _mutated(kind="copilot", target="widgets", day="2024-05-01"),
            "bad_field:target",
            id="copilot-bad-report-type",
        ),
        pytest.param(_mutated(reason=...), "missing_field:reason", id="no-reason"),
        pytest.param(_mutated(reason="activity_stars_failed"), "bad_field:reason", id="unknown-reason"),
        pytest.param(_mutated(reason="scrape_error"), "bad_field:reason", id="deleted-reason"),
        pytest.param(_mutated(kind="loc"), "bad_field:reason", id="reason-of-another-collector"),
    ],
)
def test_malformed_bodies_are_rejected_with_a_stable_reason(raw: bytes, reason: str):
    """Every kind of bad body raises MalformedJob naming what is wrong, never another exception."""
    with pytest.raises(MalformedJob) as caught:
        decode_job(raw)
    assert caught.value.reason == reason


# Version-1 bodies exactly as the encoder wrote them before the typed rewrite (work, retry and
# dead-letter queues may still hold them): they must decode, and re-encode to the same bytes.
V1_ACTIVITY = (
    b'{"attempt":1,"created_at":"2025-06-01T12:00:00.250000Z",'
    b'"dedup_key":"activity:org:acme:widgets:1748775600:1748779201",'
    b'"job_id":"000000000000000000000000000002c9","kind":"activity","reason":"activity_pulls_failed",'
    b'"scope":"org","scope_id":"acme","target":"widgets","version":1,'
    b'"window_end":"2025-06-01T12:00:00.123456Z","window_start":"2025-06-01T11:00:00.000000Z"}'
)
V1_ACTIVITY_RETRY = (
    b'{"attempt":3,"created_at":"2025-06-01T12:00:00.250000Z",'
    b'"dedup_key":"activity:org:acme:widgets:1748775600:1748779201",'
    b'"job_id":"000000000000000000000000000002c9","kind":"activity","reason":"activity_pulls_failed",'
    b'"scope":"org","scope_id":"acme","target":"widgets","version":1,'
    b'"window_end":"2025-06-01T12:00:00.123456Z","window_start":"2025-06-01T11:00:00.000000Z"}'
)
V1_LOC = (
    b'{"attempt":1,"created_at":"2025-06-01T12:00:00.000000Z",'
    b'"dedup_key":"loc:org:acme:widgets:1748217600:1748822400",'
    b'"job_id":"0000000000000000000000000000007f","kind":"loc","reason":"contributor_stats_failed",'
    b'"scope":"org","scope_id":"acme","target":"widgets","version":1,'
    b'"window_end":"2025-06-02T00:00:00.000000Z","window_start":"2025-05-26T00:00:00.000000Z"}'
)
V1_COPILOT_ENTERPRISE_USERS = (
    b'{"attempt":1,"created_at":"2025-06-01T12:00:00.000000Z","day":"2025-05-30",'
    b'"dedup_key":"copilot:enterprise:megacorp:users:2025-05-30:2025-05-30",'
    b'"job_id":"000000000000000000000000000000f9","kind":"copilot",'
    b'"reason":"copilot_report_download_error","report_type":"users","scope":"enterprise",'
    b'"scope_id":"megacorp","target":"users","version":1,"window_end_day":"2025-05-30",'
    b'"window_start_day":"2025-05-30"}'
)
V1_ACTIVITY_WHOLE_ORG = (
    b'{"attempt":1,"created_at":"2025-06-01T12:00:00.000000Z",'
    b'"dedup_key":"activity:org:Acme:*:1748692800:1748779200",'
    b'"job_id":"5f2b9c0e8a7d4e6f9b1c2d3e4f5a6b7c","kind":"activity",'
    b'"reason":"activity_commits_failed","scope":"org","scope_id":"Acme","target":"*","version":1,'
    b'"window_end":"2025-06-01T12:00:00.000000Z","window_start":"2025-05-31T12:00:00.000000Z"}'
)
V1_COPILOT_ORG = (
    b'{"attempt":1,"created_at":"2025-06-01T12:00:00.000000Z","day":"2025-05-31",'
    b'"dedup_key":"copilot:org:acme:organization:2025-05-31:2025-05-31",'
    b'"job_id":"0123456789abcdef0123456789abcdef","kind":"copilot",'
    b'"reason":"copilot_report_parse_error","report_type":"organization","scope":"org",'
    b'"scope_id":"acme","target":"organization","version":1,"window_end_day":"2025-05-31",'
    b'"window_start_day":"2025-05-31"}'
)


@pytest.mark.parametrize(
    ("raw", "missed", "attempt", "created_at"),
    [
        pytest.param(
            V1_ACTIVITY,
            MissedWindow(
                JobKind.ACTIVITY,
                "org",
                "acme",
                "widgets",
                ActivityReason.PULLS_FAILED,
                TimeWindow(1748775600.0, 1748779200.123456),
            ),
            1,
            1748779200.25,
            id="activity",
        ),
        pytest.param(
            V1_ACTIVITY_RETRY,
            MissedWindow(
                JobKind.ACTIVITY,
                "org",
                "acme",
                "widgets",
                ActivityReason.PULLS_FAILED,
                TimeWindow(1748775600.0, 1748779200.123456),
            ),
            3,
            1748779200.25,
            id="activity-third-attempt",
        ),
        pytest.param(
            V1_LOC,
            MissedWindow(
                JobKind.LOC,
                "org",
                "acme",
                "widgets",
                LocReason.CONTRIBUTOR_STATS_FAILED,
                TimeWindow(1748217600.0, 1748822400.0),
            ),
            1,
            1748779200.0,
            id="loc",
        ),
        pytest.param(
            V1_COPILOT_ENTERPRISE_USERS,
            MissedWindow(
                JobKind.COPILOT,
                "enterprise",
                "megacorp",
                "users",
                CopilotReason.REPORT_DOWNLOAD_ERROR,
                DayWindow(date(2025, 5, 30), date(2025, 5, 30)),
            ),
            1,
            1748779200.0,
            id="copilot-enterprise-users",
        ),
        pytest.param(
            V1_ACTIVITY_WHOLE_ORG,
            MissedWindow(
                JobKind.ACTIVITY,
                "org",
                "Acme",
                "*",
                ActivityReason.COMMITS_FAILED,
                TimeWindow(1748692800.0, 1748779200.0),
            ),
            1,
            1748779200.0,
            id="activity-whole-org",
        ),
        pytest.param(
            V1_COPILOT_ORG,
            MissedWindow(
                JobKind.COPILOT,
                "org",
                "acme",
                "organization",
                CopilotReason.REPORT_PARSE_ERROR,
                DayWindow(date(2025, 5, 31), date(2025, 5, 31)),
            ),
            1,
            1748779200.0,
            id="copilot-org",
        ),
    ],
)
def test_version_1_bodies_already_queued_decode_and_encode_unchanged(
    raw: bytes, missed: MissedWindow, attempt: int, created_at: float
):
    """A version-1 body from before the typed rewrite decodes to the typed job and re-encodes byte for byte."""
    job = decode_job(raw)
    assert (job.missed, job.attempt, job.created_at) == (missed, attempt, created_at)
    assert job.dedup_key == json.loads(raw)["dedup_key"]
    assert encode_job(job) == raw


def test_version_1_copilot_body_without_second_names_still_decodes():
    """The earliest version-1 Copilot bodies had no report_type/window_*_day; they decode all the same."""
    body = json.loads(V1_COPILOT_ORG)
    for name in ("report_type", "window_start_day", "window_end_day"):
        del body[name]
    assert decode_job(json.dumps(body).encode()) == decode_job(V1_COPILOT_ORG)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        pytest.param(0.2, "200ms", id="millis"),
        pytest.param(45, "45s", id="seconds"),
        pytest.param(60, "1m", id="minute"),
        pytest.param(90, "90s", id="odd-seconds"),
        pytest.param(7200, "2h", id="hours"),
    ],
)
def test_retry_queues_are_named_after_their_delay(seconds: float, label: str):
    """Each delay of the schedule gets its own, readable retry queue name."""
    assert delay_label(seconds) == label
    assert retry_queue_name("gh.backfill.jobs", seconds) == f"gh.backfill.jobs.retry.{label}"
