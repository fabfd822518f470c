"""The configuration schema: every section of the Go exporter's YAML plus our additions.

Field names equal YAML keys. Defaults are the Go exporter's effective (runtime fallback) values.
Cross-field rules live next to the fields they constrain; loading files is `loader.py`'s job.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    StrictInt,
    field_validator,
    model_validator,
)

from github_stats_exporter.config.credentials import CredentialFields
from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import LoadContext, SecretSourceError, UnresolvedSecretError
from github_stats_exporter.config.section import (
    Count,
    Duration,
    DurationList,
    EnvName,
    Flag,
    HostPort,
    PositiveDuration,
    Section,
    Text,
    TextList,
    duration_text,
)

_ORG_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIN_HASH_KEY_BYTES = 16


def _http_url(value: str, *, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        msg = f"{value!r} is not an http(s) URL; write it like https://{what}"
        raise ValueError(msg)
    return value


def _lower(value: object) -> object:
    # zap (the Go logger) accepts WARN/Info as well; accept the same spellings.
    if isinstance(value, str):
        lowered = value.strip().lower()
        return "warning" if lowered == "warn" else lowered
    return value


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _secret_text(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Secret = Annotated[SecretStr, BeforeValidator(_secret_text)]


class ServerConfig(Section):
    """HTTP listener and logging."""

    listen_addr: HostPort = ":8080"
    log_level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    log_format: Literal["json", "console"] = "json"


class MetricsConfig(Section):
    """How Prometheus scrapes us; one topology exists, the DNS name is informational."""

    topology: Literal["single_service_target"] = "single_service_target"
    scrape_service_dns: Text = ""


class LeaderElectionConfig(Section):
    """Kubernetes Lease based leader election (off: this process is always the leader)."""

    enabled: Flag = False
    namespace: Text = ""
    lease_name: Text = "github-stats-exporter-leader"
    lease_duration: PositiveDuration = timedelta(seconds=30)
    renew_deadline: PositiveDuration = timedelta(seconds=20)
    retry_period: PositiveDuration = timedelta(seconds=5)

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        if not self.enabled:
            return []
        problems: list[ConfigProblem] = []
        if not self.namespace:
            problems.append(
                ConfigProblem("namespace", "", "is required when leader_election.enabled is true")
            )
        elif not _DNS_LABEL.fullmatch(self.namespace):
            problems.append(
                ConfigProblem(
                    "namespace", self.namespace, f"{self.namespace!r} is not a Kubernetes namespace name"
                )
            )
        if not self.lease_name:
            problems.append(
                ConfigProblem("lease_name", "", "is required when leader_election.enabled is true")
            )
        if self.lease_duration <= self.renew_deadline:
            problems.append(
                ConfigProblem(
                    "lease_duration",
                    self.lease_duration,
                    f"{duration_text(self.lease_duration)} must be longer than renew_deadline "
                    f"({duration_text(self.renew_deadline)})",
                )
            )
        if self.renew_deadline <= self.retry_period:
            problems.append(
                ConfigProblem(
                    "renew_deadline",
                    self.renew_deadline,
                    f"{duration_text(self.renew_deadline)} must be longer than retry_period "
                    f"({duration_text(self.retry_period)})",
                )
            )
        return problems


class OrgConfig(CredentialFields):
    """One organization to scrape and the credentials to scrape it with."""

    org: Annotated[Text, Field(description="the organization's login, e.g. my-org")]
    scrape_interval: PositiveDuration = timedelta(minutes=5)
    repo_allowlist: TextList = ("*",)
    per_org_concurrency: Annotated[StrictInt, Field(ge=1, le=64)] = 4
    include_archived: Flag = False

    @field_validator("org")
    @classmethod
    def _org_name(cls, value: str) -> str:
        if not _ORG_NAME.fullmatch(value):
            msg = f"{value!r} is not an organization login (letters, digits and '-')"
            raise ValueError(msg)
        return value

    @property
    def all_repos(self) -> bool:
        """True when every repository of the org is scraped (`repo_allowlist: ["*"]`)."""
        return self.repo_allowlist == ("*",)

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        seen: dict[str, int] = {}
        for index, name in enumerate(self.repo_allowlist):
            path = f"repo_allowlist[{index}]"
            if name == "*":
                if len(self.repo_allowlist) > 1:
                    problems.append(
                        ConfigProblem(path, name, "'*' means every repository and cannot be mixed with names")
                    )
                continue
            if not _REPO_NAME.fullmatch(name):
                problems.append(
                    ConfigProblem(
                        path, name, f"{name!r} is not a repository name (letters, digits, '.', '_', '-')"
                    )
                )
            elif name.lower() in seen:
                problems.append(
                    ConfigProblem(path, name, f"{name!r} repeats repo_allowlist[{seen[name.lower()]}]")
                )
            else:
                seen[name.lower()] = index
        return problems + self._credential_problems(ctx)


class GitHubConfig(Section):
    """The GitHub API and the organizations to scrape."""

    api_base_url: Text = "https://api.github.com"
    request_timeout: PositiveDuration = timedelta(seconds=20)
    unhealthy_failure_threshold: Annotated[StrictInt, Field(ge=1)] = 1
    unhealthy_cooldown: PositiveDuration = timedelta(minutes=1)
    api_version: Text = "2022-11-28"
    max_pages: Annotated[StrictInt, Field(ge=1)] = 100
    user_agent: Text = ""
    orgs: Annotated[
        tuple[OrgConfig, ...],
        BeforeValidator(_tuple),
        Field(description="list at least one organization (org plus App or token credentials)"),
    ]

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value, what="api.github.com or https://ghes.example.com/api/v3").rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _API_VERSION.fullmatch(value):
            msg = f"{value!r} is not a GitHub REST API version; use a date like 2022-11-28"
            raise ValueError(msg)
        return value

    @field_validator("orgs")
    @classmethod
    def _some_orgs(cls, value: tuple[OrgConfig, ...]) -> tuple[OrgConfig, ...]:
        if not value:
            msg = "[] lists no organization; add at least one entry with org and credentials"
            raise ValueError(msg)
        return value

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        first: dict[str, int] = {}
        for index, org in enumerate(self.orgs):
            key = org.org.lower()
            if key in first:
                problems.append(
                    ConfigProblem(
                        f"orgs[{index}].org",
                        org.org,
                        f"{org.org!r} repeats orgs[{first[key]}].org; org names are compared case-insensitively",
                    )
                )
            else:
                first[key] = index
        return problems

    def _finish(self, ctx: LoadContext) -> None:
        for index, org in enumerate(self.orgs):
            if not org.repo_allowlist:
                # The Go exporter reads an empty allowlist as "all repositories"; keep that meaning.
                org._coerce("repo_allowlist", ("*",))
                ctx.notices.append(
                    f'github.orgs[{index}].repo_allowlist: [] read as ["*"] (all repositories)'
                )


class RateLimitConfig(Section):
    """When to pause before GitHub's rate limits bite."""

    min_remaining_threshold: Count = 100
    min_reset_buffer: Duration = timedelta(seconds=5)
    secondary_limit_backoff: Duration = timedelta(seconds=60)
    max_wait: PositiveDuration = timedelta(minutes=15)


