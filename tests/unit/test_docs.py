"""The documentation keeps up with the code: every metric family is described in docs/metrics.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from github_stats_exporter.metrics import FAMILIES

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
