"""Tracing end to end: the exporter over the simulator sends OTLP/HTTP spans to an in-process receiver.

The receiver decodes the protobuf with the opentelemetry-proto classes, as a collector does. A `once`
run of the shipped demo config (activity, LOC, every Copilot report) must produce cycle, request,
download, parse and store spans in one tree per cycle, with route templates and no secret anywhere;
a backfill job's span continues the trace of the cycle that recorded it, through the queue headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.otlp_receiver import OtlpReceiver, otlp_receiver

from github_stats_exporter import app
from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.jobs import BackfillJob, encode_job, new_job
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, Result
from github_stats_exporter.config import parse_config
from github_stats_exporter.config.schema import TelemetryConfig
from github_stats_exporter.exposition import Format
from github_stats_exporter.github.routes import ROUTES
from github_stats_exporter.metrics import BACKFILL_ENQUEUED, BACKFILL_PROCESSED
from github_stats_exporter.model import ActivityReason, JobKind, MissedWindow, TimeWindow
from github_stats_exporter.otel_tracing import OtelTracing
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator, write_app_keys
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec, demo_spec
from github_stats_exporter.store.memory import MemorySnapshotStore

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0
SECRET_PATTERNS = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{8,}"  # installation and personal tokens
    r"|eyJ[A-Za-z0-9_-]{8,}"  # JWTs (the App's assertion)
    r"|[?&](sig|se|st|sv)="  # signed-URL query parameters
    r"|Bearer|Authorization|BEGIN .*PRIVATE KEY"
    r"|https?://"  # no attribute holds a URL at all
)


def demo_config(sim: Simulator, keys: dict[int, Path], telemetry: dict[str, Any]) -> dict[str, Any]:
    """The shipped demo config pointed at ``sim``, with ``telemetry`` as its tracing section."""
    text = resources.files("github_stats_exporter").joinpath("demo/demo.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    data["github"]["api_base_url"] = sim.api_url
    for org in data["github"]["orgs"]:
        org["private_key_path"] = str(keys[int(org["app_id"])])
    enterprise = data["copilot"]["enterprise"]
    enterprise["private_key_path"] = str(keys[int(enterprise["app_id"])])
    data["server"]["listen_addr"] = "127.0.0.1:0"
    data["telemetry"] = telemetry
    return data


async def run_once(tmp_path: Path, telemetry: dict[str, Any]) -> tuple[OtlpReceiver, Simulator]:
    spec = demo_spec(START)
    keys = write_app_keys(spec, tmp_path)
    clock = SimClock(frozen_at=START)
    async with otlp_receiver() as receiver, Simulator(spec, clock=clock) as sim:
        for app_id, (_, public) in keys.items():
            sim.add_app(app_id, public)
        paths = {a: p for a, (p, _) in keys.items()}
        settings = parse_config(
            demo_config(sim, paths, {**telemetry, "otel_exporter_otlp_endpoint": receiver.url})
        )
        result = await app.once(settings, fmt=Format.OPENMETRICS, clock=clock.now)
        assert result.ok, result.failures
    return receiver, sim


def assert_no_secrets(receiver: OtlpReceiver) -> None:
    for span in receiver.spans:
        for key, value in span.attributes.items():
            assert not SECRET_PATTERNS.search(str(value)), (span.name, key, value)


async def test_once_sends_a_span_tree_per_cycle_with_route_templates_and_no_secret(tmp_path: Path):
    """Detailed mode: every cycle is a root with collector, request, Copilot and store spans below it."""
    receiver, _ = await run_once(tmp_path, {"otel_enabled": True, "otel_trace_mode": "detailed"})
    names = {s.name for s in receiver.spans}
    assert {
        "collection.cycle",
        "collector.tick",
        "github.request",
        "copilot.report.download",
        "copilot.report.parse",
        "store.write",
    } <= names
    assert {s.service for s in receiver.spans} == {"github-stats-exporter"}
    cycles = {s.span_id: s for s in receiver.named("collection.cycle")}
    assert all(s.parent_id == "" for s in cycles.values())
    assert {s.attributes["collector"] for s in cycles.values()} >= {"org_cycle", "copilot", "copilot_seats"}
    # Everything else hangs below a cycle of its own trace.
    for span in receiver.spans:
        root = receiver.root_of(span)
        assert root.span_id in cycles, span
        assert root.trace_id == span.trace_id
    # Requests name their route template, never a concrete path.
    requests = receiver.named("github.request")
    routes = {s.attributes["http.route"] for s in requests}
    assert routes <= set(ROUTES)
    assert "/repos/{owner}/{repo}/stats/contributors" in routes
    assert "/orgs/{org}/copilot/metrics/reports/{report}/latest" in routes
    assert all(s.attributes["http.request.method"] == "GET" for s in requests)
    # Statuses are GitHub's: 202 while stats are computed, 204 for a report day without data, 409 for
    # an empty repository's commits. (One cycle asks nothing twice: its LOC tick reuses the listing.)
    statuses = {int(s.attributes["http.response.status_code"]) for s in requests}
    assert {200, 202, 409} <= statuses
    assert all(200 <= code < 600 for code in statuses)
    assert all("github.retries" in s.attributes for s in requests)
    # A collector tick of an org cycle sits between the cycle and its requests.
    ticks = {s.span_id: s for s in receiver.named("collector.tick")}
    assert any(s.parent_id in ticks for s in requests)
    # Downloads name the host only; parses count rows and bytes.
    downloads = receiver.named("copilot.report.download")
    assert {s.attributes["server.address"] for s in downloads} == {"127.0.0.1"}
    parses = {s.span_id: s for s in receiver.named("copilot.report.parse")}
    assert all(s.parent_id in parses for s in downloads)
    assert sum(int(s.attributes["copilot.rows"]) for s in parses.values()) > 0
    assert sum(int(s.attributes["copilot.bytes"]) for s in parses.values()) > 0
    puts = [s for s in receiver.named("store.write") if s.attributes["store.operation"] == "put"]
    assert puts
    assert all(int(s.attributes["store.series"]) >= 0 for s in puts)
    assert_no_secrets(receiver)


async def test_sample_ratio_zero_sends_nothing(tmp_path: Path):
    """Sampled mode with ratio 0 records no trace, so the collector receives no span at all."""
    receiver, _ = await run_once(
        tmp_path, {"otel_enabled": True, "otel_trace_mode": "sampled", "otel_trace_sample_ratio": 0.0}
    )
    assert receiver.spans == []
    assert receiver.requests == 0


def tracing_to(receiver: OtlpReceiver) -> OtelTracing:
    config = TelemetryConfig.model_validate(
        {"otel_enabled": True, "otel_trace_mode": "detailed", "otel_exporter_otlp_endpoint": receiver.url}
    )
    return OtelTracing.from_config(config, service_version="test")


def missed(target: str) -> MissedWindow:
    return MissedWindow(
        JobKind.ACTIVITY, "org", "acme", target, ActivityReason.COMMITS_FAILED, TimeWindow(START - 600, START)
    )


async def test_backfill_job_span_continues_the_recording_cycle_through_the_memory_queue():
    """The job's span is a child of the span that recorded the miss; a header-less message still runs."""
    handled: list[BackfillJob] = []

    async def handler(job: BackfillJob) -> None:
        handled.append(job)

    async with otlp_receiver() as receiver:
        tracing = tracing_to(receiver)
        store = MemorySnapshotStore(clock=lambda: START)
        queue = MemoryJobQueue(clock=lambda: START)
        dispatcher = Dispatcher(
            queue,
            store,
            SelfMetrics(),
            coalesce_window=0,
            dedup_ttl=0,
            max_per_org_per_minute=0,
            max_message_age=86_400,
            clock=lambda: START,
            tracing=tracing,
        )
        worker = BackfillWorker(
            queue,
            {JobKind.ACTIVITY: handler},
            store,
            SelfMetrics(),
            requeue_delays=(0.01,),
            max_message_age=86_400,
            clock=lambda: START,
            tracing=tracing,
        )
        with tracing.span("collection.cycle", {"collector": "org_cycle"}):
            await dispatcher.record(missed("widgets"))
        assert await dispatcher.sweep()
        # An older publisher's message: the same body, no traceparent header.
        await queue.publish_raw(encode_job(new_job(missed("gadgets"), created_at=START)), {})
        deliveries = queue.deliveries()
        results = [await worker.process(await anext(deliveries)) for _ in range(2)]
        await deliveries.aclose()
        await tracing.close()
    assert results == [Result.PROCESSED, Result.PROCESSED]
    assert [job.missed.target for job in handled] == ["widgets", "gadgets"]
    assert handled[0].trace_parent
    assert handled[1].trace_parent == ""
    (cycle,) = receiver.named("collection.cycle")
    traced, plain = sorted(receiver.named("backfill.job"), key=lambda s: s.parent_id == "")
    assert traced.parent_id == cycle.span_id
    assert traced.trace_id == cycle.trace_id
    assert traced.attributes["backfill.result"] == "processed"
    assert plain.parent_id == ""
    assert plain.trace_id != cycle.trace_id
    assert plain.attributes["backfill.result"] == "processed"


