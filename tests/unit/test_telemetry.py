"""Self-metrics keep counter semantics; logs never carry tokens, JWTs or signed URL queries."""

from __future__ import annotations

import json

import pytest
import structlog

from github_stats_exporter.metrics import BUILD_INFO, GITHUB_REQUESTS, HTTP_REQUESTS
from github_stats_exporter.telemetry import SelfMetrics, configure_logging, redact


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


@pytest.mark.parametrize(
    ("raw", "leaked"),
    [
        pytest.param(
            "token ghs_abcdefghijklmnopqrstuvwxyz0123", "ghs_abcdefghijklmnop", id="installation-token"
        ),
        pytest.param("Bearer ghp_0123456789abcdefghijABCD", "ghp_0123456789", id="pat"),
        pytest.param("jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMSJ9.c2ln", "eyJpc3MiOiIxMSJ9", id="jwt"),
        pytest.param(
            "GET https://copilot-reports.github.com/r/part-1.json?sv=1&se=2026&sig=SECRETSIG",
            "SECRETSIG",
            id="signed-url",
        ),
    ],
)
def test_redact_removes_secrets(raw: str, leaked: str):
    """Tokens, JWTs and signed URL query strings are replaced before anything is logged."""
    assert leaked not in redact(raw)


def test_json_logs_redact_secret_fields(capsys: pytest.CaptureFixture[str]):
    """A JSON log line hides secret-named fields and secret-looking values."""
    configure_logging("info", "json")
    structlog.get_logger("t").info(
        "calling", token="ghs_abcdefghijklmnopqrstuvwxyz", url="https://h/x?sig=abc", org="acme"
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["token"] == "<redacted>"
    assert "sig=abc" not in event["url"]
    assert event["org"] == "acme"
    assert event["event"] == "calling"
