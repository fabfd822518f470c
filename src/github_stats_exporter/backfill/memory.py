"""In-process job queue for a single replica: the same semantics as RabbitMQ, held in asyncio structures.

Manual ack, redelivery of unsettled messages, delayed retries, a DLQ list and depth statistics. It must
not grow behaviour the RabbitMQ adapter cannot offer; everything is lost when the process exits, which
is why a multi-replica deployment uses RabbitMQ.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field, replace

from github_stats_exporter.backfill.base import (
    QueueStats,
    QueueUnavailable,
    ReplayResult,
    job_headers,
    retry_queue_name,
    trace_parent_of,
)
from github_stats_exporter.backfill.jobs import BackfillJob, MalformedJob, decode_job, encode_job


@dataclass(slots=True)
class _Message:
    body: bytes
    headers: dict[str, str]
    timestamp: float


@dataclass(slots=True)
class MemoryDelivery:
    """A message handed to one consumer; settled by `ack` (gone) or `requeue` (back to the front)."""

    _queue: MemoryJobQueue
    _message: _Message
    settled: bool = field(default=False)

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def headers(self) -> Mapping[str, object]:
        return self._message.headers

    @property
    def timestamp(self) -> float | None:
        return self._message.timestamp

    async def ack(self) -> None:
        self.settled = True

    async def requeue(self) -> None:
        if not self.settled:
            self.settled = True
            self._queue._put(self._message, front=True)


class MemoryJobQueue:
    """Work queue, delayed retries (``loop.call_later``) and a DLQ, bounded by ``max_depth`` messages."""

    def __init__(
        self,
        *,
        queue: str = "backfill",
        dlq: str = "",
        max_depth: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue_name = queue
        self.dlq_name = dlq or f"{queue}.dlq"
        self._max_depth = max_depth
        self._clock = clock
        self._ready: deque[_Message] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._delayed: dict[asyncio.TimerHandle, tuple[float, _Message]] = {}
        self.dead: list[tuple[bytes, dict[str, str]]] = []
        self._closed = False

    # --- publishing -------------------------------------------------------------------------------
    def _check(self) -> None:
        if self._closed:
            msg = "the in-process queue is closed"
            raise QueueUnavailable(msg)
        if len(self._ready) + len(self._delayed) >= self._max_depth:
            msg = f"the in-process queue holds {self._max_depth} messages already"
            raise QueueUnavailable(msg)

    def _put(self, message: _Message, *, front: bool = False) -> None:
        if self._closed:
            return
        if front:
            self._ready.appendleft(message)
        else:
            self._ready.append(message)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _next(self) -> _Message | None:
        while not self._closed:
            if self._ready:
                return self._ready.popleft()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken and cancelled at once: pass the wakeup on so the message is not stranded.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
        return None

    async def publish(self, job: BackfillJob) -> None:
        self._check()
        self._put(_Message(encode_job(job), job_headers(job), self._clock()))

    async def publish_retry(self, job: BackfillJob, delay_seconds: float) -> None:
        self._check()
        message = _Message(encode_job(job), job_headers(job), self._clock())
        handles: list[asyncio.TimerHandle] = []

        def due() -> None:
            self._delayed.pop(handles[0], None)
            self._put(message)

        handles.append(asyncio.get_running_loop().call_later(max(0.0, delay_seconds), due))
        self._delayed[handles[0]] = (delay_seconds, message)

    async def publish_raw(self, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Put ``body`` on the work queue as it is, unchecked: what a foreign producer could put there.

        The exporter itself only publishes jobs; this lets the worker's handling of malformed
        messages be exercised on this queue as it is on a shared broker.
        """
        self._check()
        self._put(_Message(body, dict(headers or {}), self._clock()))

    async def publish_dead(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self._closed:
            msg = "the in-process queue is closed"
            raise QueueUnavailable(msg)
        self.dead.append((body, dict(headers)))

    # --- consuming --------------------------------------------------------------------------------
    async def deliveries(self) -> AsyncGenerator[MemoryDelivery, None]:
        while (message := await self._next()) is not None:
            delivery = MemoryDelivery(self, message)
            try:
                yield delivery
            finally:
                # A consumer that stops without settling gives the message back (as a broker does
                # when a channel closes with unacked messages).
                if not delivery.settled:
                    await delivery.requeue()

    # --- inspection -------------------------------------------------------------------------------
    async def stats(self) -> QueueStats:
        oldest = self._clock() - self._ready[0].timestamp if self._ready else 0.0
        retry: dict[str, int] = {}
        for delay, _ in self._delayed.values():
            name = retry_queue_name(self.queue_name, delay)
            retry[name] = retry.get(name, 0) + 1
        return QueueStats(
            queue=self.queue_name,
            depth=len(self._ready),
            oldest_age_seconds=max(0.0, oldest),
            dlq=self.dlq_name,
            dlq_depth=len(self.dead),
            retry_depths=retry,
        )

    async def healthy(self) -> bool:
        return not self._closed

    async def replay_dead(self, limit: int, *, now: float) -> ReplayResult:
        kept: list[tuple[bytes, dict[str, str]]] = []
        replayed = 0
        while self.dead and replayed < limit:
            body, headers = self.dead.pop(0)
            try:
                job = decode_job(body)
            except MalformedJob:
                kept.append((body, headers))
                continue
            await self.publish(replace(job, attempt=1, created_at=now, trace_parent=trace_parent_of(headers)))
            replayed += 1
        self.dead[:0] = kept
        return ReplayResult(replayed=replayed, kept=len(self.dead))

    async def close(self) -> None:
        self._closed = True
        for handle in self._delayed:
            handle.cancel()
        self._delayed.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
