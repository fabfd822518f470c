"""The shipped dashboards and the files they render to (`deploy/grafana/<slug>.json`).

Renders text only: writing and checking the directory is `__main__`'s job.
"""

from __future__ import annotations

from github_stats_exporter.dashboards import activity, adoption, operations, teams
from github_stats_exporter.dashboards.grafana import Dashboard, dump

DASHBOARDS: tuple[Dashboard, ...] = (
    adoption.DASHBOARD,
    teams.DASHBOARD,
    activity.DASHBOARD,
    operations.DASHBOARD,
)


def files() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{dashboard.slug}.json": dump(dashboard) for dashboard in DASHBOARDS}