class RetryConfig(Section):
    """HTTP retries with exponential backoff."""

    max_attempts: Annotated[StrictInt, Field(ge=1, le=20)] = 3
    initial_backoff: PositiveDuration = timedelta(seconds=1)
    max_backoff: PositiveDuration = timedelta(seconds=30)
    jitter: Flag = True

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        if self.max_backoff < self.initial_backoff:
            return [
                ConfigProblem(
                    "max_backoff",
                    self.max_backoff,
                    f"{duration_text(self.max_backoff)} is shorter than initial_backoff "
                    f"({duration_text(self.initial_backoff)})",
                )
            ]
        return []


class LocConfig(Section):
    """Weekly lines of code from `stats/contributors`, with an optional commit-sampling fallback."""

    source: Literal["stats_contributors"] = "stats_contributors"
    refresh_interval: PositiveDuration = timedelta(hours=24)
    fallback_enabled: Flag = False
    fallback_max_commits_per_repo_per_week: Count = 500
    fallback_max_commit_detail_calls_per_org_per_hour: Count = 0
    large_repo_zero_detection_windows: Count = 0
    large_repo_cooldown: PositiveDuration = timedelta(days=7)

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        if not self.fallback_enabled:
            return []
        return [
            ConfigProblem(name, 0, "must be greater than 0 when fallback_enabled is true")
            for name in (
                "fallback_max_commits_per_repo_per_week",
                "fallback_max_commit_detail_calls_per_org_per_hour",
            )
            if getattr(self, name) == 0
        ]


class CopilotEnterpriseConfig(CredentialFields):
    """Enterprise-level Copilot reports; needs its own App installation or token."""

    enabled: Flag = False
    slug: Text = ""


