"""Configuration: the YAML schema, durations, validation with every problem reported, secret resolution.

This package reads the config file and the secrets it names, nothing else; it never starts anything.
Use `load_config(path)`; the models are immutable. `config_warnings(settings)` lists values that are
accepted without effect (see `inert.py`).
"""

from __future__ import annotations

from github_stats_exporter.config.backfill import AmqpConfig, BackfillConfig
from github_stats_exporter.config.copilot import CopilotConfig, CopilotEnterpriseConfig
from github_stats_exporter.config.credentials import AuthMethod
from github_stats_exporter.config.duration import format_duration, parse_duration
from github_stats_exporter.config.github import (
    GitHubConfig,
    LocConfig,
    OrgConfig,
    RateLimitConfig,
    RetryConfig,
)
from github_stats_exporter.config.inert import INERT_KEYS, ConfigWarning, InertKey, config_warnings
from github_stats_exporter.config.loader import load_config, parse_config
from github_stats_exporter.config.problems import ConfigError, ConfigProblem
from github_stats_exporter.config.schema import (
    HealthConfig,
    LeaderElectionConfig,
    MetricsConfig,
    ServerConfig,
    Settings,
    TelemetryConfig,
)
from github_stats_exporter.config.secrets import (
    AppCredentials,
    Credentials,
    TokenCredentials,
    UnresolvedSecretError,
)
from github_stats_exporter.config.store import StoreConfig

__all__ = [
    "INERT_KEYS",
    "AmqpConfig",
    "AppCredentials",
    "AuthMethod",
    "BackfillConfig",
    "ConfigError",
    "ConfigProblem",
    "ConfigWarning",
    "CopilotConfig",
    "CopilotEnterpriseConfig",
    "Credentials",
    "GitHubConfig",
    "HealthConfig",
    "InertKey",
    "LeaderElectionConfig",
    "LocConfig",
    "MetricsConfig",
    "OrgConfig",
    "RateLimitConfig",
    "RetryConfig",
    "ServerConfig",
    "Settings",
    "StoreConfig",
    "TelemetryConfig",
    "TokenCredentials",
    "UnresolvedSecretError",
    "config_warnings",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
