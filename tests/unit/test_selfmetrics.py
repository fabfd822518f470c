"""Self-metrics keep counter semantics and check label sets against the contract."""

from __future__ import annotations

import pytest

from github_stats_exporter.metrics import BUILD_INFO, GITHUB_REQUESTS, HTTP_REQUESTS
from github_stats_exporter.selfmetrics import SelfMetrics


def test_counters_accumulate_and_refuse_to_decrease():
    """inc adds up per label set; a negative amount and set() on a counter are refused."""
    m = SelfMetrics()
    labels = {"org": "a", "endpoint": "list_commits", "status_class": "2xx"}
    m.inc(GITHUB_REQUESTS, labels)
    m.inc(GITHUB_REQUESTS, labels, 2)
    assert m.value(GITHUB_REQUESTS, labels) == 3
    with pytest.raises(ValueError, match="cannot decrease"):
        m.inc(GITHUB_REQUESTS, labels, -1)
    with pytest.raises(TypeError):
        m.set(GITHUB_REQUESTS, labels, 0)


def test_label_sets_are_checked_against_the_contract():
    """A sample with a label the contract does not declare is a programming error, caught early."""
    m = SelfMetrics()
    with pytest.raises(ValueError, match="unknown labels"):
        m.inc(HTTP_REQUESTS, {"path": "/metrics", "code": "200", "user": "x"})
    with pytest.raises(ValueError, match="missing labels"):
        m.inc(HTTP_REQUESTS, {"path": "/metrics"})


def test_generation_moves_only_on_change():
    """The renderer can skip rebuilding self-metrics when nothing changed."""
    m = SelfMetrics()
    m.set(BUILD_INFO, {"version": "1", "python": "3.11"}, 1)
    g = m.generation
    m.set(BUILD_INFO, {"version": "1", "python": "3.11"}, 1)
    assert m.generation == g
    m.set(BUILD_INFO, {"version": "1", "python": "3.11"}, 2)
    assert m.generation == g + 1
