"""The tracing port: off means no SDK at all; on, spans keep secrets out and continue job headers safely."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from github_stats_exporter.backfill.base import TRACE_PARENT_HEADER, trace_parent_of
from github_stats_exporter.config.schema import TelemetryConfig
from github_stats_exporter.github.routes import OTHER, route_template
from github_stats_exporter.otel_tracing import OtelTracing
from github_stats_exporter.tracing import NO_TRACING, TRACEPARENT, start_tracing


def config(**values: object) -> TelemetryConfig:
    return TelemetryConfig.model_validate(values)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="default"),
        pytest.param({"otel_enabled": False, "otel_trace_mode": "detailed"}, id="disabled-detailed"),
        pytest.param({"otel_enabled": True, "otel_trace_mode": "off"}, id="enabled-mode-off"),
    ],
)
def test_tracing_off_is_the_shared_no_op(values: dict[str, object]) -> None:
    """Disabled tracing (or mode off) gives the no-op, whose spans record nothing and carry no context."""
    tracing = start_tracing(config(**values), service_version="test")
    assert tracing is NO_TRACING
    assert not tracing.enabled
    with tracing.span("collection.cycle", {"collector": "org_cycle"}) as span:
        span.set("collection.ok", True)
        assert tracing.parent() == ""


def test_a_run_with_tracing_off_never_loads_the_sdk() -> None:
    """Importing the CLI and the composition root and starting tracing off leaves the SDK unloaded."""
    code = (
        "import sys, github_stats_exporter.cli, github_stats_exporter.app;"
        "from github_stats_exporter.config.schema import TelemetryConfig;"
        "from github_stats_exporter.tracing import start_tracing;"
        "start_tracing(TelemetryConfig(), service_version='x');"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == "[]"


def recording() -> tuple[OtelTracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing = OtelTracing.from_config(
        config(otel_enabled=True, otel_trace_mode="detailed"), service_version="test", exporter=exporter
    )
    return tracing, exporter


async def test_a_failed_span_keeps_the_exception_type_and_never_its_message() -> None:
    """An exception marks the span as an error with its class name; the message (a URL here) is not kept."""
    tracing, exporter = recording()

    def fail() -> None:
        with tracing.span("collection.cycle"):
            msg = "https://blob.example/report?sig=secret"
            raise ValueError(msg)

    with pytest.raises(ValueError, match="secret"):
        fail()
    await tracing.close()
    (span,) = exporter.get_finished_spans()
    assert span.attributes == {"error.type": "ValueError"}
    assert span.status.description == "ValueError"
    assert span.events == ()


async def test_child_only_spans_need_an_open_span() -> None:
    """A store write or request outside any cycle starts no trace; inside one it becomes a child."""
    tracing, exporter = recording()
    with tracing.span("store.write", child_only=True):
        pass
    with tracing.span("collection.cycle"), tracing.span("store.write", child_only=True):
        parent = tracing.parent()
    await tracing.close()
    cycle, write = sorted(exporter.get_finished_spans(), key=lambda s: s.name)
    assert [cycle.name, write.name] == ["collection.cycle", "store.write"]
    assert write.parent is not None
    assert write.parent.span_id == cycle.context.span_id
    assert TRACEPARENT.fullmatch(parent)


@pytest.mark.parametrize(
    "parent",
    [
        pytest.param("", id="absent"),
        pytest.param("not-a-traceparent", id="garbage"),
        pytest.param("00-" + "0" * 32 + "-" + "0" * 16 + "-01", id="all-zero-ids"),
        pytest.param("01-" + "a" * 32 + "-" + "b" * 16 + "-01", id="unknown-version"),
    ],
)
async def test_an_unusable_job_parent_starts_a_new_trace(parent: str) -> None:
    """A job whose traceparent header is missing or invalid still gets a span, as a new root."""
    tracing, exporter = recording()
    with tracing.span("backfill.job", parent=parent):
        pass
    await tracing.close()
    (span,) = exporter.get_finished_spans()
    assert span.parent is None


async def test_a_valid_job_parent_is_continued() -> None:
    """A job span continues the trace named by its traceparent header."""
    tracing, exporter = recording()
    header = "00-" + "4bf92f3577b34da6a3ce929d0e0e4736" + "-" + "00f067aa0ba902b7" + "-01"
    with tracing.span("backfill.job", parent=header):
        pass
    await tracing.close()
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert f"{span.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, "", id="absent"),
        pytest.param({TRACE_PARENT_HEADER: "00-abc"}, "00-abc", id="text"),
        pytest.param({TRACE_PARENT_HEADER: b"00-abc"}, "00-abc", id="bytes"),
        pytest.param({TRACE_PARENT_HEADER: 42}, "", id="not-text"),
        pytest.param({TRACE_PARENT_HEADER: "x" * 1000}, "", id="too-long"),
    ],
)
def test_trace_parent_header_is_read_leniently(headers: dict[str, object], expected: str) -> None:
    """Whatever a foreign publisher put in the header, reading it never fails a job."""
    assert trace_parent_of(headers) == expected


@pytest.mark.parametrize(
    ("path", "prefix", "route"),
    [
        pytest.param(
            "/repos/acme/api/stats/contributors", "", "/repos/{owner}/{repo}/stats/contributors", id="stats"
        ),
        pytest.param(
            "/repos/acme/api/commits/abc123", "", "/repos/{owner}/{repo}/commits/{ref}", id="commit"
        ),
        pytest.param("/api/v3/orgs/acme/repos", "/api/v3", "/orgs/{org}/repos", id="ghes-prefix"),
        pytest.param(
            "/orgs/acme/copilot/metrics/reports/users-28-day/latest",
            "",
            "/orgs/{org}/copilot/metrics/reports/{report}/latest",
            id="copilot-latest",
        ),
        pytest.param("/repos/acme/api/secret-thing", "", OTHER, id="unknown"),
    ],
)
def test_route_templates_hide_names(path: str, prefix: str, route: str) -> None:
    """A concrete path maps to its route template; an unknown path to "other", never to itself."""
    assert route_template(path, prefix=prefix) == route


async def test_an_unsampled_cycle_still_hands_its_decision_to_jobs() -> None:
    """Ratio 0: nothing is recorded, but the cycle's context (flag "not sampled") reaches the job header."""
    exporter = InMemorySpanExporter()
    tracing = OtelTracing.from_config(
        config(otel_enabled=True, otel_trace_mode="sampled", otel_trace_sample_ratio=0.0),
        service_version="test",
        exporter=exporter,
    )
    with tracing.span("collection.cycle"):
        with tracing.span("store.write", child_only=True):
            pass
        parent = tracing.parent()
    with tracing.span("backfill.job", parent=parent):
        pass
    await tracing.close()
    assert exporter.get_finished_spans() == ()
    assert TRACEPARENT.fullmatch(parent)
    assert int(parent[-2:], 16) & 1 == 0  # the "sampled" flag is clear
