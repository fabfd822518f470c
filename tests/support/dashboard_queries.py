"""Reading the dashboards' PromQL for tests: the selectors, metric names and grouping labels an expression
uses, and Grafana's variable substitution.

A deliberately small reader of the subset of PromQL the dashboards write (selectors with quoted matchers,
``by (...)`` clauses, ``$variables``); it is not a PromQL parser and must not grow into one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from github_stats_exporter.dashboards.grafana import Dashboard, LabelVariable, Panel, Query

PROMETHEUS_SERIES = frozenset({"up"})
"""Series Prometheus itself writes that the dashboards may read."""
TARGET_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus adds to every scraped series."""

_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_METRIC = re.compile(r"\b(gh_[a-z0-9_]+)")
_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_VARIABLE = re.compile(r"\$(\w+)")


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str
    labels: tuple[str, ...]


def selectors(expr: str) -> list[Selector]:
    """Every ``metric{...}`` in ``expr`` with the label names its matchers use."""
    out: list[Selector] = []
    for match in _SELECTOR.finditer(expr):
        body = match.group(2)
        labels = []
        rest = body
        while rest.strip():
            m = _MATCHER.match(rest)
            assert m, f"cannot read matchers {body!r} in {expr!r}"
            labels.append(m.group(1))
            rest = rest[m.end() :].removeprefix(",")
        out.append(Selector(match.group(1), tuple(labels)))
    return out


def metric_names(expr: str) -> set[str]:
    """Every series name ``expr`` reads: the exporter's ``gh_*`` names and the names of selectors."""
    return set(_METRIC.findall(expr)) | {s.metric for s in selectors(expr)}


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by (...)`` and ``without (...)`` clauses."""
    return {label.strip() for group in _BY.findall(expr) for label in group.split(",") if label.strip()}


def variables_used(text: str) -> set[str]:
    return set(_VARIABLE.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Grafana's ``$name`` substitution; a name without a value is an error."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for ${name} in {text!r}"
        return values[name]

    return _VARIABLE.sub(value, text)


def queries(dashboard: Dashboard) -> Iterator[tuple[Panel, Query]]:
    for panel in dashboard.panels():
        for query in panel.queries:
            yield panel, query


def expressions(dashboard: Dashboard) -> Iterator[str]:
    """Every PromQL text of a dashboard: panel queries and the selectors of its label variables."""
    for _, query in queries(dashboard):
        yield query.expr
    for variable in dashboard.variables:
        if isinstance(variable, LabelVariable):
            yield variable.selector
