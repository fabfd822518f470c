"""Tracing overhead: a GitHub request through the real client, and one bare span, with tracing off and on.

Run: ``.venv/bin/python -m benchmarks tracing_overhead`` (about 15 seconds). The request path is
`GitHubClient.get` over an in-memory transport that answers a small JSON page at once, so the figure
is the client's own CPU cost (budget check, ETag cache, JSON decoding, accounting) plus tracing, with
no network noise. Modes: ``off`` (the default: `NO_TRACING`, no SDK object exists), ``unsampled``
(SDK on, ``sampled`` mode with ratio 0: spans are created but not recorded), ``recorded`` (``detailed``:
every span is recorded and batched to an exporter that discards them). Requests run inside a cycle
span, as in production. Wall time per operation, best of five rounds.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Sequence

from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from github_stats_exporter.config.schema import TelemetryConfig
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.transport import Answer, MockTransport, Request
from github_stats_exporter.otel_tracing import OtelTracing
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.tracing import NO_TRACING, Tracing

ROUNDS = 5
REQUESTS = 4000
SPANS = 20000
BODY = b'[{"id": 1, "name": "widgets", "archived": false}, {"id": 2, "name": "gadgets", "archived": false}]'
HEADERS = CIMultiDictProxy(
    CIMultiDict(
        {
            "content-type": "application/json",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }
    )
)


class Discard(SpanExporter):
    """Accepts every batch and drops it (the cost measured is ours and the SDK's, not a collector's)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def tracing_for(mode: str) -> Tracing:
    if mode == "off":
        return NO_TRACING
    trace_mode, ratio = ("detailed", 1.0) if mode == "recorded" else ("sampled", 0.0)
    config = TelemetryConfig.model_validate(
        {"otel_enabled": True, "otel_trace_mode": trace_mode, "otel_trace_sample_ratio": ratio}
    )
    return OtelTracing.from_config(config, service_version="bench", exporter=Discard())


async def answer(request: Request) -> Answer:
    return Answer(200, HEADERS, BODY)


async def request_path(tracing: Tracing) -> float:
    """Seconds per `GitHubClient.get` (best round)."""
    options = ClientOptions("https://api.github.test", min_remaining_threshold=0)
    best = float("inf")
    async with GitHubClient(
        options,
        TokenAuth("bench-token"),
        org="bench",
        metrics=SelfMetrics(),
        transport=MockTransport(answer),
        tracing=tracing,
    ) as client:
        for _ in range(ROUNDS):
            gc.collect()
            with tracing.span("collection.cycle"):
                started = time.perf_counter()
                for i in range(REQUESTS):
                    await client.get(f"/repos/bench/r{i % 50}/pulls", endpoint="pulls", conditional=False)
                best = min(best, (time.perf_counter() - started) / REQUESTS)
    return best


def bare_span(tracing: Tracing) -> float:
    """Seconds per ``with tracing.span(name, attributes)`` inside a cycle span (best round)."""
    attributes: dict[str, str | int | float | bool] = {
        "store.operation": "put",
        "store.kind": "activity",
        "store.series": 12,
    }
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        with tracing.span("collection.cycle"):
            started = time.perf_counter()
            for _ in range(SPANS):
                with tracing.span("store.write", attributes, child_only=True) as span:
                    span.set("store.bytes", 1)
            best = min(best, (time.perf_counter() - started) / SPANS)
    return best


async def measure() -> None:
    print(f"{'mode':<10} {'request path':>14} {'bare span':>12}")
    baseline = 0.0
    for mode in ("off", "unsampled", "recorded"):
        tracing = tracing_for(mode)
        request = await request_path(tracing)
        span = bare_span(tracing)
        await tracing.close()
        baseline = baseline or request
        extra = f" (+{(request / baseline - 1) * 100:.0f}%)" if mode != "off" else ""
        print(f"{mode:<10} {request * 1e6:>11.1f} µs {span * 1e6:>9.2f} µs{extra}")


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