class CopilotConfig(Section):
    """Copilot usage reports (seed plan §4)."""

    enabled: Flag = False
    scrape_interval: PositiveDuration = timedelta(hours=6)
    request_timeout: PositiveDuration = timedelta(seconds=30)
    download_timeout: PositiveDuration = timedelta(seconds=90)
    include_org_28d: Flag = True
    include_org_users_28d: Flag = False
    include_enterprise_28d: Flag = False
    include_enterprise_users_28d: Flag = False
    include_breakdown_ide: Flag = False
    include_breakdown_feature: Flag = False
    include_breakdown_language: Flag = False
    include_breakdown_model: Flag = False
    include_pull_request_activity: Flag = True
    user_label_mode: Literal["login", "id", "hashed", "none"] = "login"
    user_label_hash_key_env: EnvName = ""
    user_label_hash_key_file: Text = ""
    emit_day_label: Flag = False
    max_records_per_report: Count = 0
    max_users_per_report: Count = 0
    refresh_if_report_unchanged: Flag = False
    enterprise: CopilotEnterpriseConfig = Field(default_factory=CopilotEnterpriseConfig)

    _hash_key: bytes | None = PrivateAttr(default=None)

    @property
    def hash_key(self) -> bytes | None:
        """The HMAC key for `user_label_mode: hashed`; None when Copilot is off or another mode is used."""
        return self._hash_key

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if self.user_label_hash_key_env and self.user_label_hash_key_file:
            problems.append(
                ConfigProblem(
                    "user_label_hash_key_file",
                    self.user_label_hash_key_file,
                    "set user_label_hash_key_env or user_label_hash_key_file, not both",
                )
            )
        if not self.enabled:
            return problems
        if self.user_label_mode == "hashed" and not problems:
            problems += self._hash_key_problems(ctx)
        if self.enterprise.enabled:
            if not self.enterprise.slug:
                problems.append(
                    ConfigProblem(
                        "enterprise.slug", "", "is required when copilot.enterprise.enabled is true"
                    )
                )
            problems += self.enterprise._credential_problems(ctx, "enterprise.")
        return problems

    def _hash_key_problems(self, ctx: LoadContext) -> list[ConfigProblem]:
        if not (self.user_label_hash_key_env or self.user_label_hash_key_file):
            return [
                ConfigProblem(
                    "user_label_hash_key_env",
                    "",
                    "user_label_mode 'hashed' needs a secret key: name an environment variable here "
                    "or a file in user_label_hash_key_file (at least 16 bytes)",
                )
            ]
        if not ctx.resolve_secrets:
            return []
        field = "user_label_hash_key_env" if self.user_label_hash_key_env else "user_label_hash_key_file"
        try:
            if self.user_label_hash_key_env:
                source = f"${self.user_label_hash_key_env}"
                key = ctx.env(self.user_label_hash_key_env).strip().encode()
            else:
                source = repr(self.user_label_hash_key_file)
                key = ctx.file(self.user_label_hash_key_file).strip()
        except SecretSourceError as exc:
            return [ConfigProblem(field, getattr(self, field), str(exc))]
        if len(key) < _MIN_HASH_KEY_BYTES:
            return [
                ConfigProblem(
                    field,
                    getattr(self, field),
                    f"{source} holds {len(key)} bytes; the hash key needs at least {_MIN_HASH_KEY_BYTES}",
                )
            ]
        self._hash_key = key
        return []

    def _finish(self, ctx: LoadContext) -> None:
        if self.enterprise.enabled:
            return
        for name in ("include_enterprise_28d", "include_enterprise_users_28d"):
            if getattr(self, name):
                self._coerce(name, False)
                ctx.notices.append(
                    f"copilot.{name}: true coerced to false because copilot.enterprise.enabled is false"
                )


