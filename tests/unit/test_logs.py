"""Logs never carry tokens, JWTs or signed URL queries."""

from __future__ import annotations

import json

import pytest
import structlog

from github_stats_exporter.logs import configure_logging, redact


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
