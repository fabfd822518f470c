"""Handler routing: each job kind reaches its collector; failures that cannot heal become permanent."""

from __future__ import annotations

import pytest

from github_stats_exporter.backfill.handlers import CollectorHandlers
from github_stats_exporter.backfill.jobs import JobKind, PermanentJobError, new_job
from github_stats_exporter.github.errors import AuthError, Forbidden, MalformedResponse, NotFound, ServerError

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


def _job(kind: JobKind, *, org: str = "Acme", target: str = "widgets", day: str = ""):
    return new_job(
        kind=kind,
        scope="org",
        scope_id=org,
        target=target,
        reason="x",
        created_at=T0,
        start=T0 - 60,
        end=T0,
        day=day,
    )


async def test_each_kind_reaches_its_collector_with_the_exact_window():
    """Activity gets repo and window, LOC the repo, Copilot scope, report type and day; org case is ignored."""
    activity, loc, copilot = Recorder(), Recorder(), Recorder()
    handlers = CollectorHandlers(
        activity={"acme": activity}, loc={"ACME": loc}, copilot={("org", "acme"): copilot}
    )
    registry = handlers.registry()
    await registry[JobKind.ACTIVITY](_job(JobKind.ACTIVITY))
    await registry[JobKind.LOC](_job(JobKind.LOC))
    await registry[JobKind.COPILOT](_job(JobKind.COPILOT, target="users", day="2024-05-30"))
    assert activity.calls == [("widgets", T0 - 60, T0)]
    assert loc.calls == [("widgets",)]
    assert copilot.calls == [("org", "Acme", "users", "2024-05-30")]


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
        await handlers.copilot(_job(JobKind.COPILOT, target="users", day="2024-05-30"))
