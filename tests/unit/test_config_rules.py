"""Validation rules and coercions, one table row per rule: the problem's path and wording."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from github_stats_exporter.config import ConfigError, Settings, parse_config

ENV = {"GH_TOKEN": "ghp_exampletoken", "AMQP_URL": "amqp://u:p@rabbit:5672/", "HASH_KEY": "k" * 32}


def _config(patch: dict[str, object]) -> dict[str, object]:
    data: dict[str, object] = {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]}}
    for section, values in patch.items():
        current = data.setdefault(section, {})
        assert isinstance(current, dict)
        assert isinstance(values, dict)
        current.update(copy.deepcopy(values))
    return data


def _org(**fields: object) -> dict[str, object]:
    return {"orgs": [{"org": "acme", **fields}]}


def _load(patch: dict[str, object]) -> Settings:
    return parse_config(_config(patch), environ=ENV)


def _problems(patch: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        _load(patch)
    return {p.path: p.message for p in info.value.problems}


RULES = [
    # server / metrics
    pytest.param(
        {"server": {"log_level": "verbose"}},
        "server.log_level",
        "use one of 'debug', 'info', 'warning' or 'error'",
        id="log-level-enum",
    ),
    pytest.param(
        {"server": {"log_format": "xml"}},
        "server.log_format",
        "use one of 'json' or 'console'",
        id="log-format-enum",
    ),
    pytest.param(
        {"server": {"listen_addr": "localhost"}},
        "server.listen_addr",
        "is not host:port",
        id="listen-addr-no-port",
    ),
    pytest.param(
        {"server": {"listen_addr": ":99999"}},
        "server.listen_addr",
        "is not host:port",
        id="listen-addr-port-range",
    ),
    pytest.param(
        {"metrics": {"topology": "sharded"}},
        "metrics.topology",
        "use one of 'single_service_target'",
        id="topology-single-value",
    ),
    # leader election
    pytest.param(
        {"leader_election": {"enabled": True}},
        "leader_election.namespace",
        "is required when leader_election.enabled is true",
        id="leader-namespace-required",
    ),
    pytest.param(
        {"leader_election": {"enabled": True, "namespace": "Bad_NS"}},
        "leader_election.namespace",
        "is not a Kubernetes namespace name",
        id="leader-namespace-format",
    ),
    pytest.param(
        {"leader_election": {"enabled": True, "namespace": "ns", "lease_name": ""}},
        "leader_election.lease_name",
        "is required",
        id="leader-lease-name-required",
    ),
    pytest.param(
        {"leader_election": {"enabled": True, "namespace": "ns", "lease_duration": "20s"}},
        "leader_election.lease_duration",
        "20s must be longer than renew_deadline (20s)",
        id="lease-longer-than-renew",
    ),
    pytest.param(
        {
            "leader_election": {
                "enabled": True,
                "namespace": "ns",
                "retry_period": "30s",
                "lease_duration": "1m",
            }
        },
        "leader_election.renew_deadline",
        "20s must be longer than retry_period (30s)",
        id="renew-longer-than-retry",
    ),
    pytest.param(
        {"leader_election": {"lease_duration": "0s"}},
        "leader_election.lease_duration",
        "'0s' must be longer than 0",
        id="lease-positive",
    ),
    # github
    pytest.param(
        {"github": {"api_base_url": "ftp://example.com"}},
        "github.api_base_url",
        "is not an http(s) URL",
        id="api-base-url-scheme",
    ),
    pytest.param(
        {"github": {"api_version": "latest"}},
        "github.api_version",
        "use a date like 2022-11-28",
        id="api-version-format",
    ),
    pytest.param(
        {"github": {"max_pages": 0}},
        "github.max_pages",
        "0 is too small; the minimum is 1",
        id="max-pages-min",
    ),
    pytest.param(
        {"github": {"unhealthy_failure_threshold": 0}},
        "github.unhealthy_failure_threshold",
        "the minimum is 1",
        id="failure-threshold-min",
    ),
    pytest.param(
        {"github": {"request_timeout": 20}},
        "github.request_timeout",
        "20 has no unit",
        id="timeout-needs-unit",
    ),
    pytest.param({"github": {"orgs": []}}, "github.orgs", "lists no organization", id="orgs-non-empty"),
    pytest.param({"github": {"orgs": {"org": "acme"}}}, "github.orgs", "is not a list", id="orgs-is-a-list"),
    pytest.param(
        {"github": {"orgs": [{"token_env": "GH_TOKEN"}]}},
        "github.orgs[0].org",
        "is required; the organization's login",
        id="org-required",
    ),
    pytest.param(
        {"github": _org(org="my org", token_env="GH_TOKEN")},
        "github.orgs[0].org",
        "is not an organization login",
        id="org-format",
    ),
    pytest.param(
        {
            "github": {
                "orgs": [{"org": "Acme", "token_env": "GH_TOKEN"}, {"org": "acme", "token_env": "GH_TOKEN"}]
            }
        },
        "github.orgs[1].org",
        "repeats orgs[0].org; org names are compared case-insensitively",
        id="org-unique",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", repo_allowlist=["*", "api"])},
        "github.orgs[0].repo_allowlist[0]",
        "cannot be mixed with names",
        id="allowlist-star-alone",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", repo_allowlist=["api", "API"])},
        "github.orgs[0].repo_allowlist[1]",
        "'API' repeats repo_allowlist[0]",
        id="allowlist-unique",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", repo_allowlist=["org/api"])},
        "github.orgs[0].repo_allowlist[0]",
        "is not a repository name",
        id="allowlist-names-only",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", repo_allowlist="*")},
        "github.orgs[0].repo_allowlist",
        "is not a list",
        id="allowlist-is-a-list",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", per_org_concurrency=65)},
        "github.orgs[0].per_org_concurrency",
        "65 is out of range; allowed: 1 to 64",
        id="concurrency-range",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", per_org_concurrency="4")},
        "github.orgs[0].per_org_concurrency",
        "'4' is not a whole number",
        id="concurrency-no-strings",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", per_org_concurrency=4.0)},
        "github.orgs[0].per_org_concurrency",
        "4.0 is not a whole number",
        id="concurrency-no-floats",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", include_archived="yes")},
        "github.orgs[0].include_archived",
        "'yes' is not a boolean; use true or false",
        id="bool-no-strings",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", include_archived=1)},
        "github.orgs[0].include_archived",
        "1 is not a boolean",
        id="bool-no-ints",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", scrape_interval="0")},
        "github.orgs[0].scrape_interval",
        "must be longer than 0",
        id="interval-positive",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", scrape_interval="-5m")},
        "github.orgs[0].scrape_interval",
        "'-5m' is negative",
        id="interval-not-negative",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", scrape_interval=True)},
        "github.orgs[0].scrape_interval",
        "True is not a duration",
        id="interval-not-bool",
    ),
    # credentials
    pytest.param(
        {"github": _org()},
        "github.orgs[0]",
        "no credentials; set app_id, installation_id and private_key_path",
        id="credentials-required",
    ),
    pytest.param(
        {"github": _org(app_id=1, token_env="GH_TOKEN")},
        "github.orgs[0].token_env",
        "cannot be combined with GitHub App fields (app_id)",
        id="app-xor-token",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", token_file="t.txt")},
        "github.orgs[0].token_file",
        "set token_env or token_file, not both",
        id="one-token-source",
    ),
    pytest.param(
        {"github": _org(app_id=1, private_key_path="k.pem")},
        "github.orgs[0].installation_id",
        "is required for GitHub App auth",
        id="app-needs-installation",
    ),
    pytest.param(
        {"github": _org(installation_id=1, private_key_path="k.pem")},
        "github.orgs[0].app_id",
        "is required for GitHub App auth",
        id="app-needs-app-id",
    ),
    pytest.param(
        {"github": _org(app_id=1, installation_id=2)},
        "github.orgs[0].private_key_path",
        "is required for GitHub App auth",
        id="app-needs-key",
    ),
    pytest.param(
        {"github": _org(app_id=1, installation_id=2, private_key_path="k.pem", private_key_env="KEY")},
        "github.orgs[0].private_key_env",
        "not both",
        id="one-key-source",
    ),
    pytest.param(
        {"github": _org(app_id=-1, installation_id=2, private_key_env="KEY")},
        "github.orgs[0].app_id",
        "-1 is too small; the minimum is 0",
        id="app-id-not-negative",
    ),
    pytest.param(
        {"github": _org(token_env="GH-TOKEN")},
        "github.orgs[0].token_env",
        "is not an environment variable name",
        id="env-name-format",
    ),
    # rate limit, retry, loc
    pytest.param(
        {"rate_limit": {"min_remaining_threshold": -1}},
        "rate_limit.min_remaining_threshold",
        "the minimum is 0",
        id="threshold-not-negative",
    ),
    pytest.param(
        {"rate_limit": {"max_wait": "0"}},
        "rate_limit.max_wait",
        "must be longer than 0",
        id="max-wait-positive",
    ),
    pytest.param(
        {"rate_limit": {"min_reset_buffer": "-1s"}},
        "rate_limit.min_reset_buffer",
        "is negative",
        id="buffer-not-negative",
    ),
    pytest.param(
        {"retry": {"max_attempts": 21}}, "retry.max_attempts", "allowed: 1 to 20", id="attempts-range"
    ),
    pytest.param(
        {"retry": {"initial_backoff": "10s", "max_backoff": "5s"}},
        "retry.max_backoff",
        "5s is shorter than initial_backoff (10s)",
        id="backoff-order",
    ),
    pytest.param(
        {"loc": {"source": "commits"}},
        "loc.source",
        "use one of 'stats_contributors'",
        id="loc-source-single-value",
    ),
    pytest.param(
        {"loc": {"fallback_enabled": True}},
        "loc.fallback_max_commit_detail_calls_per_org_per_hour",
        "must be greater than 0 when fallback_enabled is true",
        id="fallback-needs-call-budget",
    ),
    pytest.param(
        {
            "loc": {
                "fallback_enabled": True,
                "fallback_max_commits_per_repo_per_week": 0,
                "fallback_max_commit_detail_calls_per_org_per_hour": 5,
            }
        },
        "loc.fallback_max_commits_per_repo_per_week",
        "must be greater than 0",
        id="fallback-needs-commit-cap",
    ),
    pytest.param(
        {"loc": {"large_repo_zero_detection_windows": -1}},
        "loc.large_repo_zero_detection_windows",
        "the minimum is 0",
        id="windows-not-negative",
    ),
    # copilot
    pytest.param(
        {"copilot": {"user_label_mode": "email"}},
        "copilot.user_label_mode",
        "use one of 'login', 'id', 'hashed' or 'none'",
        id="label-mode-enum",
    ),
    pytest.param(
        {"copilot": {"enabled": True, "user_label_mode": "hashed"}},
        "copilot.user_label_hash_key_env",
        "needs a secret key",
        id="hashed-needs-key",
    ),
    pytest.param(
        {"copilot": {"user_label_hash_key_env": "HASH_KEY", "user_label_hash_key_file": "k"}},
        "copilot.user_label_hash_key_file",
        "not both",
        id="one-hash-key-source",
    ),
    pytest.param(
        {"copilot": {"enabled": True, "enterprise": {"enabled": True, "token_env": "GH_TOKEN"}}},
        "copilot.enterprise.slug",
        "is required when copilot.enterprise.enabled is true",
        id="enterprise-needs-slug",
    ),
    pytest.param(
        {"copilot": {"enabled": True, "enterprise": {"enabled": True, "slug": "big"}}},
        "copilot.enterprise",
        "no credentials",
        id="enterprise-needs-credentials",
    ),
    pytest.param(
        {
            "copilot": {
                "enabled": True,
                "enterprise": {"enabled": True, "slug": "big", "app_id": 1, "private_key_env": "K"},
            }
        },
        "copilot.enterprise.installation_id",
        "is required for GitHub App auth",
        id="enterprise-app-fields",
    ),
    pytest.param(
        {"copilot": {"scrape_interval": "0"}},
        "copilot.scrape_interval",
        "must be longer than 0",
        id="copilot-interval-positive",
    ),
    pytest.param(
        {"copilot": {"download_timeout": "-1s"}},
        "copilot.download_timeout",
        "is negative",
        id="copilot-timeout-not-negative",
    ),
    pytest.param(
        {"copilot": {"max_records_per_report": -1}},
        "copilot.max_records_per_report",
        "the minimum is 0",
        id="records-cap-not-negative",
    ),
    pytest.param(
        {"copilot": {"max_users_per_report": -5}},
        "copilot.max_users_per_report",
        "the minimum is 0",
        id="users-cap-not-negative",
    ),
    pytest.param(
        {"copilot": {"include_repositories": "yes"}},
        "copilot.include_repositories",
        "'yes' is not a boolean; use true or false",
        id="repositories-bool-no-strings",
    ),
    pytest.param(
        {"copilot": {"include_repositories": 1}},
        "copilot.include_repositories",
        "1 is not a boolean",
        id="repositories-bool-no-ints",
    ),
    # backfill, amqp
    pytest.param(
        {"backfill": {"requeue_delays": []}},
        "backfill.requeue_delays",
        "lists no delay",
        id="delays-non-empty",
    ),
    pytest.param(
        {"backfill": {"requeue_delays": ["5m", "1m"]}},
        "backfill.requeue_delays[1]",
        "1m is shorter than the delay before it (5m)",
        id="delays-non-decreasing",
    ),
    pytest.param(
        {"backfill": {"requeue_delays": ["1m", "0s"]}},
        "backfill.requeue_delays[1]",
        "must be longer than 0",
        id="delays-positive",
    ),
    pytest.param(
        {"backfill": {"consumer_count": 0}},
        "backfill.consumer_count",
        "allowed: 1 to 64",
        id="consumers-range",
    ),
    pytest.param(
        {"backfill": {"max_message_age": "0"}},
        "backfill.max_message_age",
        "must be longer than 0",
        id="message-age-positive",
    ),
    pytest.param(
        {"backfill": {"max_enqueues_per_org_per_minute": -1}},
        "backfill.max_enqueues_per_org_per_minute",
        "the minimum is 0",
        id="enqueue-cap-not-negative",
    ),
    # A half-set url/exchange pair is accepted (in-process queue, as in Go): tests/unit/test_config_inert.py.
    pytest.param(
        {"amqp": {"url_env": "AMQP_URL", "url": "amqp://h/", "exchange": "gh"}},
        "amqp.url_env",
        "set url or url_env, not both",
        id="one-url-source",
    ),
    pytest.param(
        {"amqp": {"url": "amqp://h/", "exchange": "gh", "queue": ""}},
        "amqp.queue",
        "is required when RabbitMQ is configured",
        id="queue-required",
    ),
    pytest.param(
        {"leader_election": {"mode": "sharded", "enabled": True, "namespace": "ns"}},
        "leader_election.mode",
        "'sharded' needs leader_election.enabled: true and store.backend: redis",
        id="sharded-needs-redis-store",
    ),
    pytest.param(
        {"leader_election": {"mode": "spread"}},
        "leader_election.mode",
        "use one of 'single' or 'sharded'",
        id="mode-enum",
    ),
    pytest.param(
        {"github": _org(token_env="GH_TOKEN", shards=0)}, "github.orgs[0].shards", "1", id="shards-range"
    ),
    # store
    pytest.param(
        {"store": {"backend": "postgres"}},
        "store.backend",
        "use one of 'memory' or 'redis'",
        id="backend-enum",
    ),
    pytest.param(
        {"store": {"backend": "redis", "redis_mode": "sentinel", "redis_master_set": "m"}},
        "store.redis_sentinel_addrs",
        "is required when redis_mode is sentinel",
        id="sentinel-needs-addrs",
    ),
    pytest.param(
        {"store": {"backend": "redis", "redis_mode": "sentinel", "redis_sentinel_addrs": ["s:26379"]}},
        "store.redis_master_set",
        "is required when redis_mode is sentinel",
        id="sentinel-needs-master-set",
    ),
    pytest.param(
        {"store": {"redis_mode": "cluster"}},
        "store.redis_mode",
        "use one of 'standalone' or 'sentinel'",
        id="redis-mode-enum",
    ),
    pytest.param(
        {"store": {"redis_addr": "redis"}}, "store.redis_addr", "is not host:port", id="redis-addr-format"
    ),
    pytest.param(
        {"store": {"redis_sentinel_addrs": ["s1:26379", "s2"]}},
        "store.redis_sentinel_addrs[1]",
        "is not host:port",
        id="sentinel-addr-format",
    ),
    pytest.param({"store": {"redis_db": 16}}, "store.redis_db", "allowed: 0 to 15", id="redis-db-range"),
    pytest.param(
        {"store": {"redis_password": "x", "redis_password_env": "PW"}},
        "store.redis_password_env",
        "not both",
        id="one-password-source",
    ),
    pytest.param(
        {"store": {"key_prefix": "a b"}}, "store.key_prefix", "is not a key prefix", id="key-prefix-word"
    ),
    pytest.param(
        {"store": {"index_shards": 0}}, "store.index_shards", "the minimum is 1", id="index-shards-min"
    ),
    pytest.param(
        {"store": {"export_cache_mode": "lazy"}},
        "store.export_cache_mode",
        "use one of 'incremental' or 'full'",
        id="cache-mode-enum",
    ),
    pytest.param(
        {"store": {"max_series_budget": -1}},
        "store.max_series_budget",
        "the minimum is 0",
        id="budget-not-negative",
    ),
    pytest.param(
        {"store": {"retention": "0"}}, "store.retention", "must be longer than 0", id="retention-positive"
    ),
    # health, telemetry
    pytest.param(
        {"health": {"github_recover_success_threshold": 0}},
        "health.github_recover_success_threshold",
        "the minimum is 1",
        id="recover-threshold-min",
    ),
    pytest.param(
        {"health": {"github_probe_interval": "0"}},
        "health.github_probe_interval",
        "must be longer than 0",
        id="probe-interval-positive",
    ),
    pytest.param(
        {"telemetry": {"otel_trace_mode": "verbose"}},
        "telemetry.otel_trace_mode",
        "use one of 'off', 'errors', 'sampled' or 'detailed'",
        id="trace-mode-enum",
    ),
    pytest.param(
        {"telemetry": {"otel_trace_sample_ratio": "high"}},
        "telemetry.otel_trace_sample_ratio",
        "is not a number",
        id="ratio-number",
    ),
    pytest.param(
        {"telemetry": {"otel_trace_sample_ratio": float("nan")}},
        "telemetry.otel_trace_sample_ratio",
        "nan is not a number",
        id="ratio-not-nan",
    ),
    pytest.param(
        {"telemetry": {"otel_exporter_otlp_endpoint": "collector:4318"}},
        "telemetry.otel_exporter_otlp_endpoint",
        "is not an http(s) URL",
        id="endpoint-url",
    ),
    pytest.param(
        {"leader_election": {"kubernetes_api_url": "127.0.0.1:8001"}},
        "leader_election.kubernetes_api_url",
        "is not an http(s) URL",
        id="kubernetes-api-url",
    ),
]


@pytest.mark.parametrize(("patch", "path", "needle"), RULES)
def test_rule_violation_names_path_and_reason(patch: dict[str, object], path: str, needle: str) -> None:
    """Each rule reports its field path with a message saying what is allowed."""
    problems = _problems(patch)
    assert path in problems, problems
    assert needle in problems[path]


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param(
            {"leader_election": {"lease_duration": "5s", "renew_deadline": "10s"}},
            id="leader-order-only-when-enabled",
        ),
        pytest.param(
            {"leader_election": {"enabled": True, "namespace": "monitoring"}}, id="leader-enabled-defaults"
        ),
        pytest.param(
            {
                "leader_election": {
                    "enabled": True,
                    "namespace": "monitoring",
                    "kubernetes_api_url": "http://127.0.0.1:8001",
                }
            },
            id="leader-kubernetes-api-url",
        ),
        pytest.param({"copilot": {"user_label_mode": "hashed"}}, id="copilot-off-needs-no-key"),
        pytest.param({"copilot": {"enterprise": {"enabled": True}}}, id="copilot-off-needs-no-enterprise"),
        pytest.param(
            {"copilot": {"enabled": True, "include_repositories": True, "include_teams": True}},
            id="repositories-and-teams",
        ),
        pytest.param(
            {
                "copilot": {
                    "enabled": True,
                    "enterprise": {"enabled": True, "slug": "big", "token_env": "GH_TOKEN"},
                }
            },
            id="enterprise-with-token",
        ),
        pytest.param(
            {
                "copilot": {
                    "enabled": True,
                    "user_label_mode": "hashed",
                    "user_label_hash_key_env": "HASH_KEY",
                }
            },
            id="hashed-with-key",
        ),
        pytest.param({"store": {"redis_mode": "sentinel"}}, id="sentinel-rules-only-for-redis"),
        pytest.param(
            {
                "store": {
                    "backend": "redis",
                    "redis_mode": "sentinel",
                    "redis_master_set": "m",
                    "redis_sentinel_addrs": ["[::1]:26379"],
                }
            },
            id="sentinel-complete",
        ),
        pytest.param({"amqp": {"url_env": "AMQP_URL", "exchange": "gh"}}, id="amqp-from-env"),
        pytest.param(
            {"loc": {"fallback_enabled": True, "fallback_max_commit_detail_calls_per_org_per_hour": 10}},
            id="fallback-with-budget",
        ),
        pytest.param(
            {"rate_limit": {"min_reset_buffer": "0", "secondary_limit_backoff": 0}}, id="zero-pauses"
        ),
        pytest.param({"backfill": {"requeue_delays": ["1m", "1m", "90s"]}}, id="equal-delays"),
        pytest.param({"server": {"listen_addr": "[::]:8080"}}, id="ipv6-listen"),
        pytest.param(
            {"github": _org(app_id=1, installation_id=2, private_key_env="KEY")}, id="app-from-env-shape"
        ),
    ],
)
def test_valid_combinations_load(patch: dict[str, object]) -> None:
    """Settings that satisfy every rule load (secrets are checked for shape only here)."""
    assert isinstance(parse_config(_config(patch), environ=ENV, resolve_secrets=False), Settings)


def test_rules_report_every_violation_of_one_section() -> None:
    """One section breaking several rules reports each of them, not just the first."""
    problems = _problems(
        {
            "leader_election": {
                "enabled": True,
                "lease_name": "",
                "lease_duration": "10s",
                "retry_period": "30s",
            }
        }
    )
    assert set(problems) == {
        "leader_election.namespace",
        "leader_election.lease_name",
        "leader_election.lease_duration",
        "leader_election.renew_deadline",
    }


def test_rule_problems_in_several_orgs_are_all_reported() -> None:
    """Rules of different org entries are checked independently and all reported."""
    problems = _problems(
        {
            "github": {
                "orgs": [
                    {"org": "a"},
                    {"org": "b", "token_env": "GH_TOKEN", "token_file": "t"},
                    {"org": "c", "app_id": 1},
                ]
            }
        }
    )
    assert set(problems) == {
        "github.orgs[0]",
        "github.orgs[1].token_file",
        "github.orgs[2].installation_id",
        "github.orgs[2].private_key_path",
    }


# --- coercions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "dotted", "expected", "notice"),
    [
        pytest.param(
            {"copilot": {"include_enterprise_28d": True}},
            "copilot.include_enterprise_28d",
            False,
            "copilot.include_enterprise_28d: true coerced to false because copilot.enterprise.enabled is false",
            id="enterprise-28d-off",
        ),
        pytest.param(
            {"copilot": {"include_enterprise_users_28d": True}},
            "copilot.include_enterprise_users_28d",
            False,
            "copilot.include_enterprise_users_28d: true coerced to false",
            id="enterprise-users-28d-off",
        ),
        pytest.param(
            {"telemetry": {"otel_trace_sample_ratio": 1.5}},
            "telemetry.otel_trace_sample_ratio",
            1.0,
            "telemetry.otel_trace_sample_ratio: 1.5 clamped to 1",
            id="ratio-clamped-high",
        ),
        pytest.param(
            {"telemetry": {"otel_trace_sample_ratio": -0.2}},
            "telemetry.otel_trace_sample_ratio",
            0.0,
            "telemetry.otel_trace_sample_ratio: -0.2 clamped to 0",
            id="ratio-clamped-low",
        ),
        pytest.param(
            {"github": _org(token_env="GH_TOKEN", repo_allowlist=[])},
            "github.orgs",
            None,
            'github.orgs[0].repo_allowlist: [] read as ["*"]',
            id="empty-allowlist-means-all",
        ),
    ],
)
def test_coercions_change_the_value_and_leave_a_notice(
    patch: dict[str, object], dotted: str, expected: object, notice: str
) -> None:
    """Each coercion sets the documented value and records a notice the CLI can print."""
    settings = _load(patch)
    value: object = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    if dotted == "github.orgs":
        assert settings.github.orgs[0].repo_allowlist == ("*",)
    else:
        assert value == expected
    assert len(settings.notices) == 1
    assert settings.notices[0].startswith(notice)


@pytest.mark.parametrize(
    ("patch", "dotted", "expected"),
    [
        pytest.param(
            {
                "copilot": {
                    "include_enterprise_28d": True,
                    "enabled": True,
                    "enterprise": {"enabled": True, "slug": "big", "token_env": "GH_TOKEN"},
                }
            },
            "copilot.include_enterprise_28d",
            True,
            id="enterprise-28d-kept",
        ),
        pytest.param(
            {"backfill": {"max_message_age": "6h"}},
            "backfill.dedup_ttl",
            timedelta(hours=6),
            id="dedup-follows-message-age",
        ),
        pytest.param(
            {"backfill": {"max_message_age": "6h", "dedup_ttl": "0"}},
            "backfill.dedup_ttl",
            timedelta(hours=6),
            id="dedup-zero-means-message-age",
        ),
        pytest.param(
            {"backfill": {"dedup_ttl": "2h"}}, "backfill.dedup_ttl", timedelta(hours=2), id="dedup-explicit"
        ),
        pytest.param(
            {"server": {"log_level": "WARN"}}, "server.log_level", "warning", id="log-level-warn-alias"
        ),
        pytest.param({"server": {"log_level": "Debug"}}, "server.log_level", "debug", id="log-level-case"),
        pytest.param(
            {"github": {"api_base_url": "https://api.github.com/"}},
            "github.api_base_url",
            "https://api.github.com",
            id="base-url-trailing-slash",
        ),
        pytest.param(
            {"github": {"api_base_url": "https://ghe.example.com/api/v3/"}},
            "github.api_base_url",
            "https://ghe.example.com/api/v3",
            id="ghes-base-url",
        ),
        pytest.param(
            {"telemetry": {"otel_exporter_otlp_endpoint": "http://otel:4318"}},
            "telemetry.traces_endpoint",
            "http://otel:4318/v1/traces",
            id="endpoint-path-appended",
        ),
        pytest.param(
            {"telemetry": {"otel_exporter_otlp_endpoint": "http://otel:4318/"}},
            "telemetry.traces_endpoint",
            "http://otel:4318/v1/traces",
            id="endpoint-slash-path-appended",
        ),
        pytest.param(
            {"telemetry": {"otel_exporter_otlp_endpoint": "https://otel/custom/traces"}},
            "telemetry.traces_endpoint",
            "https://otel/custom/traces",
            id="endpoint-path-kept",
        ),
        pytest.param(
            {"telemetry": {"otel_trace_mode": "detailed"}},
            "telemetry.effective_trace_mode",
            "off",
            id="otel-disabled-forces-off",
        ),
        pytest.param(
            {"telemetry": {"otel_enabled": True, "otel_trace_mode": "detailed"}},
            "telemetry.effective_trace_mode",
            "detailed",
            id="otel-enabled-keeps-mode",
        ),
        pytest.param(
            {"telemetry": {"otel_enabled": True, "otel_trace_mode": "errors", "otel_trace_sample_ratio": 0}},
            "telemetry.effective_sample_ratio",
            0.01,
            id="errors-mode-min-ratio",
        ),
        pytest.param(
            {"telemetry": {"otel_enabled": True, "otel_trace_sample_ratio": 0}},
            "telemetry.effective_sample_ratio",
            0.0,
            id="sampled-zero-ratio-kept",
        ),
        pytest.param(
            {"amqp": {"url": "amqp://u:p@h/", "exchange": "gh"}}, "amqp.enabled", True, id="amqp-enabled"
        ),
        pytest.param(
            {"github": _org(token_env="GH_TOKEN", repo_allowlist=["api", "web"])},
            "github.orgs",
            ("api", "web"),
            id="allowlist-names",
        ),
    ],
)
def test_values_without_notice(patch: dict[str, object], dotted: str, expected: object) -> None:
    """Normalisations and derived values need no notice and give the documented result."""
    settings = _load(patch)
    value: object = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    if dotted == "github.orgs":
        assert settings.github.orgs[0].repo_allowlist == expected
        assert settings.github.orgs[0].all_repos is False
    else:
        assert value == expected
    assert settings.notices == []
