"""Writes deploy/kubernetes/base/prometheusrule.yaml from deploy/prometheus/rules.yaml.

The PrometheusRule is the same groups wrapped in a Prometheus Operator resource, so the rules have
one source. `--check` only compares and exits 1 when the file is out of date (the test suite checks
the same). This script changes no rule and reads nothing outside the repository.

    .venv/bin/python scripts/prometheus_rule.py          # regenerate
    .venv/bin/python scripts/prometheus_rule.py --check  # exit 1 when it differs
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
TARGET = ROOT / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"
HEADER = (
    "# Generated from deploy/prometheus/rules.yaml by scripts/prometheus_rule.py; do not edit.\n"
    "# Label it to match your Prometheus resource's ruleSelector.\n"
)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (long expressions) as literal blocks, as they are written in rules.yaml."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(rules: dict[str, Any]) -> str:
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "github-stats-exporter",
            "labels": {"app.kubernetes.io/name": "github-stats-exporter"},
        },
        "spec": {"groups": rules["groups"]},
    }
    return HEADER + yaml.dump(resource, Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)


def main(argv: list[str]) -> int:
    wanted = render(yaml.safe_load(RULES.read_text()))
    if argv[1:] == ["--check"]:
        if TARGET.read_text() != wanted:
            print(
                f"{TARGET.relative_to(ROOT)} is out of date; run scripts/prometheus_rule.py", file=sys.stderr
            )
            return 1
        return 0
    TARGET.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
