"""A small typed model of Grafana dashboards and its rendering to Grafana's JSON model.

Values are frozen dataclasses: a `Dashboard` holds template variables and rows of panels, each panel
holds PromQL queries. `render` lays the panels out on Grafana's 24-column grid and returns the JSON
model; `dump` gives the text written to `deploy/grafana/`. Every panel reads the Prometheus data source
chosen in the `datasource` variable, which every dashboard gets. This module knows nothing about the
exporter's metrics (the dashboards in this package do) and does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from typing import Any

GRID_WIDTH = 24
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def sel(metric: str, *matchers: str) -> str:
    """A PromQL selector: ``sel("up", 'job="x"')`` is ``up{job="x"}``."""
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


class Kind(StrEnum):
    """Grafana panel types used by the dashboards."""

    STAT = "stat"
    TIMESERIES = "timeseries"
    BARGAUGE = "bargauge"
    TABLE = "table"


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL query of a panel; ``legend`` is Grafana's legend format (``{{label}}``)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel. ``description`` is shown in the panel's info tooltip: the caveats go there."""

    title: str
    description: str
    queries: tuple[Query, ...]
    _: KW_ONLY
    kind: Kind = Kind.TIMESERIES
    unit: str = "short"
    width: int = 8
    height: int = 7

    def __post_init__(self) -> None:
        if not self.queries:
            msg = f"panel {self.title!r} has no query"
            raise ValueError(msg)
        if not 1 <= self.width <= GRID_WIDTH:
            msg = f"panel {self.title!r}: width {self.width} is outside 1..{GRID_WIDTH}"
            raise ValueError(msg)
        if not self.description.strip():
            msg = f"panel {self.title!r} has no description"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Row:
    """A titled row of panels, laid out left to right and wrapped at the grid width."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True, slots=True)
class LabelVariable:
    """A variable whose values are ``label_values(selector, label)``; the selector may use earlier variables."""

    name: str
    label: str
    selector: str
    label_name: str
    multi: bool = False
    include_all: bool = False
    description: str = ""

    @property
    def definition(self) -> str:
        return f"label_values({self.selector}, {self.label_name})"


@dataclass(frozen=True, slots=True)
class CustomVariable:
    """A variable with a fixed list of values; the first is the default."""

    name: str
    label: str
    options: tuple[str, ...]
    description: str = ""


Variable = LabelVariable | CustomVariable


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One dashboard: written to ``deploy/grafana/<slug>.json`` with Grafana uid ``uid``."""

    slug: str
    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = ("github-stats-exporter",)
    time_from: str = "now-7d"
    refresh: str = "5m"

    def panels(self) -> Iterator[Panel]:
        for row in self.rows:
            yield from row.panels


def _datasource_variable() -> dict[str, Any]:
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def _variable(variable: Variable) -> dict[str, Any]:
    if isinstance(variable, CustomVariable):
        options = [
            {"text": value, "value": value, "selected": i == 0} for i, value in enumerate(variable.options)
        ]
        return {
            "type": "custom",
            "name": variable.name,
            "label": variable.label,
            "description": variable.description,
            "query": ",".join(variable.options),
            "current": {"text": variable.options[0], "value": variable.options[0], "selected": True},
            "options": options,
            "hide": 0,
            "multi": False,
            "includeAll": False,
        }
    out: dict[str, Any] = {
        "type": "query",
        "name": variable.name,
        "label": variable.label,
        "description": variable.description,
        "datasource": DATASOURCE,
        "definition": variable.definition,
        "query": {"query": variable.definition, "refId": "StandardVariableQuery"},
        "current": {},
        "options": [],
        "hide": 0,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": variable.multi,
        "includeAll": variable.include_all,
    }
    if variable.include_all:
        out["allValue"] = ".*"
    return out


def _target(query: Query, ref: str, kind: Kind) -> dict[str, Any]:
    instant = kind in (Kind.TABLE, Kind.BARGAUGE)
    target: dict[str, Any] = {
        "datasource": DATASOURCE,
        "refId": ref,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "instant": instant,
        "range": not instant,
    }
    if kind is Kind.TABLE:
        target["format"] = "table"
    return target


def _options(kind: Kind) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if kind is Kind.STAT:
        return {"reduceOptions": reduce, "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    if kind is Kind.BARGAUGE:
        return {"reduceOptions": reduce, "orientation": "horizontal", "displayMode": "gradient"}
    if kind is Kind.TABLE:
        return {"showHeader": True, "cellHeight": "sm"}
    return {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind.value,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": _options(panel.kind),
        "targets": [_target(q, chr(ord("A") + i), panel.kind) for i, q in enumerate(panel.queries)],
    }
    if panel.kind is Kind.TABLE:
        # One instant query per column: merge them on their common labels and hide the timestamps.
        out["transformations"] = [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
        ]
    return out


def render(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's JSON model of ``dashboard``: rows and panels placed on the grid, ids in reading order."""
    panels: list[dict[str, Any]] = []
    y = 0
    panel_id = 0
    for row in dashboard.rows:
        panel_id += 1
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                y += line_height
                x, line_height = 0, 0
            panel_id += 1
            panels.append(_panel(panel, panel_id, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": dashboard.time_from, "to": "now"},
        "refresh": dashboard.refresh,
        "timezone": "utc",
        "templating": {"list": [_datasource_variable(), *(_variable(v) for v in dashboard.variables)]},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def dump(dashboard: Dashboard) -> str:
    """The JSON text of ``dashboard`` as checked in (stable key order, two-space indent, final newline)."""
    return json.dumps(render(dashboard), indent=2, ensure_ascii=False) + "\n"
