"""The backfill message contract: `BackfillJob`, its versioned JSON encoding and validation on receipt.

Pure functions and values only. Decoding never trusts the bytes: anything that is not a complete,
well-typed job of a known version raises `MalformedJob` with a short machine-readable reason, so a
worker can dead-letter it instead of crashing. Nothing here does I/O or knows a broker.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1
"""Bumped when a field changes meaning; a worker refuses versions it does not know (to the DLQ)."""

MAX_BODY_BYTES = 64 * 1024
"""A job is a few hundred bytes; anything far larger is not ours."""

SCOPES = frozenset({"org", "enterprise"})
COPILOT_REPORT_TYPES = frozenset({"organization", "users", "enterprise"})

# Reasons produced by the LOC collector (`stats/contributors` and its commit-sampling fallback).
LOC_REASONS = frozenset(
    {
        "contributor_stats_failed",
        "fallback_list_commits_failed",
        "fallback_commit_detail_failed",
        "fallback_truncated",
    }
)
# Whole-org failures: both the activity window and the repository's LOC week may be missing.
GENERIC_REASONS = frozenset({"scrape_error", "github_unhealthy", "partial_scrape_error"})

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT_LIMIT = 256


class JobKind(StrEnum):
    """Which collector re-runs the job."""

    ACTIVITY = "activity"
    LOC = "loc"
    COPILOT = "copilot"


class MalformedJob(ValueError):
    """A message body is not a valid job; ``reason`` is short and stable (it becomes a DLQ header)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PermanentJobError(Exception):
    """A handler's verdict that retrying cannot help (repository gone, scope not configured).

    The worker sends such a job straight to the DLQ instead of spending the retry schedule on it.
    """


@dataclass(frozen=True, slots=True)
class BackfillJob:
    """One unit of backfill work: re-collect ``target`` of ``scope_id`` for an exact window.

    Activity and LOC jobs carry ``start``/``end`` (Unix seconds, ``start <= end``); Copilot jobs carry
    one ``day`` (``YYYY-MM-DD``, a 1-day report). ``attempt`` starts at 1 and grows by one on every
    retry; ``created_at`` is the first enqueue and never changes, so age limits span all retries.
    """

    job_id: str
    dedup_key: str
    kind: JobKind
    scope: str
    scope_id: str
    target: str
    reason: str
    created_at: float
    start: float = 0.0
    end: float = 0.0
    day: str = ""
    attempt: int = 1

    @property
    def org(self) -> str:
        """The ``org`` label of self-metrics: the org login or the enterprise slug."""
        return self.scope_id

    def next_attempt(self) -> BackfillJob:
        """The same job, one attempt later (what a retry publishes)."""
        return replace(self, attempt=self.attempt + 1)


def dedup_key(
    kind: JobKind, scope: str, scope_id: str, target: str, start: float, end: float, day: str = ""
) -> str:
    """``kind:scope:scope_id:target:start:end``; days for Copilot, whole Unix seconds otherwise."""
    if kind is JobKind.COPILOT:
        return f"{kind}:{scope}:{scope_id}:{target}:{day}:{day}"
    return f"{kind}:{scope}:{scope_id}:{target}:{math.floor(start)}:{math.ceil(end)}"


def new_job(
    *,
    kind: JobKind,
    scope: str,
    scope_id: str,
    target: str,
    reason: str,
    created_at: float,
    start: float = 0.0,
    end: float = 0.0,
    day: str = "",
) -> BackfillJob:
    """A fresh job (attempt 1) with a unique id and its dedup key.

    Times are rounded to the microsecond the wire format keeps, so a decoded job equals the original.
    """
    created_at, start, end = _on_wire(created_at), _on_wire(start), _on_wire(end)
    key = dedup_key(kind, scope, scope_id, target, start, end, day)
    return BackfillJob(
        job_id=uuid.uuid4().hex,
        dedup_key=key,
        kind=kind,
        scope=scope,
        scope_id=scope_id,
        target=target,
        reason=reason,
        created_at=created_at,
        start=start,
        end=end,
        day=day,
    )


