"""The configuration schema: `Settings` and the small sections (server, metrics, leader, health, telemetry).

Field names equal the Go exporter's YAML keys; defaults are its effective (runtime fallback) values.
Bigger sections live in `github.py`, `copilot.py`, `backfill.py` and `store.py`; files are `loader.py`'s job.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BeforeValidator, Field, PrivateAttr, StrictInt, field_validator, model_validator

from github_stats_exporter.config.backfill import AmqpConfig, BackfillConfig
from github_stats_exporter.config.copilot import CopilotConfig
from github_stats_exporter.config.github import GitHubConfig, LocConfig, RateLimitConfig, RetryConfig
from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import LoadContext
from github_stats_exporter.config.section import (
    Flag,
    HostPort,
    PositiveDuration,
    Section,
    Text,
    check_http_url,
    duration_text,
)
from github_stats_exporter.config.store import StoreConfig

_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _lower(value: object) -> object:
    # zap (the Go logger) accepts WARN/Info as well; accept the same spellings.
    if isinstance(value, str):
        lowered = value.strip().lower()
        return "warning" if lowered == "warn" else lowered
    return value


class ServerConfig(Section):
    """HTTP listener and logging."""

    listen_addr: HostPort = ":8080"
    log_level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    log_format: Literal["json", "console"] = "json"
    web_config_file: Text = ""
    """TLS and basic auth in the exporter-toolkit format (docs/tls.md); empty: plain HTTP, no auth."""
    probes_without_auth: Flag = False
    """Serve /livez and /readyz without basic auth (kubelet probes carry no credentials)."""

    def _finish(self, ctx: LoadContext) -> None:
        # Relative to the config file, like every other file the config names.
        path = Path(self.web_config_file)
        if self.web_config_file and not path.is_absolute() and ctx.base_dir is not None:
            self._coerce("web_config_file", str(ctx.base_dir / path))


class MetricsConfig(Section):
    """How Prometheus scrapes us; one topology exists, the DNS name is informational."""

    topology: Literal["single_service_target"] = "single_service_target"
    scrape_service_dns: Text = ""


class LeaderElectionConfig(Section):
    """Leader election among replicas: a Kubernetes Lease or a Redis lease (off: role from the environment)."""

    enabled: Flag = False
    backend: Literal["kubernetes", "redis"] = "kubernetes"
    mode: Literal["single", "sharded"] = "single"
    identity: Text = ""
    namespace: Text = ""
    lease_name: Text = "github-stats-exporter-leader"
    lease_duration: PositiveDuration = timedelta(seconds=30)
    renew_deadline: PositiveDuration = timedelta(seconds=20)
    retry_period: PositiveDuration = timedelta(seconds=5)
    kubernetes_api_url: Text = ""
    """Empty: the in-cluster API server; else an API server that needs no credentials (``kubectl proxy``)."""

    @field_validator("kubernetes_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_http_url(value, example="127.0.0.1:8001").rstrip("/") if value else value

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str) -> str:
        if value != value.strip() or any(not ch.isprintable() for ch in value):
            msg = f"{value!r} is not an identity; use printable text without surrounding spaces (e.g. the pod name)"
            raise ValueError(msg)
        return value

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        if not self.enabled:
            return []
        problems: list[ConfigProblem] = []
        if self.backend == "kubernetes" and not self.namespace:
            problems.append(
                ConfigProblem(
                    "namespace",
                    "",
                    "is required when leader_election.enabled is true and backend is kubernetes",
                )
            )
        elif self.backend == "kubernetes" and not _DNS_LABEL.fullmatch(self.namespace):
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


ReadinessComponent = Literal[
    "store",
    "github_api_core",
    "amqp",
    "backfill_queue",
    "github_api_copilot_org_reports",
    "github_api_copilot_org_user_reports",
    "github_api_copilot_enterprise_reports",
    "github_api_copilot_enterprise_user_reports",
    "github_copilot_report_download",
    "github_api_copilot_org_seats",
    "github_api_copilot_enterprise_seats",
    "github_api_copilot_org_teams",
    "github_api_copilot_enterprise_teams",
    "github_api_copilot_org_repos",
    "github_api_copilot_enterprise_repos",
]


class HealthConfig(Section):
    """Probing GitHub and when to call it healthy again."""

    github_probe_interval: PositiveDuration = timedelta(seconds=30)
    github_recover_success_threshold: Annotated[StrictInt, Field(ge=1)] = 1
    readiness_requires: tuple[ReadinessComponent, ...] = ()
    """Components that must be healthy for /readyz, on top of a rendered page (stricter policy)."""
    liveness_stall_intervals: Annotated[StrictInt, Field(ge=2)] = 10
    """/livez fails once a periodic loop has not completed an iteration for this many of its
    intervals (plus its tick timeout, and never sooner than a minute)."""


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
        return check_http_url(value, example="otel-collector:4318") if value else value

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

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        # Across sections: the Redis lease lives in the store's Redis and reuses its connection settings.
        election = self.leader_election
        if election.mode == "sharded" and not (election.enabled and self.store.backend == "redis"):
            return [
                ConfigProblem(
                    "leader_election.mode",
                    election.mode,
                    "'sharded' needs leader_election.enabled: true and store.backend: redis (the work "
                    "units' leases and fencing epochs live in the store's Redis, docs/scaling.md)",
                )
            ]
        if election.enabled and election.backend == "redis" and self.store.backend != "redis":
            return [
                ConfigProblem(
                    "leader_election.backend",
                    election.backend,
                    f"'redis' needs store.backend: redis (the lease uses the store's store.redis_* "
                    f"connection settings), but store.backend is {self.store.backend!r}; set store.backend: "
                    "redis or use backend: kubernetes",
                )
            ]
        return []

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
