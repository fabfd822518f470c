"""Reads the `gh_activity_*` samples of an OpenMetrics page, keyed like the simulator's activity truth.

Tests compare the result with `github_stats_exporter.simulator.truth.activity_truth`. It only parses a
page; it must not start anything or know how the page was produced.
"""

from __future__ import annotations

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from github_stats_exporter.simulator.truth import TruthKey


def activity_samples(body: bytes) -> dict[TruthKey, float]:
    """(sample name, org, repo, user) -> value of every gh_activity_* sample on the page."""
    parsed = text_string_to_metric_families(body.decode())  # type: ignore[no-untyped-call]
    return {
        (s.name, s.labels["org"], s.labels["repo"], s.labels["user"]): s.value
        for family in parsed
        if family.name.startswith("gh_activity_")
        for s in family.samples
    }
