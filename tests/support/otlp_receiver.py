"""An in-process OTLP/HTTP traces endpoint for tests: POST /v1/traces, protobuf decoded into plain spans.

It binds 127.0.0.1 on port 0 and is stopped by the test that started it. It decodes with the
`opentelemetry-proto` message classes (what a real collector speaks) and keeps every span received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

Value = str | int | float | bool


def _value(any_value: AnyValue) -> Value:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return ""
    value = getattr(any_value, kind)
    return value if isinstance(value, str | int | float | bool) else str(value)


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as a collector stored it: ids as hex, attributes as a dict."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Value]
    status_code: int
    service: str


@dataclass
class OtlpReceiver:
    """What arrived: every span and how many export requests carried them."""

    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0

    def named(self, name: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.name == name]

    def by_id(self) -> dict[str, ReceivedSpan]:
        return {s.span_id: s for s in self.spans}

    def root_of(self, span: ReceivedSpan) -> ReceivedSpan:
        """The top-most ancestor of ``span`` that was received."""
        index = self.by_id()
        while span.parent_id in index:
            span = index[span.parent_id]
        return span

    async def _traces(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415)
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        self.requests += 1
        for resource_spans in message.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={kv.key: _value(kv.value) for kv in span.attributes},
                            status_code=span.status.code,
                            service=str(resource.get("service.name", "")),
                        )
                    )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    """A running receiver; ``url`` is its base address (the exporter appends /v1/traces)."""
    receiver = OtlpReceiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver._traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
