"""The documentation keeps up with the code: every metric family is described in docs/metrics.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from github_stats_exporter.metrics import FAMILIES, PER_PROCESS

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_is_documented(name: str):
    """Each family of the contract appears in docs/metrics.md under its exposed sample name."""
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert f"`{FAMILIES[name].sample_name}" in text, (
        f"{FAMILIES[name].sample_name} is missing from docs/metrics.md"
    )


def test_readme_names_the_two_setup_commands():
    """The README's two set-up commands are the ones CI and the demo use."""
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme
    assert "make test" in readme
    assert "make test" in (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")


def _section(title: str) -> str:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    return text[start : text.index("\n## ", start + 1)]


def _bullet(section: str, lead: str) -> set[str]:
    start = section.index(f"- **{lead}")
    end = section.find("\n- **", start + 1)
    return set(re.findall(r"`(gh_[a-z_]+)`", section[start : end if end > 0 else None]))


def test_the_documented_per_process_families_are_exactly_the_contracts():
    """docs/metrics.md names exactly the families metrics.PER_PROCESS lets differ between replicas."""
    section = _section("Cluster state and per-process series")
    documented = {name for name in _bullet(section, "Per process") if name in FAMILIES}
    # The bullet also mentions two families that agree once refreshed; only its leading list counts.
    documented -= {"gh_exporter_metrics_series_loaded", "gh_exporter_store_series"}
    assert documented == set(PER_PROCESS)


def test_the_documented_cluster_state_families_are_exactly_the_contracts():
    """docs/metrics.md lists exactly the gauges marked cluster_state in metrics.py."""
    section = _section("Cluster state and per-process series")
    documented = _bullet(section, "Business series and collector state")
    assert documented == {name for name, spec in FAMILIES.items() if spec.cluster_state}
