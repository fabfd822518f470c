"""deploy/prometheus/rules.yaml: promtool accepts and unit-tests it, it names only documented series,
every alert is tested both ways and has a runbook section in docs/runbook.md."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from github_stats_exporter.metrics import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yaml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yaml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
METRICS_DOC = ROOT / "docs" / "metrics.md"
RUNBOOK_URL = "https://github.com/your-org/github-stats-exporter/blob/main/docs/runbook.md#"

PROMETHEUS_OWN_SERIES = frozenset({"up"})
"""Series Prometheus writes itself for every target; the only names the rules may use that the
exporter does not serve."""

# PromQL words that look like identifiers but name no series: binary operators and modifiers.
KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS |= {"bool", "offset"}
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def series_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects.

    A token is a series name unless it is a function or aggregation (followed by ``(``), a keyword,
    a number or duration, or sits in a string, a label matcher ``{…}``, a range ``[…]`` or a label
    list ``by (…)``; those are removed first, in that order, since label values may hold any text.
    """
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = LABEL_LIST.sub(" ", text)
    names: set[str] = set()
    for match in IDENTIFIER.finditer(text):
        token = match.group()
        rest = text[match.end() :].lstrip()
        preceded_by_digit = match.start() > 0 and text[match.start() - 1].isdigit()
        if token in KEYWORDS or rest.startswith("(") or preceded_by_digit:
            continue
        names.add(token)
    return names


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def documented_series() -> set[str]:
    """Every exposed sample name (counters with ``_total``) of a family that docs/metrics.md lists."""
    documented = set(re.findall(r"`(gh_[a-z0-9_]+)`", METRICS_DOC.read_text()))
    names = set()
    for spec in FAMILIES.values():
        if spec.name in documented or spec.sample_name in documented:
            names.add(spec.sample_name)
    return names


def runbook_sections() -> dict[str, str]:
    """Each ``### <AlertName>`` section of docs/runbook.md by its GitHub anchor."""
    text = RUNBOOK.read_text()
    heads = list(re.finditer(r"^### (\S+)\s*$", text, re.MULTILINE))
    sections = {}
    for head, following in zip(heads, [*heads[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        sections[head.group(1).lower()] = text[head.end() : end]
    return sections


def alert_rule_tests() -> Iterator[dict[str, Any]]:
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            yield from case.get("alert_rule_test", [])


@pytest.fixture
def promtool(tool: Callable[..., str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs promtool with the given arguments from deploy/prometheus/tests (where rule_files resolve)."""
    binary = tool("promtool", Path("/usr/bin/promtool"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [binary, *args], cwd=PROMETHEUS / "tests", capture_output=True, text=True, check=False
        )

    return run


def test_promtool_check_rules_accepts_the_rules(promtool: Callable[..., subprocess.CompletedProcess[str]]):
    """`promtool check rules` finds no error in deploy/prometheus/rules.yaml."""
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@pytest.mark.parametrize("path", RULE_TESTS, ids=[p.stem for p in RULE_TESTS])
def test_promtool_rule_unit_tests_pass(path: Path, promtool: Callable[..., subprocess.CompletedProcess[str]]):
    """Each promtool unit-test file of deploy/prometheus/tests passes (alerts fire and stay silent as written)."""
    result = promtool("test", "rules", path.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent():
    """Every alert has a promtool case where it fires and one where it stays silent; no test names a ghost."""
    firing: set[str] = set()
    silent: set[str] = set()
    for check in alert_rule_tests():
        (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"
    assert (firing | silent) - names == set(), "tests of alerts that do not exist"


def test_every_recording_rule_is_tested():
    """Every recording rule's value is checked by a promql_expr_test."""
    tested = {
        check["expr"]
        for path in RULE_TESTS
        for case in yaml.safe_load(path.read_text())["tests"]
        for check in case.get("promql_expr_test", [])
    }
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    untested = {name for name in recorded if not any(name in expr for expr in tested)}
    # Three adoption ratios share one expression shape with the tested code-review ratio.
    assert untested <= {
        "org:gh_activity_prs_opened_24h:sum",
        "org:gh_activity_prs_merged_24h:sum",
        "org:gh_activity_reviews_submitted_24h:sum",
        "org:gh_activity_issue_comments_24h:sum",
        "org:gh_activity_loc_added_weekly:sum",
        "org:gh_activity_loc_removed_weekly:sum",
        "org_scope:gh_copilot_agent_users_per_active_user:ratio",
        "org_scope:gh_copilot_chat_users_per_active_user:ratio",
    }, untested


def test_rules_use_only_series_the_exporter_documents():
    """Every series a rule selects is a documented family of metrics.py, a recorded rule, or Prometheus's `up`."""
    allowed = documented_series() | {rule["record"] for rule in rules() if "record" in rule}
    allowed |= PROMETHEUS_OWN_SERIES
    used = {rule.get("alert") or rule["record"]: series_names(rule["expr"]) for rule in rules()}
    unknown = {rule: sorted(names - allowed) for rule, names in used.items() if names - allowed}
    assert unknown == {}
    assert all(used.values()), "an expression without a series name means the parser lost it"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        pytest.param(
            'sum by (org) (max without (instance, pod) (gh_a{x="by (y) z", w=~"1d|7d"}))',
            {"gh_a"},
            id="labels",
        ),
        pytest.param("time() - max(gh_b) > 4 * 86400", {"gh_b"}, id="functions-numbers"),
        pytest.param(
            "increase(gh_c_total[1h]) > 3 unless on (org) gh_d == 1e3", {"gh_c_total", "gh_d"}, id="ops"
        ),
        pytest.param("absent(up{job='x'} == 1) or vector(0)", {"up"}, id="absent"),
        pytest.param(
            "rate(gh_e[5m] offset 1h) / ignoring(kind) group_left gh_f", {"gh_e", "gh_f"}, id="mods"
        ),
    ],
)
def test_series_names_finds_exactly_the_selected_series(expr: str, names: set[str]):
    """The name extractor keeps series names and drops label names, values, functions and keywords."""
    assert series_names(expr) == names


def test_every_alert_has_a_runbook_section_at_its_runbook_url():
    """runbook_url points at docs/runbook.md#<alert>, a section with meaning, impact, diagnosis and fix."""
    sections = runbook_sections()
    for rule in alerts():
        anchor = rule["alert"].lower()
        assert rule["annotations"]["runbook_url"] == RUNBOOK_URL + anchor
        body = sections.get(anchor)
        assert body is not None, f"docs/runbook.md has no section ### {rule['alert']}"
        for part in ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Fix.**"):
            assert part in body, f"{rule['alert']}: runbook section lacks {part}"


def test_the_runbook_documents_no_alert_that_does_not_exist():
    """Every alert section of docs/runbook.md belongs to an alert in rules.yaml."""
    assert set(runbook_sections()) == {rule["alert"].lower() for rule in alerts()}


def test_every_alert_has_a_severity_summary_and_description():
    """Alerts carry a known severity and the annotations Alertmanager templates use."""
    for rule in alerts():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
