"""The `copilot` config rules the collector relies on, one table row per rule, and the shipped samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from github_stats_exporter.config import ConfigError, Settings, parse_config
from github_stats_exporter.scrape.copilot_map import LabelPolicy

ROOT = Path(__file__).resolve().parents[3]
ENV = {"GH_TOKEN": "ghp_exampletoken", "HASH_KEY": "k" * 32, "SHORT_KEY": "short"}


def load(copilot: dict[str, Any]) -> Settings:
    data = {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]}, "copilot": copilot}
    return parse_config(data, environ=ENV)


def problems(copilot: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(copilot)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize(
    ("copilot", "path", "wording"),
    [
        pytest.param({"user_label_mode": "email"}, "copilot.user_label_mode", "'login'", id="mode-enum"),
        pytest.param(
            {"enabled": True, "user_label_mode": "hashed"},
            "copilot.user_label_hash_key_env",
            "secret key",
            id="hashed-needs-key",
        ),
        pytest.param(
            {"enabled": True, "user_label_mode": "hashed", "user_label_hash_key_env": "SHORT_KEY"},
            "copilot.user_label_hash_key_env",
            "at least 16",
            id="hashed-key-too-short",
        ),
        pytest.param(
            {"enabled": True, "enterprise": {"enabled": True, "token_env": "GH_TOKEN"}},
            "copilot.enterprise.slug",
            "is required",
            id="enterprise-needs-slug",
        ),
        pytest.param(
            {
                "enabled": True,
                "enterprise": {"enabled": True, "slug": "big", "app_id": 3, "private_key_path": "k.pem"},
            },
            "copilot.enterprise.installation_id",
            "is required",
            id="enterprise-app-needs-installation",
        ),
        pytest.param(
            {"scrape_interval": "0"}, "copilot.scrape_interval", "longer than 0", id="interval-positive"
        ),
        pytest.param(
            {"download_timeout": "0s"},
            "copilot.download_timeout",
            "longer than 0",
            id="download-timeout-positive",
        ),
        pytest.param(
            {"request_timeout": "-1s"}, "copilot.request_timeout", "negative", id="request-timeout-positive"
        ),
        pytest.param(
            {"max_records_per_report": -1},
            "copilot.max_records_per_report",
            "0",
            id="records-cap-not-negative",
        ),
        pytest.param(
            {"max_users_per_report": -5}, "copilot.max_users_per_report", "0", id="users-cap-not-negative"
        ),
        pytest.param(
            {"seats_interval": "0s"}, "copilot.seats_interval", "longer than 0", id="seats-interval"
        ),
        pytest.param({"include_seats": "yes"}, "copilot.include_seats", "bool", id="include-seats-strict"),
        pytest.param(
            {"include_seat_users": 1}, "copilot.include_seat_users", "bool", id="include-seat-users-strict"
        ),
    ],
)
def test_copilot_rules(copilot: dict[str, Any], path: str, wording: str) -> None:
    """Each rule names the field and says what is allowed."""
    found = problems(copilot)
    assert path in found, found
    assert wording in found[path]


@pytest.mark.parametrize(
    "copilot",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"enabled": False, "user_label_mode": "hashed"}, id="disabled-hashed-needs-nothing"),
        pytest.param(
            {"enabled": False, "enterprise": {"enabled": True}}, id="disabled-enterprise-needs-nothing"
        ),
    ],
)
def test_disabled_copilot_requires_nothing(copilot: dict[str, Any]) -> None:
    """With copilot.enabled false no other Copilot field is required."""
    assert load(copilot).copilot.enabled is False


def test_enterprise_reports_are_coerced_off_without_an_enterprise() -> None:
    """include_enterprise_* without enterprise.enabled become false, with a notice for each."""
    settings = load({"enabled": True, "include_enterprise_28d": True, "include_enterprise_users_28d": True})
    assert not settings.copilot.include_enterprise_28d
    assert not settings.copilot.include_enterprise_users_28d
    assert len([n for n in settings.notices if "include_enterprise" in n]) == 2


def test_defaults_match_the_seed_plan() -> None:
    """Defaults: disabled, 6h/30s/90s, org 28d on, everything else off, PR activity on, login labels, no caps."""
    cfg = load({}).copilot
    assert (
        cfg.enabled,
        cfg.include_org_28d,
        cfg.include_org_users_28d,
        cfg.include_pull_request_activity,
    ) == (
        False,
        True,
        False,
        True,
    )
    assert [
        cfg.scrape_interval.total_seconds(),
        cfg.request_timeout.total_seconds(),
        cfg.download_timeout.total_seconds(),
    ] == [
        21600.0,
        30.0,
        90.0,
    ]
    assert not any(getattr(cfg, f"include_breakdown_{d}") for d in ("ide", "feature", "language", "model"))
    assert (
        cfg.user_label_mode,
        cfg.emit_day_label,
        cfg.max_records_per_report,
        cfg.max_users_per_report,
    ) == ("login", False, 0, 0)


def test_hash_key_reaches_the_label_policy() -> None:
    """The resolved hash key makes a working hashed LabelPolicy (HMAC, 16 hex characters)."""
    cfg = load({"enabled": True, "user_label_mode": "hashed", "user_label_hash_key_env": "HASH_KEY"}).copilot
    assert cfg.hash_key == b"k" * 32
    label = LabelPolicy(cfg.user_label_mode, cfg.hash_key, cfg.emit_day_label).user("alice", 1)
    assert len(label) == 16
    assert label != "alice"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(ROOT / "config" / "local.yaml", id="local-yaml"),
        pytest.param(ROOT / "src" / "github_stats_exporter" / "demo" / "demo.yaml", id="demo-yaml"),
    ],
)
def test_shipped_copilot_blocks_are_valid(path: Path) -> None:
    """The copilot blocks of config/local.yaml and the demo config validate (secrets aside)."""
    data = yaml.safe_load(path.read_text())
    data["github"]["orgs"] = [{"org": "acme", "token_env": "GH_TOKEN"}]
    enterprise = data.get("copilot", {}).get("enterprise", {})
    if enterprise.get("enabled"):
        enterprise.pop("private_key_path", None)
        enterprise.update({"app_id": 0, "installation_id": 0, "token_env": "GH_TOKEN"})
    settings = parse_config(data, environ=ENV)
    assert settings.copilot.model_dump() is not None


def test_seat_users_are_coerced_off_without_seats() -> None:
    """include_seat_users without include_seats becomes false, with a notice."""
    settings = load({"enabled": True, "include_seat_users": True})
    assert not settings.copilot.include_seat_users
    assert [n for n in settings.notices if "include_seat_users" in n]
    kept = load({"enabled": True, "include_seats": True, "include_seat_users": True, "seats_interval": "15m"})
    assert kept.copilot.include_seat_users
    assert kept.copilot.seats_interval.total_seconds() == 900


def test_enterprise_app_credentials_get_a_seats_notice(tmp_path: Path) -> None:
    """The enterprise seat list refuses App tokens: with an App configured the loader says seats are skipped."""
    key = tmp_path / "k.pem"
    key.write_text("unused")
    enterprise = {
        "enabled": True,
        "slug": "big",
        "app_id": 3,
        "installation_id": 4,
        "private_key_path": str(key),
    }
    data = {
        "github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]},
        "copilot": {"enabled": True, "include_seats": True, "enterprise": enterprise},
    }
    settings = parse_config(data, environ=ENV, resolve_secrets=False)
    assert [n for n in settings.notices if "refuses GitHub App tokens" in n]
    token = {"enabled": True, "slug": "big", "token_env": "GH_TOKEN"}
    quiet = load({"enabled": True, "include_seats": True, "enterprise": token})
    assert not [n for n in quiet.notices if "refuses GitHub App tokens" in n]
