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
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.model import (
    REASON_TYPES,
    DayWindow,
    JobKind,
    MissedReason,
    MissedWindow,
    Scope,
    TimeWindow,
    Window,
)

SCHEMA_VERSION = 1
"""The version `encode_job` writes; bump it when a field changes meaning and keep decoding the old ones.

Messages wait in the work, retry and dead-letter queues across upgrades, and during a rolling upgrade
an older replica decodes what a newer leader published, so the written version changes only when the
shape must.
"""

MAX_BODY_BYTES = 64 * 1024
"""A job is a few hundred bytes; anything far larger is not ours."""

COPILOT_REPORT_TYPES = frozenset({"organization", "users", "enterprise"})

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT_LIMIT = 256


class MalformedJob(ValueError):
    """A message body is not a valid job; ``reason`` is short and stable (it becomes a DLQ header)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PermanentJobError(ExporterError):
    """A handler's verdict that retrying cannot help (repository gone, scope not configured).

    The worker sends such a job straight to the DLQ instead of spending the retry schedule on it.
    """

    transient = False


@dataclass(frozen=True, slots=True)
class BackfillJob:
    """One unit of backfill work: re-collect ``missed`` exactly.

    A Copilot job covers one day (the 1-day report endpoint). ``attempt`` starts at 1 and grows by
    one on every retry; ``created_at`` is the first enqueue and never changes, so age limits span
    all retries. ``trace_parent`` is the W3C ``traceparent`` of the span that recorded the miss ("" when
    tracing is off); it is not part of the body but travels in the message's ``traceparent`` header,
    so a message without it (an older publisher) is the same job.
    """

    job_id: str
    missed: MissedWindow
    created_at: float
    attempt: int = 1
    trace_parent: str = ""

    def __post_init__(self) -> None:
        window = self.missed.window
        if isinstance(window, DayWindow) and window.first != window.last:
            msg = f"a Copilot job covers one day, got {window.first}..{window.last}"
            raise ValueError(msg)

    @property
    def kind(self) -> JobKind:
        return self.missed.kind

    @property
    def org(self) -> str:
        """The ``org`` label of self-metrics: the org login or the enterprise slug."""
        return self.missed.scope_id

    @property
    def reason(self) -> MissedReason:
        return self.missed.reason

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.missed)

    def next_attempt(self) -> BackfillJob:
        """The same job, one attempt later (what a retry publishes)."""
        return replace(self, attempt=self.attempt + 1)


def dedup_key(missed: MissedWindow) -> str:
    """``kind:scope:scope_id:target:start:end``; days for Copilot, whole Unix seconds otherwise."""
    head = f"{missed.kind}:{missed.scope}:{missed.scope_id}:{missed.target}"
    match missed.window:
        case DayWindow(first=first, last=last):
            return f"{head}:{first}:{last}"
        case TimeWindow(start=start, end=end):
            return f"{head}:{math.floor(start)}:{math.ceil(end)}"


def new_job(missed: MissedWindow, *, created_at: float) -> BackfillJob:
    """A fresh job (attempt 1) with a unique id.

    Times are rounded to the microsecond the wire format keeps, so a decoded job equals the original.
    """
    window = missed.window
    if isinstance(window, TimeWindow):
        missed = replace(missed, window=TimeWindow(_on_wire(window.start), _on_wire(window.end)))
    return BackfillJob(job_id=uuid.uuid4().hex, missed=missed, created_at=_on_wire(created_at))


def _on_wire(ts: float) -> float:
    return datetime.fromtimestamp(ts, UTC).timestamp()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- encoding -------------------------------------------------------------------------------------


def encode_job(job: BackfillJob) -> bytes:
    """The versioned JSON body. Times are RFC 3339 (readable when someone inspects the DLQ)."""
    missed = job.missed
    body: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "job_id": job.job_id,
        "dedup_key": job.dedup_key,
        "kind": str(missed.kind),
        "scope": missed.scope,
        "scope_id": missed.scope_id,
        "target": missed.target,
        "reason": str(missed.reason),
        "attempt": job.attempt,
        "created_at": _rfc3339(job.created_at),
    }
    match missed.window:
        case DayWindow(first=day):
            body["day"] = day.isoformat()
            # Version 1 also spells the report and its one day out under a second set of names
            # (documented in docs/backfill.md); older decoders check that they agree.
            body["report_type"] = missed.target
            body["window_start_day"] = body["window_end_day"] = day.isoformat()
        case TimeWindow(start=start, end=end):
            body["window_start"] = _rfc3339(start)
            body["window_end"] = _rfc3339(end)
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


# --- decoding -------------------------------------------------------------------------------------


def decode_job(raw: bytes) -> BackfillJob:
    """Parse and validate a message body of any supported version; raises `MalformedJob` otherwise."""
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
    decoder = _DECODERS.get(version) if type(version) is int else None
    if decoder is None:
        raise MalformedJob(reason=f"unsupported_version:{str(version)[:16]}")
    return decoder(body)


def _decode_v1(body: dict[str, Any]) -> BackfillJob:
    try:
        kind = JobKind(_text(body, "kind"))
    except ValueError:
        raise MalformedJob(reason="bad_field:kind") from None
    scope = _scope(body)
    attempt = body.get("attempt")
    if attempt is None:
        raise MalformedJob(reason="missing_field:attempt")
    if type(attempt) is not int or not 1 <= attempt <= 1000:
        raise MalformedJob(reason="bad_field:attempt")
    job_id = _text(body, "job_id")
    # Derived from the window on this side; required because every version-1 body has it.
    _text(body, "dedup_key")
    scope_id = _text(body, "scope_id")
    target = _text(body, "target")
    reason_text = _text(body, "reason")
    created_at = _time(body, "created_at")
    window: Window
    if kind is JobKind.COPILOT:
        day = _day(body)
        if target not in COPILOT_REPORT_TYPES:
            raise MalformedJob(reason="bad_field:target")
        # The second names are optional (the first version-1 bodies lacked them) but must agree.
        if body.get("report_type", target) != target:
            raise MalformedJob(reason="bad_field:report_type")
        for name in ("window_start_day", "window_end_day"):
            if body.get(name, day.isoformat()) != day.isoformat():
                raise MalformedJob(reason=f"bad_field:{name}")
        window = DayWindow(day, day)
    else:
        start, end = _time(body, "window_start"), _time(body, "window_end")
        if end < start:
            raise MalformedJob(reason="bad_window")
        window = TimeWindow(start, end)
    try:
        reason = REASON_TYPES[kind](reason_text)
    except ValueError:
        raise MalformedJob(reason="bad_field:reason") from None
    missed = MissedWindow(kind, scope, scope_id, target, reason, window)
    return BackfillJob(job_id=job_id, missed=missed, created_at=created_at, attempt=attempt)


_DECODERS: dict[int, Callable[[dict[str, Any]], BackfillJob]] = {1: _decode_v1}
"""Every version a worker still accepts: add one here before any replica writes it."""


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise MalformedJob(reason=f"missing_field:{name}")
    if not isinstance(value, str) or not value or len(value) > _TEXT_LIMIT:
        raise MalformedJob(reason=f"bad_field:{name}")
    return value


def _scope(body: dict[str, Any]) -> Scope:
    match _text(body, "scope"):
        case "org" | "enterprise" as scope:
            return scope
        case _:
            raise MalformedJob(reason="bad_field:scope")


def _time(body: dict[str, Any], name: str) -> float:
    text = _text(body, name)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedJob(reason=f"bad_field:{name}") from None
    if parsed.tzinfo is None:
        raise MalformedJob(reason=f"bad_field:{name}")
    return parsed.timestamp()


def _day(body: dict[str, Any]) -> date:
    text = _text(body, "day")
    if not _DAY.fullmatch(text):
        raise MalformedJob(reason="bad_field:day")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedJob(reason="bad_field:day") from None
