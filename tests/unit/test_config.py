"""Loading the configuration: the Go sample, our sample, defaults, file errors, many problems at once."""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel

from github_stats_exporter.config import (
    AppCredentials,
    ConfigError,
    ConfigProblem,
    CopilotEnterpriseConfig,
    OrgConfig,
    Settings,
    TokenCredentials,
    UnresolvedSecretError,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[2]
GO_SAMPLE = ROOT / "tests" / "fixtures" / "go_local.yaml"
# The Go exporter's config/local.yaml, copied byte for byte; a test pins it so nobody "fixes" the sample.
GO_SAMPLE_SHA256 = "c15be4440b10563ae469fe5db7b3b3e4a6785aa11ebe26cfe3bd09b1c9bcee43"
OUR_SAMPLE = ROOT / "config" / "local.yaml"
ENV = {"GH_TOKEN": "ghp_exampletoken"}


def _minimal() -> dict[str, object]:
    return {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]}}


def _attr(settings: Settings, dotted: str) -> object:
    value: object = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _write_rsa_key(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def test_go_fixture_is_the_unedited_go_sample() -> None:
    """tests/fixtures/go_local.yaml still has the bytes of the Go exporter's sample it was copied from."""
    assert hashlib.sha256(GO_SAMPLE.read_bytes()).hexdigest() == GO_SAMPLE_SHA256


def test_go_sample_loads_unchanged_without_secrets() -> None:
    """The Go exporter's config/local.yaml validates as-is and keeps its values."""
    settings = load_config(GO_SAMPLE, resolve_secrets=False)
    assert [org.org for org in settings.github.orgs] == ["example-org-a", "example-org-b"]
    assert [org.per_org_concurrency for org in settings.github.orgs] == [4, 4]
    assert [org.auth_method for org in settings.github.orgs] == ["app", "app"]
    assert settings.github.orgs[1].app_id == 333333
    assert settings.server.log_level == "debug"
    assert settings.github.unhealthy_cooldown == timedelta(minutes=2)
    assert settings.store.backend == "redis"
    assert settings.store.retention == timedelta(days=30)
    assert settings.store.max_series_budget == 500_000
    assert settings.store.index_shards == 64
    assert settings.backfill.requeue_delays == (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    assert settings.backfill.dedup_ttl == timedelta(hours=12)
    assert settings.loc.large_repo_cooldown == timedelta(days=7)
    assert settings.copilot.enabled is False
    assert settings.amqp.enabled is True
    assert settings.amqp.resolved_url == "amqp://githubstats:githubstats@rabbitmq:5672/"
    assert settings.telemetry.effective_trace_mode == "off"
    assert settings.notices == []


def test_go_sample_with_secrets_reports_exactly_the_missing_key_files() -> None:
    """Resolving secrets on the Go sample fails only because its two PEM files do not exist here."""
    with pytest.raises(ConfigError) as info:
        load_config(GO_SAMPLE, environ={})
    assert [(p.path, p.value) for p in info.value.problems] == [
        ("github.orgs[0].private_key_path", "/app/keys/gh-app-key.pem"),
        ("github.orgs[1].private_key_path", "/app/keys/gh-app-key-org.pem"),
    ]
    assert all("file not found" in p.message for p in info.value.problems)


def test_go_sample_credentials_are_unavailable_when_not_resolved() -> None:
    """Asking for credentials of a config loaded without secrets is an explicit error."""
    settings = load_config(GO_SAMPLE, resolve_secrets=False)
    with pytest.raises(UnresolvedSecretError, match="resolve_secrets=False"):
        _ = settings.github.orgs[0].credentials


def test_our_sample_loads_with_a_key_next_to_it(tmp_path: Path) -> None:
    """config/local.yaml loads with its relative key path resolved against the config folder."""
    config = tmp_path / "local.yaml"
    shutil.copy(OUR_SAMPLE, config)
    _write_rsa_key(tmp_path / "keys" / "github-app.pem")
    settings = load_config(config, environ={})
    org = settings.github.orgs[0]
    assert org.org == "my-org"
    assert isinstance(org.credentials, AppCredentials)
    assert org.credentials.app_id == 123456
    assert org.credentials.private_key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert settings.store.backend == "memory"
    assert settings.copilot.enabled is False
    assert settings.amqp.enabled is False
    assert settings.notices == []


def test_our_sample_lists_every_section() -> None:
    """config/local.yaml shows every section, so it documents the whole schema."""
    text = OUR_SAMPLE.read_text()
    for section in Settings.model_fields:
        assert f"\n{section}:" in text


def test_our_sample_sets_every_key_to_its_default_except_the_org() -> None:
    """Apart from the org and a few local choices, our sample restates the defaults."""
    loaded = load_config(OUR_SAMPLE, resolve_secrets=False)
    defaults = parse_config({"github": loaded.github.model_dump(mode="python")}, resolve_secrets=False)
    changed = {
        name
        for name in Settings.model_fields
        if name != "github" and getattr(loaded, name) != getattr(defaults, name)
    }
    assert changed == {"server"}  # listen on loopback, console logs


DEFAULTS = [
    ("server.listen_addr", ":8080"),
    ("server.log_level", "info"),
    ("server.log_format", "json"),
    ("server.web_config_file", ""),
    ("server.probes_without_auth", False),
    ("metrics.topology", "single_service_target"),
    ("metrics.scrape_service_dns", ""),
    ("leader_election.enabled", False),
    ("leader_election.namespace", ""),
    ("leader_election.lease_name", "github-stats-exporter-leader"),
    ("leader_election.backend", "kubernetes"),
    ("leader_election.mode", "single"),
    ("health.readiness_requires", ()),
    ("health.liveness_stall_intervals", 10),
    ("leader_election.identity", ""),
    ("leader_election.lease_duration", timedelta(seconds=30)),
    ("leader_election.renew_deadline", timedelta(seconds=20)),
    ("leader_election.retry_period", timedelta(seconds=5)),
    ("leader_election.kubernetes_api_url", ""),
    ("github.api_base_url", "https://api.github.com"),
    ("github.request_timeout", timedelta(seconds=20)),
    ("github.unhealthy_failure_threshold", 1),
    ("github.unhealthy_cooldown", timedelta(minutes=1)),
    ("github.api_version", "2022-11-28"),
    ("github.max_pages", 100),
    ("github.etag_cache_entries", 10_000),
    ("github.share_etags", True),
    ("github.shared_etag_ttl", timedelta(hours=24)),
    ("github.user_agent", ""),
    ("rate_limit.min_remaining_threshold", 100),
    ("rate_limit.min_reset_buffer", timedelta(seconds=5)),
    ("rate_limit.secondary_limit_backoff", timedelta(seconds=60)),
    ("rate_limit.max_wait", timedelta(minutes=15)),
    ("retry.max_attempts", 3),
    ("retry.initial_backoff", timedelta(seconds=1)),
    ("retry.max_backoff", timedelta(seconds=30)),
    ("retry.jitter", True),
    ("loc.source", "stats_contributors"),
    ("loc.refresh_interval", timedelta(hours=24)),
    ("loc.fallback_enabled", False),
    ("loc.fallback_max_commits_per_repo_per_week", 500),
    ("loc.fallback_max_commit_detail_calls_per_org_per_hour", 0),
    ("loc.large_repo_zero_detection_windows", 0),
    ("loc.large_repo_cooldown", timedelta(days=7)),
    ("copilot.enabled", False),
    ("copilot.scrape_interval", timedelta(hours=6)),
    ("copilot.request_timeout", timedelta(seconds=30)),
    ("copilot.download_timeout", timedelta(seconds=90)),
    ("copilot.include_org_28d", True),
    ("copilot.include_org_users_28d", False),
    ("copilot.include_enterprise_28d", False),
    ("copilot.include_enterprise_users_28d", False),
    ("copilot.include_breakdown_ide", False),
    ("copilot.include_breakdown_feature", False),
    ("copilot.include_breakdown_language", False),
    ("copilot.include_breakdown_model", False),
    ("copilot.include_pull_request_activity", True),
    ("copilot.user_label_mode", "login"),
    ("copilot.user_label_hash_key_env", ""),
    ("copilot.user_label_hash_key_file", ""),
    ("copilot.emit_day_label", False),
    ("copilot.max_records_per_report", 0),
    ("copilot.max_users_per_report", 0),
    ("copilot.refresh_if_report_unchanged", False),
    ("copilot.include_seats", False),
    ("copilot.include_seat_users", False),
    ("copilot.seats_interval", timedelta(hours=1)),
    ("copilot.include_teams", False),
    ("copilot.include_repositories", False),
    ("copilot.hash_key", None),
    ("copilot.enterprise.enabled", False),
    ("copilot.enterprise.slug", ""),
    ("copilot.enterprise.app_id", 0),
    ("copilot.enterprise.installation_id", 0),
    ("copilot.enterprise.private_key_path", ""),
    ("backfill.enabled", True),
    ("backfill.max_message_age", timedelta(hours=24)),
    ("backfill.consumer_count", 1),
    (
        "backfill.requeue_delays",
        (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)),
    ),
    ("backfill.coalesce_window", timedelta(0)),
    ("backfill.dedup_ttl", timedelta(hours=24)),
    ("backfill.max_enqueues_per_org_per_minute", 0),
    ("amqp.url_env", ""),
    ("amqp.exchange", ""),
    ("amqp.queue", "gh.backfill.jobs"),
    ("amqp.dlq", ""),
    ("amqp.enabled", False),
    ("amqp.resolved_url", ""),
    ("store.backend", "memory"),
    ("store.redis_mode", "standalone"),
    ("store.redis_addr", "127.0.0.1:6379"),
    ("store.redis_master_set", ""),
    ("store.redis_sentinel_addrs", ()),
    ("store.redis_password_env", ""),
    ("store.resolved_redis_password", ""),
    ("store.redis_db", 0),
    ("store.key_prefix", "gse"),
    ("store.retention", timedelta(hours=24)),
    ("store.metric_refresh_interval", timedelta(seconds=30)),
    ("store.index_shards", 1),
    ("store.export_cache_mode", "incremental"),
    ("store.max_series_budget", 1_000_000),
    ("health.github_probe_interval", timedelta(seconds=30)),
    ("health.github_recover_success_threshold", 1),
    ("telemetry.otel_enabled", False),
    ("telemetry.otel_exporter_otlp_endpoint", ""),
    ("telemetry.otel_trace_mode", "sampled"),
    ("telemetry.otel_trace_sample_ratio", 0.05),
    ("telemetry.effective_trace_mode", "off"),
    ("telemetry.traces_endpoint", ""),
]


@pytest.mark.parametrize(("dotted", "expected"), [pytest.param(d, e, id=d) for d, e in DEFAULTS])
def test_defaults_of_a_minimal_config(dotted: str, expected: object) -> None:
    """A config with only an org gets the documented default for every other field."""
    assert _attr(parse_config(_minimal(), environ=ENV), dotted) == expected


@pytest.mark.parametrize(
    ("dotted", "expected"),
    [
        pytest.param("scrape_interval", timedelta(minutes=5), id="scrape_interval"),
        pytest.param("repo_allowlist", ("*",), id="repo_allowlist"),
        pytest.param("per_org_concurrency", 4, id="per_org_concurrency"),
        pytest.param("shards", 1, id="shards"),
        pytest.param("include_archived", False, id="include_archived"),
        pytest.param("all_repos", True, id="all_repos"),
        pytest.param("app_id", 0, id="app_id"),
        pytest.param("private_key_env", "", id="private_key_env"),
    ],
)
def test_org_defaults(dotted: str, expected: object) -> None:
    """An org entry with only a name and a token gets the documented per-org defaults."""
    org = parse_config(_minimal(), environ=ENV).github.orgs[0]
    assert getattr(org, dotted) == expected


def test_every_section_field_has_a_default_row() -> None:
    """The defaults table covers every field of every section with a default (keeps docs honest)."""
    covered = {dotted for dotted, _ in DEFAULTS}
    settings = parse_config(_minimal(), environ=ENV)
    missing = []
    for section in Settings.model_fields:
        if section == "github":
            fields = [f"github.{name}" for name in type(settings.github).model_fields if name != "orgs"]
        else:
            fields = [
                f"{section}.{name}"
                for name in type(getattr(settings, section)).model_fields
                if name != "enterprise"
            ]
        missing += [name for name in fields if name not in covered]
    assert missing == ["amqp.url", "store.redis_password"]  # secrets: checked in test_config_secrets


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="empty-file"),
        pytest.param({}, id="empty-mapping"),
        pytest.param({"github": None}, id="empty-github-section"),
        pytest.param({"github": {}}, id="github-without-orgs"),
    ],
)
def test_missing_orgs_is_the_only_problem_of_an_empty_config(data: object) -> None:
    """An empty config fails only because github.orgs has no default."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ=ENV)
    assert [p.path for p in info.value.problems] == ["github.orgs"]
    assert "is required" in info.value.problems[0].message


def test_empty_sections_take_defaults() -> None:
    """A section key with nothing under it (YAML null) means all defaults, as in the Go exporter."""
    data = _minimal() | {"server": None, "store": None, "copilot": None}
    settings = parse_config(data, environ=ENV)
    assert settings.server.listen_addr == ":8080"
    assert settings.store.backend == "memory"


def test_many_problems_are_reported_together() -> None:
    """Problems in different sections and list items are all reported with their paths."""
    data = {
        "server": {"log_level": "loud", "listen_addr": "nowhere"},
        "github": {
            "request_timeout": "soon",
            "orgs": [
                {"org": "a", "token_env": "GH_TOKEN", "per_org_concurrency": 0},
                {"org": "b", "token_env": "GH_TOKEN", "scrape_interval": "5x"},
            ],
        },
        "retry": {"max_attempts": 99},
        "store": {"backend": "etcd", "redis_db": -1},
        "backfill": {"requeue_delays": ["5m", "nope"]},
        "telemetry": {"otel_trace_mode": "verbose"},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ=ENV)
    paths = {p.path for p in info.value.problems}
    assert paths == {
        "server.log_level",
        "server.listen_addr",
        "github.request_timeout",
        "github.orgs[0].per_org_concurrency",
        "github.orgs[1].scrape_interval",
        "retry.max_attempts",
        "store.backend",
        "store.redis_db",
        "backfill.requeue_delays[1]",
        "telemetry.otel_trace_mode",
    }
    text = str(info.value)
    assert text.startswith("10 configuration problems:")
    assert (
        "github.orgs[1].scrape_interval: '5x' is not a duration; use a number followed by ms, s, m, h, d or w "
        "(e.g. 30s, 5m, 7d)" in text
    )


def test_problem_renders_as_path_colon_message() -> None:
    """A ConfigProblem prints as `path: message`, or the bare message for file-level problems."""
    assert str(ConfigProblem("retry.max_attempts", 0, "0 is out of range; allowed: 1 to 20")) == (
        "retry.max_attempts: 0 is out of range; allowed: 1 to 20"
    )
    assert (
        str(ConfigProblem("", "x.yaml", "x.yaml: config file not found")) == "x.yaml: config file not found"
    )


@pytest.mark.parametrize(
    ("data", "path", "needle"),
    [
        pytest.param({"colour": "red"}, "colour", "allowed here: server, metrics", id="top-level"),
        pytest.param({"servr": {}}, "servr", "did you mean 'server'?", id="top-level-typo"),
        pytest.param(
            {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN", "colour": "red"}]}},
            "github.orgs[0].colour",
            "'colour' is not a known key (allowed here: app_id",
            id="org-entry",
        ),
        pytest.param(
            {"store": {"redis_adr": "x:1"}}, "store.redis_adr", "did you mean 'redis_addr'?", id="nested-typo"
        ),
        pytest.param(
            {"copilot": {"enterprise": {"token": "x"}}},
            "copilot.enterprise.token",
            "is not a known key",
            id="deeply-nested",
        ),
    ],
)
def test_unknown_keys_are_named(data: dict[str, object], path: str, needle: str) -> None:
    """Unknown keys anywhere are errors naming the key's path and the allowed keys."""
    merged = _minimal() | {k: v for k, v in data.items() if k != "github"}
    if "github" in data:
        merged["github"] = data["github"]
    with pytest.raises(ConfigError) as info:
        parse_config(merged, environ=ENV)
    problems = {p.path: p.message for p in info.value.problems}
    assert path in problems
    assert needle in problems[path]


