"""What the `once`-equals-the-truth tests share: their simulated world and reading the page's activity.

`truth_world` is the two-org world (seeded) that the whole-service test and its sharded twin both check;
`assert_once_exports_the_truth` runs `app.once` on a config (as a dict) against the running simulator
and asserts its activity equals `github_stats_exporter.simulator.truth.activity_truth`, read through
`activity_samples`, which keys a page's `gh_activity_*` samples like that truth. It must not start the
simulator or any server, nor check anything beyond activity.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from github_stats_exporter import app
from github_stats_exporter.config import parse_config
from github_stats_exporter.exposition import Format
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.simulator.truth import TruthKey, activity_truth


def truth_world(start: float) -> WorldSpec:
    """Two orgs of one App (id 11): acme (8 repositories, 5 users) and globex (7, 4), from ``start``."""
    return WorldSpec(
        seed=9,
        orgs=(
            OrgSpec("acme", repos=8, users=5, app_id=11, installation_id=21),
            OrgSpec("globex", repos=7, users=4, app_id=11, installation_id=22),
        ),
        start=start,
    )


def activity_samples(body: bytes) -> dict[TruthKey, float]:
    """(sample name, org, repo, user) -> value of every gh_activity_* sample on the page."""
    parsed = text_string_to_metric_families(body.decode())  # type: ignore[no-untyped-call]
    return {
        (s.name, s.labels["org"], s.labels["repo"], s.labels["user"]): s.value
        for family in parsed
        if family.name.startswith("gh_activity_")
        for s in family.samples
    }


async def assert_once_exports_the_truth(data: dict[str, Any], sim: Simulator, clock: SimClock) -> None:
    """One `once` run of config ``data`` succeeds and exports exactly the world's (non-empty) activity."""
    result = await app.once(parse_config(data), fmt=Format.OPENMETRICS, clock=clock.now)
    assert result.ok, result.failures
    exported = activity_samples(result.body)
    truth = activity_truth(sim.world, clock.now())
    assert truth, "the world should have activity"
    assert exported == truth