class BackfillConfig(Section):
    """Re-collecting windows that failed, through the queue."""

    enabled: Flag = True
    max_message_age: PositiveDuration = timedelta(hours=24)
    consumer_count: Annotated[StrictInt, Field(ge=1, le=64)] = 1
    requeue_delays: DurationList = (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    coalesce_window: Duration = timedelta(0)
    dedup_ttl: Duration = timedelta(0)
    max_enqueues_per_org_per_minute: Count = 0

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        if not self.requeue_delays:
            return [
                ConfigProblem(
                    "requeue_delays", [], "lists no delay; give at least one (e.g. [1m, 5m, 30m, 2h])"
                )
            ]
        return [
            ConfigProblem(
                f"requeue_delays[{index}]",
                current,
                f"{duration_text(current)} is shorter than the delay before it ({duration_text(previous)}); "
                "delays must not decrease",
            )
            for index, (previous, current) in enumerate(
                zip(self.requeue_delays, self.requeue_delays[1:], strict=False), 1
            )
            if current < previous
        ]

    def _finish(self, ctx: LoadContext) -> None:
        # 0 means "as long as a message may live" (the Go exporter's fallback).
        if self.dedup_ttl == timedelta(0):
            self._coerce("dedup_ttl", self.max_message_age)


class AmqpConfig(Section):
    """RabbitMQ for backfill jobs; with url and exchange empty an in-process queue is used."""

    url: Secret = SecretStr("")
    url_env: EnvName = ""
    exchange: Text = ""
    queue: Text = "gh.backfill.jobs"
    dlq: Text = ""

    _url: str | None = PrivateAttr(default=None)

    @property
    def enabled(self) -> bool:
        """True when RabbitMQ is configured (url or url_env, plus exchange)."""
        return bool(self.exchange and (self.url.get_secret_value() or self.url_env))

    @property
    def resolved_url(self) -> str:
        """The broker URL including credentials; "" when RabbitMQ is not configured."""
        if self.url.get_secret_value():
            return self.url.get_secret_value()
        if not self.url_env:
            return ""
        if self._url is None:
            msg = "amqp.url_env was not resolved (the config was loaded with resolve_secrets=False)"
            raise UnresolvedSecretError(msg)
        return self._url

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        inline = self.url.get_secret_value()
        problems: list[ConfigProblem] = []
        if inline and self.url_env:
            problems.append(ConfigProblem("url_env", self.url_env, "set url or url_env, not both"))
        if inline:
            problems += _amqp_url_problems("url", inline, "amqp.url")
        if bool(inline or self.url_env) != bool(self.exchange):
            problems.append(
                ConfigProblem(
                    "exchange",
                    self.exchange,
                    "url (or url_env) and exchange must be set together; leave both empty for the in-process queue",
                )
            )
        if self.exchange and not self.queue:
            problems.append(ConfigProblem("queue", "", "is required when RabbitMQ is configured"))
        if problems or not self.url_env or not ctx.resolve_secrets:
            return problems
        try:
            value = ctx.env(self.url_env).strip()
        except SecretSourceError as exc:
            return [ConfigProblem("url_env", self.url_env, str(exc))]
        problems = _amqp_url_problems("url_env", value, f"${self.url_env}", shown_value=self.url_env)
        if not problems:
            self._url = value
        return problems


def _amqp_url_problems(field: str, url: str, source: str, shown_value: object = None) -> list[ConfigProblem]:
    parts = urlsplit(url)
    if parts.scheme in {"amqp", "amqps"} and parts.hostname:
        return []
    # Show the URL without its password: it is a secret even when malformed.
    netloc = parts.netloc.rpartition("@")[2]
    redacted = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return [
        ConfigProblem(
            field,
            shown_value if shown_value is not None else "<redacted>",
            f"{source} ({redacted!r} without credentials) is not an AMQP URL; use amqp://user:password@host:5672/vhost",
        )
    ]


class StoreConfig(Section):
    """Where metric snapshots live: this process (memory) or Redis shared by all replicas."""

    backend: Literal["memory", "redis"] = "memory"
    redis_mode: Literal["standalone", "sentinel"] = "standalone"
    redis_addr: HostPort = "127.0.0.1:6379"
    redis_master_set: Text = ""
    redis_sentinel_addrs: Annotated[tuple[HostPort, ...], BeforeValidator(_tuple)] = ()
    redis_password: Secret = SecretStr("")
    redis_password_env: EnvName = ""
    redis_db: Annotated[StrictInt, Field(ge=0, le=15)] = 0
    key_prefix: Text = "gse"
    retention: PositiveDuration = timedelta(hours=24)
    metric_refresh_interval: PositiveDuration = timedelta(seconds=30)
    index_shards: Annotated[StrictInt, Field(ge=1)] = 1
    export_cache_mode: Literal["incremental", "full"] = "incremental"
    max_series_budget: Count = 1_000_000

    _password: str | None = PrivateAttr(default=None)

    @property
    def resolved_redis_password(self) -> str:
        """The Redis password ("" for none), from redis_password or the variable in redis_password_env."""
        if not self.redis_password_env:
            return self.redis_password.get_secret_value()
        if self._password is None:
            msg = (
                "store.redis_password_env was not resolved (the config was loaded with resolve_secrets=False)"
            )
            raise UnresolvedSecretError(msg)
        return self._password

    @field_validator("key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            msg = f"{value!r} is not a key prefix; use a non-empty word without spaces (e.g. gse)"
            raise ValueError(msg)
        return value

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        problems: list[ConfigProblem] = []
        if self.redis_password.get_secret_value() and self.redis_password_env:
            problems.append(
                ConfigProblem(
                    "redis_password_env",
                    self.redis_password_env,
                    "set redis_password or redis_password_env, not both",
                )
            )
        if self.backend != "redis":
            return problems
        if self.redis_mode == "sentinel":
            if not self.redis_sentinel_addrs:
                problems.append(
                    ConfigProblem(
                        "redis_sentinel_addrs", [], "is required when redis_mode is sentinel (list host:port)"
                    )
                )
            if not self.redis_master_set:
                problems.append(
                    ConfigProblem("redis_master_set", "", "is required when redis_mode is sentinel")
                )
        if problems or not self.redis_password_env or not ctx.resolve_secrets:
            return problems
        try:
            self._password = ctx.env(self.redis_password_env)
        except SecretSourceError as exc:
            return [ConfigProblem("redis_password_env", self.redis_password_env, str(exc))]
        return []


class HealthConfig(Section):
    """Probing GitHub and when to call it healthy again."""

    github_probe_interval: PositiveDuration = timedelta(seconds=30)
    github_recover_success_threshold: Annotated[StrictInt, Field(ge=1)] = 1


def _ratio(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{value!r} is not a number; use a fraction between 0 and 1 (e.g. 0.05)"
        raise ValueError(msg)
    if math.isnan(value):
        msg = "nan is not a number; use a fraction between 0 and 1 (e.g. 0.05)"
        raise ValueError(msg)
    return float(value)


class TelemetryConfig(Section):
    """OpenTelemetry traces of our own work (logs and self-metrics are always on)."""

    otel_enabled: Flag = False
    otel_exporter_otlp_endpoint: Text = ""
    otel_trace_mode: Literal["off", "errors", "sampled", "detailed"] = "sampled"
    otel_trace_sample_ratio: Annotated[float, BeforeValidator(_ratio)] = 0.05

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _http_url(value, what="otel-collector:4318") if value else value

    @property
    def effective_trace_mode(self) -> str:
        """The mode in force: always "off" while otel_enabled is false."""
        return self.otel_trace_mode if self.otel_enabled else "off"

    @property
    def effective_sample_ratio(self) -> float:
        """The ratio in force; "errors" mode with ratio 0 keeps 1% of healthy traces, as in the Go exporter."""
        if self.effective_trace_mode == "errors" and self.otel_trace_sample_ratio == 0:
            return 0.01
        return self.otel_trace_sample_ratio

    @property
    def traces_endpoint(self) -> str:
        """The OTLP/HTTP traces URL: the endpoint with /v1/traces appended when it has no path."""
        if not self.otel_exporter_otlp_endpoint:
            return ""
        parts = urlsplit(self.otel_exporter_otlp_endpoint)
        if parts.path in {"", "/"}:
            return urlunsplit(parts._replace(path="/v1/traces"))
        return self.otel_exporter_otlp_endpoint

    def _finish(self, ctx: LoadContext) -> None:
        clamped = min(1.0, max(0.0, self.otel_trace_sample_ratio))
        if clamped != self.otel_trace_sample_ratio:
            ctx.notices.append(
                f"telemetry.otel_trace_sample_ratio: {self.otel_trace_sample_ratio:g} clamped to {clamped:g}"
            )
            self._coerce("otel_trace_sample_ratio", clamped)


_SECTIONS = (
    "server",
    "metrics",
    "leader_election",
    "github",
    "rate_limit",
    "retry",
    "loc",
    "copilot",
    "backfill",
    "amqp",
    "store",
    "health",
    "telemetry",
)


class Settings(Section):
    """The whole configuration; a missing section takes its defaults (github.orgs has none)."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    leader_election: LeaderElectionConfig = Field(default_factory=LeaderElectionConfig)
    github: GitHubConfig
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    loc: LocConfig = Field(default_factory=LocConfig)
    copilot: CopilotConfig = Field(default_factory=CopilotConfig)
    backfill: BackfillConfig = Field(default_factory=BackfillConfig)
    amqp: AmqpConfig = Field(default_factory=AmqpConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)

    _notices: tuple[str, ...] = PrivateAttr(default=())

    @property
    def notices(self) -> list[str]:
        """Values the loader changed (coercions), for the CLI to print."""
        return list(self._notices)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: object) -> object:
        # `server:` with nothing under it is null in YAML; read it as an empty section, as Go does.
        if data is None:
            data = {}
        if isinstance(data, dict):
            data = {key: ({} if value is None and key in _SECTIONS else value) for key, value in data.items()}
            data.setdefault("github", {})
        return data