def test_wrong_shapes_are_explained_without_echoing_the_input() -> None:
    """A section that is not a mapping says what is expected and only the type it got."""
    with pytest.raises(ConfigError) as info:
        parse_config({"github": "acme", "amqp": ["amqp://u:hunter2@h/"]}, environ=ENV)
    messages = {p.path: p.message for p in info.value.problems}
    assert messages["github"].startswith("must be a mapping with keys such as api_base_url")
    assert messages["amqp"].endswith("got list")
    assert "hunter2" not in str(info.value)


def test_top_level_must_be_a_mapping() -> None:
    """A YAML list at the top is reported as the whole configuration being the wrong shape."""
    with pytest.raises(ConfigError) as info:
        parse_config(["github"], environ=ENV)
    assert info.value.problems[0].path == ""
    assert "must be a mapping of sections (server, metrics" in info.value.problems[0].message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is a ConfigError naming the path."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value.problems[0]) == f"{missing}: config file not found"


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    """Broken YAML is a ConfigError with the file, line and column."""
    config = tmp_path / "bad.yaml"
    config.write_text("github:\n  orgs: [\n    - org: a\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value.problems[0])
    assert message.startswith(f"{config}: line ")
    assert "invalid YAML" in message


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    """A key given twice in one mapping is an error (Go's yaml.v3 rejects it too) instead of last-wins."""
    config = tmp_path / "dup.yaml"
    config.write_text("server:\n  log_level: info\n  log_level: debug\ngithub:\n  orgs: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert len(info.value.problems) == 1
    assert "line 3, column 3: key 'log_level' appears twice in one mapping (first on line 2)" in str(
        info.value
    )


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    """Overriding a merged (<<) key is allowed; only literal repeats are errors."""
    config = tmp_path / "merge.yaml"
    config.write_text(
        "x-org: &org {token_env: GH_TOKEN, scrape_interval: 5m}\n"
        "github:\n  orgs:\n    - <<: *org\n      org: acme\n      scrape_interval: 10m\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(config, environ=ENV)
    # x-org is not a known section, but the merged org entry itself is fine.
    assert [p.path for p in info.value.problems] == ["x-org"]


def test_yaml_numbers_in_text_fields_are_accepted(tmp_path: Path) -> None:
    """Unquoted numbers and dates in text fields are read as their text, as the Go loader does."""
    config = tmp_path / "n.yaml"
    config.write_text(
        "github:\n  api_version: 2022-11-28\n  orgs:\n    - org: 4711\n      token_env: GH_TOKEN\n"
    )
    settings = load_config(config, environ=ENV)
    assert settings.github.api_version == "2022-11-28"
    assert settings.github.orgs[0].org == "4711"


def test_settings_are_immutable() -> None:
    """Loaded settings cannot be changed by accident."""
    settings = parse_config(_minimal(), environ=ENV)
    with pytest.raises(ValueError, match="frozen"):
        settings.server.listen_addr = ":9"


def _section_models() -> list[tuple[str, type[BaseModel]]]:
    models: list[tuple[str, type[BaseModel]]] = []
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type)
        models.append((name, field.annotation))
    models.append(("github.orgs[]", OrgConfig))
    models.append(("copilot.enterprise", CopilotEnterpriseConfig))
    return models


@pytest.mark.parametrize(("section", "model"), [pytest.param(s, m, id=s) for s, m in _section_models()])
def test_docs_describe_every_section_and_field(section: str, model: type[BaseModel]) -> None:
    """docs/configuration.md has a heading for every section and mentions every field in code style."""
    docs = (ROOT / "docs" / "configuration.md").read_text()
    assert f"### `{section}`" in docs
    missing = [name for name in model.model_fields if f"`{name}`" not in docs]
    assert missing == []


def test_load_config_accepts_a_string_path(tmp_path: Path) -> None:
    """The path may be given as text; relative secret paths still resolve against its folder."""
    (tmp_path / "tok").write_text("ghp_x\n")
    config = tmp_path / "c.yaml"
    config.write_text("github:\n  orgs:\n    - {org: acme, token_file: tok}\n")
    settings = load_config(str(config), environ={})
    assert settings.github.orgs[0].credentials == TokenCredentials("ghp_x")


def test_problem_keeps_the_raw_value() -> None:
    """ConfigProblem.value is the value as written, for tools that want more than the message."""
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"github": {"orgs": [{"org": "a", "token_env": "T", "scrape_interval": "5x"}]}},
            environ={"T": "t"},
        )
    assert info.value.problems == [
        ConfigProblem(
            "github.orgs[0].scrape_interval",
            "5x",
            "'5x' is not a duration; use a number followed by ms, s, m, h, d or w (e.g. 30s, 5m, 7d)",
        )
    ]
