"""RabbitMQ job queue over AMQP 0-9-1 (aio-pika): durable quorum queues, confirms, manual ack, TTL retries.

Topology (declared at connect, restored by the robust connection after every reconnect):
a direct exchange; the work queue bound with its own name; one retry queue per delay
(``<queue>.retry.<delay>``, ``x-message-ttl`` then dead-lettered back to the work routing key, each
bound with its own name so a message never lands in two); the DLQ. Messages are persistent, carry a
``timestamp`` and ``attempt``/``created_at``/``id`` headers. This is the only module that imports
aio_pika; it never uses the management HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelPreconditionFailed

from github_stats_exporter.backfill.base import (
    QueueStats,
    QueueTopologyError,
    QueueUnavailable,
    ReplayResult,
    job_headers,
    retry_queue_name,
    trace_parent_of,
)
from github_stats_exporter.backfill.jobs import BackfillJob, MalformedJob, decode_job, encode_job

log = structlog.get_logger(__name__)

_FAILURES: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)
_QUORUM = {"x-queue-type": "quorum"}


def _message(body: bytes, headers: Mapping[str, str], now: float, message_id: str = "") -> aio_pika.Message:
    return aio_pika.Message(
        body,
        headers=dict(headers),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        # RabbitMQ only knows a message's age from this property (the Go exporter never set it).
        timestamp=datetime.fromtimestamp(now, UTC),
        message_id=message_id or None,
    )


def _job_message(job: BackfillJob, now: float) -> aio_pika.Message:
    return _message(encode_job(job), job_headers(job), now, job.job_id)


class RabbitDelivery:
    """One AMQP delivery; settling it on a channel that died raises `QueueUnavailable`.

    The broker has already put such a message back, so the caller only logs it.
    """

    def __init__(self, message: AbstractIncomingMessage) -> None:
        self._message = message
        self.settled = False

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def headers(self) -> Mapping[str, object]:
        return dict(self._message.headers or {})

    @property
    def timestamp(self) -> float | None:
        stamp = self._message.timestamp
        return stamp.timestamp() if stamp is not None else None

    async def ack(self) -> None:
        await self._settle(requeue=None)

    async def requeue(self) -> None:
        await self._settle(requeue=True)

    async def _settle(self, *, requeue: bool | None) -> None:
        if self.settled:
            return
        self.settled = True
        try:
            if requeue is None:
                await self._message.ack()
            else:
                await self._message.nack(requeue=requeue)
        except _FAILURES as exc:
            msg = f"could not settle delivery {self._message.delivery_tag}: {type(exc).__name__}: {exc}"
            raise QueueUnavailable(msg) from exc


class RabbitMQJobQueue:
    """The `JobQueue` port on RabbitMQ.

    ``requeue_delays`` (seconds) names the retry queues to declare. ``prefetch`` is the number of
    unacknowledged messages per consumer; each `deliveries()` call is one consumer, so a replica with
    ``consumer_count`` workers holds at most ``consumer_count * prefetch`` jobs.
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str,
        queue: str,
        dlq: str = "",
        requeue_delays: Sequence[float] = (),
        prefetch: int = 1,
        timeout: float = 10.0,
        reconnect_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = url
        self.exchange_name = exchange
        self.queue_name = queue
        self.dlq_name = dlq or f"{queue}.dlq"
        self._delays = tuple(dict.fromkeys(requeue_delays))
        self._prefetch = prefetch
        self._timeout = timeout
        self._reconnect_interval = reconnect_interval
        self._clock = clock
        self._sleep = sleep
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._consume_channel: AbstractRobustChannel | None = None
        self._inspect_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._work: AbstractQueue | None = None
        self._retry_names: dict[float, str] = {}
        self._connected = asyncio.Event()
        self._closed = False
        # Head-age estimate (see `stats`): the newest publish time this replica has been handed.
        self._newest_delivered: float | None = None
        self._backlog_since: float | None = None

    # --- lifecycle --------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect once and declare the topology; `QueueUnavailable` if the broker cannot be reached."""
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                timeout=self._timeout,
                client_properties={"connection_name": "github-stats-exporter"},
            )
        except _FAILURES as exc:
            msg = f"cannot connect to RabbitMQ: {type(exc).__name__}: {exc}"
            raise QueueUnavailable(msg) from exc
        try:
            await self._declare(connection)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        self._connected.set()
        log.info("amqp_connected", queue=self.queue_name, retry_queues=list(self._retry_names.values()))

    async def run(self, *, retry_interval: float = 5.0) -> None:
        """Connect, retrying until the broker answers; then reconnects are aio-pika's job.

        Runs as a service so that a broker outage at startup delays backfill only, never serving.
        """
        while not self._connected.is_set():
            try:
                await self.connect()
            except QueueUnavailable as exc:
                log.warning("amqp_connect_failed", error=str(exc), retry_in_seconds=retry_interval)
                await self._sleep(retry_interval)
        await asyncio.Event().wait()

    async def _declare(self, connection: AbstractRobustConnection) -> None:
        try:
            publish = await connection.channel(publisher_confirms=True)
            consume = await connection.channel(publisher_confirms=False)
            # Passive declares for depths go through their own channel: aio-pika answers a passive
            # declare of a queue this channel declared from its cache (stale counts).
            self._inspect_channel = await connection.channel(publisher_confirms=False)
            # Per-consumer prefetch (global QoS is refused by RabbitMQ 4.3 quorum queues).
            await consume.set_qos(prefetch_count=self._prefetch)
            exchange = await publish.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
            )
            work = await publish.declare_queue(self.queue_name, durable=True, arguments=dict(_QUORUM))
            await work.bind(exchange, routing_key=self.queue_name)
            dlq = await publish.declare_queue(self.dlq_name, durable=True, arguments=dict(_QUORUM))
            await dlq.bind(exchange, routing_key=self.dlq_name)
            self._publish_channel, self._consume_channel, self._exchange = publish, consume, exchange
            for delay in self._delays:
                await self._declare_retry(delay)
            self._work = await consume.declare_queue(self.queue_name, durable=True, arguments=dict(_QUORUM))
        except ChannelPreconditionFailed as exc:
            msg = (
                f"RabbitMQ refused the backfill topology ({exc}); a queue or exchange with the same name "
                "exists with other arguments (e.g. a classic queue left by the Go exporter); delete it or "
                "choose other amqp.queue/amqp.dlq names (docs/backfill.md)"
            )
            raise QueueTopologyError(msg) from exc
        except _FAILURES as exc:
            msg = f"cannot declare the backfill topology: {type(exc).__name__}: {exc}"
            raise QueueUnavailable(msg) from exc

    async def _declare_retry(self, delay: float) -> str:
        if delay in self._retry_names:
            return self._retry_names[delay]
        if self._publish_channel is None or self._exchange is None:
            msg = "RabbitMQ is not connected yet"
            raise QueueUnavailable(msg)
        name = retry_queue_name(self.queue_name, delay)
        arguments: dict[str, Any] = {
            **_QUORUM,
            "x-message-ttl": max(1, round(delay * 1000)),
            "x-dead-letter-exchange": self.exchange_name,
            "x-dead-letter-routing-key": self.queue_name,
            # At-least-once dead-lettering: a broker restart while a retry expires must not drop it.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        queue = await self._publish_channel.declare_queue(name, durable=True, arguments=arguments)
        await queue.bind(self._exchange, routing_key=name)
        self._retry_names[delay] = name
        return name

    async def __aenter__(self) -> RabbitMQJobQueue:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._connection is not None:
            await self._connection.close()

    # --- publishing -------------------------------------------------------------------------------
    async def _publish(self, message: aio_pika.Message, routing_key: str) -> None:
        if self._exchange is None or self._closed:
            msg = "RabbitMQ is not connected"
            raise QueueUnavailable(msg)
        try:
            # mandatory + confirms: an unroutable message is an error, a confirmed one is on disk.
            await self._exchange.publish(message, routing_key, mandatory=True, timeout=self._timeout)
        except _FAILURES as exc:
            msg = f"publish to {routing_key!r} not confirmed: {type(exc).__name__}: {exc}"
            raise QueueUnavailable(msg) from exc

    async def publish(self, job: BackfillJob) -> None:
        await self._publish(_job_message(job, self._clock()), self.queue_name)

    async def publish_retry(self, job: BackfillJob, delay_seconds: float) -> None:
        try:
            name = await self._declare_retry(delay_seconds)
        except _FAILURES as exc:
            msg = f"cannot declare the retry queue for {delay_seconds}s: {exc}"
            raise QueueUnavailable(msg) from exc
        await self._publish(_job_message(job, self._clock()), name)

    async def publish_dead(self, body: bytes, headers: Mapping[str, str]) -> None:
        await self._publish(_message(body, headers, self._clock()), self.dlq_name)

    # --- consuming --------------------------------------------------------------------------------
    async def deliveries(self) -> AsyncGenerator[RabbitDelivery, None]:
        await self._connected.wait()
        if self._work is None:
            return
        buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

        async def on_message(message: AbstractIncomingMessage) -> None:
            await buffer.put(message)

        tag = await self._work.consume(on_message, no_ack=False)
        current: RabbitDelivery | None = None
        try:
            while True:
                message = await buffer.get()
                if message.channel.is_closed:
                    continue  # delivered on a channel that died; the broker redelivers it
                self._note_delivery(message)
                current = RabbitDelivery(message)
                yield current
        finally:
            await self._stop_consumer(tag, current, buffer)

    async def _stop_consumer(
        self,
        tag: str,
        current: RabbitDelivery | None,
        buffer: asyncio.Queue[AbstractIncomingMessage],
    ) -> None:
        # Cancel first: a message requeued while this consumer still exists can be handed straight
        # back to it and sit unacknowledged until the channel closes. After the broker confirms the
        # cancel nothing more arrives, so the buffer drained below is complete.
        if self._work is not None and not self._closed:
            try:
                await self._work.cancel(tag)
            except _FAILURES as exc:
                log.debug("amqp_cancel_failed", error=str(exc))
        # Unsettled messages go back now rather than when the channel closes at shutdown.
        pending = [RabbitDelivery(buffer.get_nowait()) for _ in range(buffer.qsize())]
        if current is not None and not current.settled:
            pending.insert(0, current)
        for delivery in pending:
            # A dead channel raises here; the broker has requeued that message itself.
            with contextlib.suppress(QueueUnavailable):
                await delivery.requeue()

    def _note_delivery(self, message: AbstractIncomingMessage) -> None:
        if message.timestamp is None:
            return
        stamp = message.timestamp.timestamp()
        if self._newest_delivered is None or stamp > self._newest_delivered:
            self._newest_delivered = stamp

    # --- inspection -------------------------------------------------------------------------------
    async def _depth(self, name: str) -> int:
        if self._inspect_channel is None:
            msg = "RabbitMQ is not connected"
            raise QueueUnavailable(msg)
        try:
            queue = await self._inspect_channel.declare_queue(name, passive=True, robust=False)
        except _FAILURES as exc:
            msg = f"cannot read the depth of {name!r}: {type(exc).__name__}: {exc}"
            raise QueueUnavailable(msg) from exc
        return queue.declaration_result.message_count or 0

    async def stats(self) -> QueueStats:
        """Depths from passive declares; the head's age is estimated without touching messages.

        AMQP has no "peek": reading the head would need basic.get + requeue, which moves or (with a
        quorum delivery limit) eventually drops the message. Instead: while the queue is non-empty
        the head was published after the newest message this replica was handed, so
        ``now - newest_delivered`` bounds its age from above; before anything was delivered the time
        the backlog was first seen bounds it from below. Both read 0 once the queue drains.
        """
        now = self._clock()
        depth = await self._depth(self.queue_name)
        retry = {name: await self._depth(name) for name in self._retry_names.values()}
        dlq_depth = await self._depth(self.dlq_name)
        if depth == 0:
            self._backlog_since = None
            oldest = 0.0
        else:
            if self._backlog_since is None:
                self._backlog_since = now
            reference = self._backlog_since
            if self._newest_delivered is not None:
                reference = min(reference, self._newest_delivered)
            oldest = max(0.0, now - reference)
        return QueueStats(
            queue=self.queue_name,
            depth=depth,
            oldest_age_seconds=oldest,
            dlq=self.dlq_name,
            dlq_depth=dlq_depth,
            retry_depths=retry,
        )

    async def healthy(self) -> bool:
        connection = self._connection
        if connection is None or self._closed or connection.is_closed:
            return False
        channel = self._publish_channel
        return channel is not None and not channel.is_closed

    async def replay_dead(self, limit: int, *, now: float) -> ReplayResult:
        """Move DLQ jobs back as fresh jobs; malformed messages are left in the DLQ untouched."""
        if self._inspect_channel is None:
            msg = "RabbitMQ is not connected"
            raise QueueUnavailable(msg)
        dlq = await self._inspect_channel.declare_queue(self.dlq_name, passive=True, robust=False)
        held: list[AbstractIncomingMessage] = []
        replayed = 0
        drained = False
        try:
            while replayed < limit:
                message = await dlq.get(no_ack=False, fail=False, timeout=self._timeout)
                if message is None:
                    drained = True
                    break
                try:
                    job = decode_job(message.body)
                except MalformedJob:
                    held.append(message)  # unacked until the end, so `get` moves past it
                    continue
                fresh = dataclasses.replace(
                    job, attempt=1, created_at=now, trace_parent=trace_parent_of(message.headers)
                )
                await self._publish(_job_message(fresh, now), self.queue_name)
                await message.ack()
                replayed += 1
            # Held messages are unacked, so the ready count is what was not looked at.
            kept = len(held) + (0 if drained else await self._depth(self.dlq_name))
        finally:
            for message in held:
                await message.nack(requeue=True)
        return ReplayResult(replayed=replayed, kept=kept)
