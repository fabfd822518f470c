"""The OpenTelemetry implementation of `tracing.Tracing`: an SDK tracer provider exporting OTLP/HTTP.

One `OtelTracing` per running exporter (never the process-global provider, so two exporters in one
process, as in tests, do not share one). The sampler follows the Go exporter's modes: ``detailed``
samples every trace; ``sampled`` and ``errors`` sample new traces at the configured ratio (``errors``
with ratio 0 keeps 1%) and children follow their parent's decision, so a backfill job is traced when
the cycle that recorded it was. Spans are batched on the SDK's worker thread; `close` flushes them.

Imported only by `tracing.start_tracing` when tracing is on. It must not record exception messages
or anything but the attributes instrumentation hands it.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from github_stats_exporter.config.schema import TelemetryConfig
from github_stats_exporter.tracing import TRACEPARENT, Attribute, Attributes, NoTracing, Span

SERVICE_NAME = "github-stats-exporter"
EXPORT_TIMEOUT_SECONDS = 10.0
_PROPAGATOR = TraceContextTextMapPropagator()
_NOTHING = NoTracing()


def sampler_for(config: TelemetryConfig) -> Sampler:
    """The sampler of a trace mode other than ``off`` (docs/tracing.md, "Modes")."""
    if config.effective_trace_mode == "detailed":
        return ALWAYS_ON
    return ParentBased(TraceIdRatioBased(config.effective_sample_ratio))


class _SpanView:
    """What instrumentation sees of an SDK span: attributes only."""

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: Attribute) -> None:
        self._span.set_attribute(key, value)


class _Scope:
    """Makes a span current for a ``with`` block and ends it; failures keep the exception type only."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return _SpanView(self._span)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, asyncio.CancelledError):
            self._span.set_attribute("cancelled", True)
        elif isinstance(exc, Exception):
            name = type(exc).__name__
            self._span.set_attribute("error.type", name)
            self._span.set_status(Status(StatusCode.ERROR, name))
        otel_context.detach(self._token)  # type: ignore[arg-type]
        self._span.end()


class OtelTracing:
    """`tracing.Tracing` on an SDK `TracerProvider` of its own; `close` flushes and shuts it down."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("github_stats_exporter")

    @classmethod
    def from_config(
        cls, config: TelemetryConfig, *, service_version: str, exporter: SpanExporter | None = None
    ) -> OtelTracing:
        """A provider with the mode's sampler, batching to OTLP/HTTP at the configured endpoint.

        An empty endpoint leaves it to the SDK's environment variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
        ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and their default, ``http://localhost:4318/v1/traces``.
        """
        resource = Resource.create({"service.name": SERVICE_NAME, "service.version": service_version})
        provider = TracerProvider(sampler=sampler_for(config), resource=resource, shutdown_on_exit=False)
        if exporter is None:
            exporter = OTLPSpanExporter(
                endpoint=config.traces_endpoint or None, timeout=EXPORT_TIMEOUT_SECONDS
            )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return True

    def span(
        self,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent: str = "",
        child_only: bool = False,
    ) -> AbstractContextManager[Span]:
        context = None
        if parent and TRACEPARENT.fullmatch(parent):
            context = _PROPAGATOR.extract({"traceparent": parent})
        if child_only and not trace.get_current_span(context).is_recording():
            # No open span, or one not sampled (its children would not be either): nothing to record.
            return _NOTHING.span(name)
        return _Scope(self._tracer.start_span(name, context=context, attributes=attributes))

    def parent(self) -> str:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent", "")

    async def close(self) -> None:
        # The batch processor's thread posts the last spans; its HTTP call must not block the loop.
        await asyncio.to_thread(self._provider.shutdown)
