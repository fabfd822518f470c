"""Handler routing: each job kind reaches its collector; failures that cannot heal become permanent."""

from __future__ import annotations

from datetime import date

import pytest

from github_stats_exporter.backfill.handlers import CollectorHandlers
from github_stats_exporter.backfill.jobs import BackfillJob, PermanentJobError, new_job
from github_stats_exporter.github.copilot import ReportRef
from github_stats_exporter.github.errors import (
    AuthError,
    Forbidden,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from github_stats_exporter.model import (
    ActivityReason,
    CopilotReason,
    DayWindow,
    JobKind,
    LocReason,
    MissedWindow,
    Scope,
    TimeWindow,
)

from .conftest import T0


class Recorder:
    """Stands in for the three collectors' backfill methods."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.error = error

    async def backfill(self, *args: object) -> None:
        self.calls.append(args)
        if self.error is not None:
            raise self.error


DAY = date(2024, 5, 30)


def _job(kind: JobKind, *, org: str = "Acme", target: str = "widgets") -> BackfillJob:
    if kind is JobKind.ACTIVITY:
        missed = MissedWindow(kind, "org", org, target, ActivityReason.PULLS_FAILED, TimeWindow(T0 - 60, T0))
    else:
        missed = MissedWindow(
            kind, "org", org, target, LocReason.CONTRIBUTOR_STATS_FAILED, TimeWindow(T0 - 60, T0)
        )
    return new_job(missed, created_at=T0)


def _copilot_job(report_type: str = "users", scope: Scope = "org") -> BackfillJob:
    reason = CopilotReason.REPORT_DOWNLOAD_ERROR
    missed = MissedWindow(JobKind.COPILOT, scope, "Acme", report_type, reason, DayWindow(DAY, DAY))
    return new_job(missed, created_at=T0)


async def test_each_kind_reaches_its_collector_with_the_exact_window():
    """Activity gets repo and window, LOC the repo, Copilot its report and day; org case is ignored."""
    activity, loc, copilot = Recorder(), Recorder(), Recorder()
    handlers = CollectorHandlers(
        activity={"acme": activity}, loc={"ACME": loc}, copilot={("org", "acme"): copilot}
    )
    registry = handlers.registry()
    await registry[JobKind.ACTIVITY](_job(JobKind.ACTIVITY))
    await registry[JobKind.LOC](_job(JobKind.LOC))
    await registry[JobKind.COPILOT](_copilot_job())
    assert activity.calls == [("widgets", TimeWindow(T0 - 60, T0))]
    assert loc.calls == [("widgets",)]
    assert copilot.calls == [(ReportRef("org", "Acme", "users"), DAY)]


async def test_whole_org_jobs_fan_out_over_the_listed_repositories():
    """Target * re-collects every repository the org lists."""
    activity = Recorder()

    async def names() -> list[str]:
        return ["a", "b"]

    handlers = CollectorHandlers(activity={"acme": activity}, repos={"acme": names})
    await handlers.activity(_job(JobKind.ACTIVITY, target="*"))
    assert [call[0] for call in activity.calls] == ["a", "b"]


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        pytest.param(ServerError(502, "bad gateway", "list_pulls", "/x"), False, id="5xx-retries"),
        pytest.param(Forbidden(403, "no access", "list_pulls", "/x"), True, id="403-permanent"),
        pytest.param(RateLimited(T0 + 3600, secondary=True), False, id="secondary-limit-403-retries"),
        pytest.param(Unauthorized(401, "bad credentials", "list_pulls", "/x"), True, id="401-permanent"),
        pytest.param(AuthError(404, "no such installation"), True, id="token-404-permanent"),
        pytest.param(
            MalformedResponse(200, "body is not valid JSON", "list_pulls", "/x"),
            False,
            id="invalid-body-retries",
        ),
        pytest.param(AuthError(201, "not JSON", invalid_body=True), False, id="invalid-token-body-retries"),
        pytest.param(RuntimeError("wrapped"), False, id="other-retries"),
    ],
)
async def test_only_failures_that_cannot_heal_are_permanent(error: Exception, permanent: bool):
    """Missing permissions or resources skip the retries; server errors and the rest are retried."""
    handlers = CollectorHandlers(activity={"acme": Recorder(error)})
    with pytest.raises(Exception) as caught:
        await handlers.activity(_job(JobKind.ACTIVITY))
    assert isinstance(caught.value, PermanentJobError) is permanent


async def test_a_cause_chained_under_a_collector_error_is_still_found():
    """A collector error wrapping a 404 (raise ... from) counts as permanent."""
    wrapped = RuntimeError("loc backfill failed")
    wrapped.__cause__ = NotFound(404, "gone", "contributor_stats", "/x")
    handlers = CollectorHandlers(loc={"acme": Recorder(wrapped)})
    with pytest.raises(PermanentJobError, match="NotFound"):
        await handlers.loc(_job(JobKind.LOC))


async def test_a_scope_without_a_collector_is_permanent():
    """A job for an org or enterprise this replica does not collect goes to the DLQ, not into retries."""
    handlers = CollectorHandlers()
    with pytest.raises(PermanentJobError, match="not configured"):
        await handlers.copilot(_copilot_job())


@pytest.mark.parametrize(
    ("report_type", "scope"),
    [
        pytest.param("widgets", "org", id="unknown-report-type"),
        pytest.param("enterprise", "org", id="enterprise-report-of-an-org"),
        pytest.param("organization", "enterprise", id="org-report-of-an-enterprise"),
    ],
)
async def test_a_report_the_scope_does_not_have_is_permanent(report_type: str, scope: Scope):
    """A job naming a report its scope has no endpoint for never reaches the collector and is not retried."""
    copilot = Recorder()
    handlers = CollectorHandlers(copilot={(scope, "acme"): copilot})
    with pytest.raises(PermanentJobError):
        await handlers.copilot(_copilot_job(report_type, scope))
    assert copilot.calls == []


async def test_a_report_the_collector_refuses_is_permanent():
    """A collector refusing the report (ValueError: another scope id) sends the job to the DLQ at once."""
    handlers = CollectorHandlers(copilot={("org", "acme"): Recorder(ValueError("not my org"))})
    with pytest.raises(PermanentJobError, match="not my org"):
        await handlers.copilot(_copilot_job())


async def test_a_transient_cause_under_a_collector_error_is_retried():
    """A collector error chained from a 5xx stays retriable: only a permanent cause dead-letters a job."""
    wrapped = RuntimeError("loc backfill failed")
    wrapped.__cause__ = ServerError(502, "bad gateway", "contributor_stats", "/x")
    handlers = CollectorHandlers(loc={"acme": Recorder(wrapped)})
    with pytest.raises(RuntimeError):
        await handlers.loc(_job(JobKind.LOC))
