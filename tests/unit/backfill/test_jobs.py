"""The message contract: round trips, validation of every field, kind routing."""

from __future__ import annotations

import json

import pytest

from github_stats_exporter.backfill.base import delay_label, retry_queue_name
from github_stats_exporter.backfill.jobs import (
    MAX_BODY_BYTES,
    BackfillJob,
    JobKind,
    MalformedJob,
    decode_job,
    dedup_key,
    encode_job,
    job_kinds,
    new_job,
)

T0 = 1_717_243_200.0


def _activity() -> BackfillJob:
    return new_job(
        kind=JobKind.ACTIVITY,
        scope="org",
        scope_id="acme",
        target="widgets",
        reason="activity_pulls_failed",
        created_at=T0 + 0.25,
        start=T0 - 900,
        end=T0,
    )


def _body(job: BackfillJob) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(encode_job(job))
    return decoded


def test_activity_job_round_trips_through_the_wire_format():
    """An encoded activity job decodes to an equal job, window and creation time included."""
    job = _activity()
    assert decode_job(encode_job(job)) == job


def test_copilot_job_round_trips_with_its_day():
    """A Copilot job carries a day instead of a time window and survives the round trip."""
    job = new_job(
        kind=JobKind.COPILOT,
        scope="enterprise",
        scope_id="bigco",
        target="users",
        reason="copilot_report_download_error",
        created_at=T0,
        day="2024-05-30",
    )
    body = _body(job)
    assert body["day"] == "2024-05-30"
    assert "window_start" not in body
    # The Copilot payload fields documented in docs/backfill.md are on the wire too.
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
def test_copilot_job_with_inconsistent_seed_fields_is_malformed(field: str, value: str):
    """A body whose seed-plan fields contradict its target/day is refused, naming the field."""
    job = new_job(
        kind=JobKind.COPILOT,
        scope="org",
        scope_id="acme",
        target="users",
        reason="copilot_report_fetch_error",
        created_at=T0,
        day="2024-05-30",
    )
    body = _body(job)
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
    assert dedup_key(JobKind.ACTIVITY, "org", "acme", "w", 10.4, 20.2) == "activity:org:acme:w:10:21"
    assert (
        dedup_key(JobKind.COPILOT, "org", "acme", "users", 0, 0, "2024-05-01")
        == "copilot:org:acme:users:2024-05-01:2024-05-01"
    )


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
    ],
)
def test_malformed_bodies_are_rejected_with_a_stable_reason(raw: bytes, reason: str):
    """Every kind of bad body raises MalformedJob naming what is wrong, never another exception."""
    with pytest.raises(MalformedJob) as caught:
        decode_job(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("reason", "has_days", "kinds"),
    [
        pytest.param("activity_pulls_failed", False, (JobKind.ACTIVITY,), id="activity"),
        pytest.param("contributor_stats_failed", False, (JobKind.LOC,), id="loc-stats"),
        pytest.param("fallback_truncated", False, (JobKind.LOC,), id="loc-fallback"),
        pytest.param("copilot_report_fetch_error", False, (JobKind.COPILOT,), id="copilot-reason"),
        pytest.param("anything", True, (JobKind.COPILOT,), id="copilot-days"),
        pytest.param("scrape_error", False, (JobKind.ACTIVITY, JobKind.LOC), id="whole-org"),
    ],
)
def test_missed_window_reasons_route_to_collectors(reason: str, has_days: bool, kinds: tuple[JobKind, ...]):
    """A reason selects the collectors that must re-run; a whole-org failure needs activity and LOC."""
    assert job_kinds(reason, has_days=has_days) == kinds


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
