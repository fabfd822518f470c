"""The Grafana dashboards: checked-in JSON is current, every query reads only what the exporter emits, and the
builder's layout and input checks hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.dashboard_queries import (
    PROMETHEUS_SERIES,
    TARGET_LABELS,
    expressions,
    grouping_labels,
    metric_names,
    queries,
    selectors,
    variables_used,
)

from github_stats_exporter.dashboards import __main__ as cli
from github_stats_exporter.dashboards.catalog import DASHBOARDS, files
from github_stats_exporter.dashboards.grafana import Kind, LabelVariable, Panel, Query, render, sel
from github_stats_exporter.metrics import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "deploy" / "grafana"
SAMPLE_NAMES = {spec.sample_name: spec for spec in FAMILIES.values()}
BUILTINS = {"__rate_interval", "datasource"}
IDS = [d.slug for d in DASHBOARDS]


def test_checked_in_dashboards_are_current():
    """deploy/grafana/ holds exactly the generated files, byte for byte (`make dashboards` regenerates them)."""
    assert cli.stale(GRAFANA_DIR) == []


def test_stale_check_reports_changed_missing_and_extra_files(tmp_path: Path):
    """The --check mode names a changed, a missing and an unknown file and exits 1; after writing it exits 0."""
    assert cli.main([str(tmp_path)]) == 0
    assert cli.main(["--check", str(tmp_path)]) == 0
    names = sorted(files())
    (tmp_path / names[0]).write_text("{}\n", encoding="utf-8")
    (tmp_path / names[1]).unlink()
    (tmp_path / "old.json").write_text("{}\n", encoding="utf-8")
    assert cli.stale(tmp_path) == sorted([names[0], names[1], "old.json"])
    assert cli.main(["--check", str(tmp_path)]) == 1


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=IDS)
def test_every_series_a_dashboard_reads_is_in_the_metric_contract(dashboard):
    """Each series name in a query or variable is a family's exposed name (counters with _total) or Prometheus's up."""
    docs = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for expr in expressions(dashboard):
        for name in metric_names(expr):
            if name in PROMETHEUS_SERIES:
                continue
            assert name in SAMPLE_NAMES, f"{dashboard.slug}: {name} is not emitted by the exporter ({expr})"
            assert f"`{name}`" in docs, f"{name} is not documented in docs/metrics.md"


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=IDS)
def test_every_label_a_dashboard_uses_exists_on_its_series(dashboard):
    """Matchers name only labels of their family, and by/without clauses only labels of the families read."""
    for expr in expressions(dashboard):
        allowed = set(TARGET_LABELS)
        for selector in selectors(expr):
            spec = SAMPLE_NAMES.get(selector.metric)
            labels = set(spec.labels) | set(spec.optional_labels) if spec else set()
            unknown = set(selector.labels) - labels - TARGET_LABELS
            assert not unknown, f"{dashboard.slug}: {selector.metric} has no label {unknown} ({expr})"
            allowed |= labels
        assert grouping_labels(expr) <= allowed, f"{dashboard.slug}: grouping by an unknown label in {expr}"


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=IDS)
def test_every_variable_a_query_uses_is_defined_before_use(dashboard):
    """Queries use only the dashboard's variables; a variable's selector uses only variables defined before it."""
    defined = set(BUILTINS)
    for variable in dashboard.variables:
        if isinstance(variable, LabelVariable):
            assert variables_used(variable.selector) <= defined, variable
        defined.add(variable.name)
    for panel, query in queries(dashboard):
        assert variables_used(query.expr) <= defined, f"{panel.title}: {query.expr}"


def test_dashboards_have_unique_uids_and_the_four_views():
    """Four dashboards (adoption, teams and repositories, activity, operations) with distinct uids and slugs."""
    assert len({d.uid for d in DASHBOARDS}) == len({d.slug for d in DASHBOARDS}) == 4
    assert {d.slug for d in DASHBOARDS} == {
        "copilot-adoption",
        "copilot-teams-repositories",
        "activity",
        "exporter-operations",
    }


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=IDS)
def test_rendered_panels_do_not_overlap_and_read_the_datasource_variable(dashboard):
    """Panels fit the 24-column grid without overlapping, ids are unique, and every target uses ${datasource}."""
    model = render(dashboard)
    cells: set[tuple[int, int]] = set()
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        mine = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, panel["title"]
        cells |= mine
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
    assert model["templating"]["list"][0]["type"] == "datasource"


def test_distinct_user_panels_warn_that_they_do_not_add_up():
    """Every panel reading an active-user family says in its description that the values must not be summed."""
    distinct = ("active_users", "active_cli_users", "engaged_users", "_active_", "_passive_")
    for dashboard in DASHBOARDS:
        for panel, query in queries(dashboard):
            if any(part in name for name in metric_names(query.expr) for part in distinct):
                text = panel.description.lower()
                assert "never sum" in text or "not add up" in text or "not summable" in text, panel.title


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"queries": ()}, "has no query", id="no-query"),
        pytest.param({"description": "  "}, "has no description", id="no-description"),
        pytest.param({"width": 25}, "outside 1..24", id="too-wide"),
        pytest.param({"width": 0}, "outside 1..24", id="zero-width"),
    ],
)
def test_panel_rejects_bad_input_with_a_clear_error(kwargs, message):
    """A panel without queries or description, or wider than the grid, is refused when declared."""
    args = {"title": "t", "description": "d", "queries": (Query("up"),), **kwargs}
    with pytest.raises(ValueError, match=message):
        Panel(**args)


def test_selector_builder_and_table_targets():
    """sel() joins matchers; table panels send instant queries in table format and merge their columns."""
    assert sel("up") == "up"
    assert sel("up", 'job="a"', 'instance="b"') == 'up{job="a",instance="b"}'
    teams = next(d for d in DASHBOARDS if d.slug == "copilot-teams-repositories")
    tables = [p for p in render(teams)["panels"] if p["type"] == Kind.TABLE.value]
    assert tables
    for table in tables:
        assert all(t["instant"] and t["format"] == "table" for t in table["targets"])
        assert table["transformations"][0]["id"] == "merge"
