"""The exception tree: one root, subsystem bases under it, decoding apart from HTTP, the permanence rule."""

from __future__ import annotations

import pytest

from github_stats_exporter.app.runtime import StartupError
from github_stats_exporter.backfill.base import QueueError, QueueTopologyError, QueueUnavailable
from github_stats_exporter.backfill.jobs import PermanentJobError
from github_stats_exporter.config import ConfigError
from github_stats_exporter.errors import ExporterError, permanent_cause
from github_stats_exporter.github.copilot import CopilotReportError, DownloadHostRefused, LinkExpired
from github_stats_exporter.github.errors import (
    AuthError,
    Forbidden,
    GitHubError,
    GitHubHTTPError,
    GitHubTransportError,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    http_error_for,
)
from github_stats_exporter.leader.base import LeaseError
from github_stats_exporter.leader.kubernetes import ElectorSetupError
from github_stats_exporter.scrape.copilot import CopilotCollectError
from github_stats_exporter.scrape.loc import LocCollectionError
from github_stats_exporter.store.base import StoreError, StoreUnavailable


@pytest.mark.parametrize(
    "cls",
    [
        GitHubError,
        CopilotReportError,
        StoreError,
        QueueError,
        PermanentJobError,
        LeaseError,
        ElectorSetupError,
        ConfigError,
        StartupError,
        LocCollectionError,
        CopilotCollectError,
    ],
)
def test_every_subsystem_base_derives_from_the_root(cls: type[Exception]) -> None:
    """`except ExporterError` catches every failure the exporter raises on purpose."""
    assert issubclass(cls, ExporterError)


def test_an_undecodable_body_is_not_an_http_error() -> None:
    """A 200 whose body does not decode must not be caught by handlers of refused statuses."""
    assert not issubclass(MalformedResponse, GitHubHTTPError)
    assert MalformedResponse(200, "not JSON", "list_pulls", "/x").transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        pytest.param(http_error_for(403, "no", "e", "/p"), False, id="plain-403"),
        pytest.param(RateLimited(0.0, secondary=True), True, id="secondary-limit"),
        pytest.param(http_error_for(404, "no", "e", "/p"), False, id="404"),
        pytest.param(http_error_for(422, "no", "e", "/p"), False, id="422"),
        pytest.param(http_error_for(401, "no", "e", "/p"), False, id="401"),
        pytest.param(http_error_for(400, "no", "e", "/p"), False, id="other-4xx"),
        pytest.param(http_error_for(503, "no", "e", "/p"), True, id="5xx"),
        pytest.param(GitHubTransportError("reset", endpoint="e", url_path="/p"), True, id="transport"),
        pytest.param(AuthError(None, "reset"), True, id="token-no-answer"),
        pytest.param(AuthError(502, "bad gateway"), True, id="token-5xx"),
        pytest.param(AuthError(401, "bad JWT"), False, id="token-401"),
        pytest.param(LinkExpired("expired", status=403), True, id="expired-link"),
        pytest.param(DownloadHostRefused("evil host"), False, id="download-host"),
        pytest.param(StoreUnavailable("down"), True, id="store-down"),
        pytest.param(QueueUnavailable("down"), True, id="queue-down"),
        pytest.param(QueueTopologyError("conflict"), False, id="queue-topology"),
    ],
)
def test_retryability_is_decided_where_the_error_is_made(error: ExporterError, transient: bool) -> None:
    """A plain 403 is permanent and a rate-limit 403 transient, as docs/architecture.md states."""
    assert error.transient is transient


def test_classes_follow_the_status() -> None:
    """Statuses map to the most specific class."""
    assert isinstance(http_error_for(403, "no", "e", "/p"), Forbidden)
    assert isinstance(http_error_for(404, "no", "e", "/p"), NotFound)
    assert isinstance(http_error_for(599, "no", "e", "/p"), ServerError)


def test_only_an_explicit_cause_makes_a_wrapper_permanent() -> None:
    """``raise Wrapper from Forbidden`` is permanent; an error merely raised during handling is not."""
    permanent = Forbidden(403, "no", "e", "/p")
    wrapped = LocCollectionError("loc failed")
    wrapped.__cause__ = permanent
    assert permanent_cause(wrapped) is permanent

    incidental = ServerError(502, "down", "e", "/p")
    incidental.__context__ = permanent
    assert permanent_cause(incidental) is None
    assert permanent_cause(RuntimeError("bug")) is None