def _on_wire(ts: float) -> float:
    return datetime.fromtimestamp(ts, UTC).timestamp()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_job(job: BackfillJob) -> bytes:
    """The versioned JSON body. Times are RFC 3339 (readable when someone inspects the DLQ)."""
    body: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "job_id": job.job_id,
        "dedup_key": job.dedup_key,
        "kind": str(job.kind),
        "scope": job.scope,
        "scope_id": job.scope_id,
        "target": job.target,
        "reason": job.reason,
        "attempt": job.attempt,
        "created_at": _rfc3339(job.created_at),
    }
    if job.kind is JobKind.COPILOT:
        body["day"] = job.day
        # Copilot payload names (docs/backfill.md): one job covers one day, fetched from a 1-day endpoint.
        body["report_type"] = job.target
        body["window_start_day"] = job.day
        body["window_end_day"] = job.day
    else:
        body["window_start"] = _rfc3339(job.start)
        body["window_end"] = _rfc3339(job.end)
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def _text(body: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = body.get(name)
    if value is None:
        raise MalformedJob(reason=f"missing_field:{name}")
    if not isinstance(value, str) or len(value) > _TEXT_LIMIT or (not value and not allow_empty):
        raise MalformedJob(reason=f"bad_field:{name}")
    return value


def _time(body: dict[str, Any], name: str) -> float:
    text = _text(body, name)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedJob(reason=f"bad_field:{name}") from None
    if parsed.tzinfo is None:
        raise MalformedJob(reason=f"bad_field:{name}")
    return parsed.timestamp()


def _day(body: dict[str, Any]) -> str:
    text = _text(body, "day")
    if not _DAY.fullmatch(text):
        raise MalformedJob(reason="bad_field:day")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise MalformedJob(reason="bad_field:day") from None
    return text


def decode_job(raw: bytes) -> BackfillJob:
    """Parse and validate a message body; raises `MalformedJob` for anything else."""
    if len(raw) > MAX_BODY_BYTES:
        raise MalformedJob(reason="too_large")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise MalformedJob(reason="not_json") from None
    if not isinstance(body, dict):
        raise MalformedJob(reason="not_an_object")
    version = body.get("version")
    if version is None:
        raise MalformedJob(reason="missing_field:version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise MalformedJob(reason=f"unsupported_version:{str(version)[:16]}")
    try:
        kind = JobKind(_text(body, "kind"))
    except ValueError:
        raise MalformedJob(reason="bad_field:kind") from None
    scope = _text(body, "scope")
    if scope not in SCOPES:
        raise MalformedJob(reason="bad_field:scope")
    attempt = body.get("attempt")
    if attempt is None:
        raise MalformedJob(reason="missing_field:attempt")
    if type(attempt) is not int or not 1 <= attempt <= 1000:
        raise MalformedJob(reason="bad_field:attempt")
    job = BackfillJob(
        job_id=_text(body, "job_id"),
        dedup_key=_text(body, "dedup_key"),
        kind=kind,
        scope=scope,
        scope_id=_text(body, "scope_id"),
        target=_text(body, "target"),
        reason=_text(body, "reason"),
        created_at=_time(body, "created_at"),
        attempt=attempt,
    )
    if kind is JobKind.COPILOT:
        day = _day(body)
        if job.target not in COPILOT_REPORT_TYPES:
            raise MalformedJob(reason="bad_field:target")
        # The seed-plan names are optional (older bodies lack them) but must agree when present.
        if body.get("report_type", job.target) != job.target:
            raise MalformedJob(reason="bad_field:report_type")
        for name in ("window_start_day", "window_end_day"):
            if body.get(name, day) != day:
                raise MalformedJob(reason=f"bad_field:{name}")
        return replace(job, day=day)
    start, end = _time(body, "window_start"), _time(body, "window_end")
    if end < start:
        raise MalformedJob(reason="bad_window")
    return replace(job, start=start, end=end)


def job_kinds(reason: str, *, has_days: bool) -> tuple[JobKind, ...]:
    """Which collectors a missed window needs: Copilot by days, LOC by reason, activity otherwise.

    A whole-org failure (``scrape_error`` and friends) lost both the activity window and the LOC
    week, so it yields an activity job and a LOC job.
    """
    if has_days or reason.startswith("copilot_"):
        return (JobKind.COPILOT,)
    if reason in LOC_REASONS or reason.startswith("loc_"):
        return (JobKind.LOC,)
    if reason in GENERIC_REASONS:
        return (JobKind.ACTIVITY, JobKind.LOC)
    return (JobKind.ACTIVITY,)
