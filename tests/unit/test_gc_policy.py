"""`serve` raises the young generation's threshold before its event loop starts, and changes nothing else."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from github_stats_exporter import app, cli, gc_policy
from github_stats_exporter.config import Settings

TOKEN_ENV = "GSE_TEST_GC_TOKEN"


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test process's thresholds, put back afterwards whatever the test set."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_apply_raises_only_the_young_threshold(thresholds: tuple[int, int, int]) -> None:
    assert gc_policy.apply() == thresholds
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, 10, 10)
    assert gc.isenabled()


def test_serve_applies_the_policy_before_its_loop_starts(
    tmp_path: Path, thresholds: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"listen_addr": "127.0.0.1:0"},
                "github": {
                    "api_base_url": "http://127.0.0.1:9",
                    "orgs": [{"org": "acme", "token_env": TOKEN_ENV}],
                },
            }
        )
    )
    seen: list[tuple[int, int, int]] = []

    async def serve(settings: Settings) -> None:
        seen.append(gc.get_threshold())

    monkeypatch.setenv(TOKEN_ENV, "ghp_example")
    monkeypatch.setattr(app, "serve", serve)

    assert cli.main(["serve", "--config", str(config)]) == cli.EXIT_OK
    assert seen == [(gc_policy.YOUNG_THRESHOLD, 10, 10)]