async def test_the_exporters_backfill_job_continues_the_cycle_that_missed_its_window(tmp_path: Path):
    """Commits fail during an org cycle; the job the worker later runs is traced under that cycle."""
    spec = WorldSpec(
        seed=4, orgs=(OrgSpec("acme", repos=6, users=3, app_id=11, installation_id=21),), start=START
    )
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    clock = SimClock(frozen_at=START)
    async with otlp_receiver() as receiver, Simulator(spec, clock=clock) as sim:
        sim.add_app(11, public)
        settings = parse_config(
            {
                "server": {"listen_addr": "127.0.0.1:0", "log_level": "warning"},
                "github": {
                    "api_base_url": sim.api_url,
                    "orgs": [
                        {"org": "acme", "app_id": 11, "installation_id": 21, "private_key_path": str(key)}
                    ],
                },
                "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
                "health": {"github_probe_interval": "1h"},
                "backfill": {"requeue_delays": ["10ms"]},
                "telemetry": {
                    "otel_enabled": True,
                    "otel_trace_mode": "detailed",
                    "otel_exporter_otlp_endpoint": receiver.url,
                },
            }
        )
        processed = {"org": "acme", "kind": "activity", "result": "processed"}
        async with contextlib.AsyncExitStack() as stack:
            runtime = await app.build_runtime(settings, stack, clock=clock.now)
            jobs = {job.name: job for job in runtime.jobs}
            sim.faults.add(FaultRule(r"/repos/acme/[^/]+/commits(\?|$)", status=503))
            assert not await jobs["org_cycle:acme"].tick()
            sim.faults.clear()
            assert await jobs["backfill_sweep"].tick()
            enqueued = runtime.metrics.value(
                BACKFILL_ENQUEUED, {"org": "acme", "reason": "activity_commits_failed"}
            )
            assert enqueued >= 1
            worker = asyncio.create_task(runtime.services["backfill_worker_0"]())
            deadline = time.monotonic() + 20
            try:
                while runtime.metrics.value(BACKFILL_PROCESSED, processed) < enqueued:
                    assert time.monotonic() < deadline, "the worker did not finish the jobs"
                    await asyncio.sleep(0.02)
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        # Leaving the stack flushed the spans.
    job_spans = receiver.named("backfill.job")
    assert len(job_spans) == enqueued
    by_id = receiver.by_id()
    for job in job_spans:
        recorder = by_id[job.parent_id]
        assert recorder.name == "collector.tick"
        assert recorder.attributes["collector"] == "activity"
        root = receiver.root_of(job)
        assert root.name == "collection.cycle"
        assert root.attributes["collector"] == "org_cycle"
        assert job.trace_id == root.trace_id
        assert job.attributes["backfill.result"] == "processed"
    # The job's own work (GitHub requests, store writes) hangs below the job span.
    job_ids = {job.span_id for job in job_spans}
    below = {s.name for s in receiver.spans if s.parent_id in job_ids}
    assert {"github.request", "store.write"} <= below
    assert_no_secrets(receiver)
