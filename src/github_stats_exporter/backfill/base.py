"""The job-queue port: publish, delayed retry, dead-letter, consume with manual ack, depth statistics.

Protocols and errors only. Adapters (`memory.py`, `rabbitmq.py`) implement them; nothing here may
import an adapter or a broker client.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from github_stats_exporter.backfill.jobs import BackfillJob
from github_stats_exporter.errors import ExporterError

Handler = Callable[[BackfillJob], Awaitable[None]]
"""Re-runs one job and returns once its result is written to the store; raises on failure."""

DLQ_REASON_HEADER = "x-gse-dead-reason"
LAST_ERROR_HEADER = "last_error"
ATTEMPT_HEADER = "attempt"
CREATED_AT_HEADER = "created_at"
JOB_ID_HEADER = "id"
TRACE_PARENT_HEADER = "traceparent"
"""The W3C trace context of the span that recorded the job (docs/tracing.md); absent when tracing is off."""
_MAX_HEADER_TEXT = 256


def job_headers(job: BackfillJob) -> dict[str, str]:
    """The transport headers of a job message: id, attempt, first enqueue and, when traced, its parent."""
    headers = {
        JOB_ID_HEADER: job.job_id,
        ATTEMPT_HEADER: str(job.attempt),
        CREATED_AT_HEADER: repr(job.created_at),
    }
    if job.trace_parent:
        headers[TRACE_PARENT_HEADER] = job.trace_parent
    return headers


def trace_parent_of(headers: Mapping[str, object]) -> str:
    """The ``traceparent`` header as text ("" when absent or not text: a job never fails over its trace)."""
    value = headers.get(TRACE_PARENT_HEADER)
    if isinstance(value, bytes):  # AMQP long strings may arrive as bytes
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or len(value) > _MAX_HEADER_TEXT:
        return ""
    return value


def delay_label(seconds: float) -> str:
    """A delay as a queue-name suffix: ``200ms``, ``45s``, ``1m``, ``90s``, ``2h``, ``1d``."""
    millis = round(seconds * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis >= size and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def retry_queue_name(queue: str, delay_seconds: float) -> str:
    """``<queue>.retry.<delay>``: one queue per delay of the retry schedule."""
    return f"{queue}.retry.{delay_label(delay_seconds)}"


class QueueError(ExporterError):
    """Base class of queue failures.

    * QueueError
      + QueueUnavailable   the broker cannot take or confirm a message now (keep the work, retry later)
      + QueueTopologyError the broker refuses our queue layout (an operator must fix it; see docs/backfill.md)
    """


class QueueUnavailable(QueueError):
    """Publishing failed or was not confirmed; the caller still owns the message."""


class QueueTopologyError(QueueError):
    """Declaring an exchange or queue failed with arguments that conflict with an existing one."""

    transient = False


@runtime_checkable
class Delivery(Protocol):
    """One received message. The consumer must settle it exactly once: `ack` or `requeue`."""

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, object]: ...

    @property
    def timestamp(self) -> float | None:
        """When this copy was published (Unix seconds), if the publisher set it."""
        ...

    async def ack(self) -> None:
        """Remove the message for good; call only after its result is stored (or it is re-published)."""
        ...

    async def requeue(self) -> None:
        """Give the message back for redelivery (shutdown, store outage)."""
        ...


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depths of the work queue, each retry queue and the DLQ, and the oldest waiting job's age."""

    queue: str
    depth: int
    oldest_age_seconds: float
    dlq: str
    dlq_depth: int
    retry_depths: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a DLQ replay did: jobs sent back to work and messages left behind (malformed ones)."""

    replayed: int
    kept: int


@runtime_checkable
class JobQueue(Protocol):
    """Where backfill jobs wait. Every method that publishes returns only once the message is safe."""

    async def publish(self, job: BackfillJob) -> None:
        """Put a job on the work queue; returns after the broker confirmed it (else `QueueUnavailable`)."""
        ...

    async def publish_retry(self, job: BackfillJob, delay_seconds: float) -> None:
        """Make ``job`` (already carrying its next attempt) visible on the work queue after the delay."""
        ...

    async def publish_dead(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Put a message on the DLQ as it was received, with headers saying why."""
        ...

    def deliveries(self) -> AsyncGenerator[Delivery, None]:
        """Messages from the work queue for one consumer; unsettled ones go back on exit."""
        ...

    async def stats(self) -> QueueStats: ...

    async def healthy(self) -> bool:
        """True while the broker connection works; only /healthz shows it, readiness never depends on it."""
        ...

    async def replay_dead(self, limit: int, *, now: float) -> ReplayResult:
        """Move up to ``limit`` DLQ jobs back to work as fresh jobs (attempt 1, ``created_at=now``)."""
        ...

    async def close(self) -> None: ...
