"""Config section for the metric store: in-process memory or Redis (standalone or sentinel).

Validation only; the Redis password never appears in a repr or a message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, SecretStr, StrictInt, field_validator

from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import LoadContext, SecretSourceError, UnresolvedSecretError
from github_stats_exporter.config.section import (
    Count,
    EnvName,
    HostPort,
    PositiveDuration,
    Secret,
    Section,
    Text,
    as_tuple,
)


class StoreConfig(Section):
    """Where metric snapshots live: this process (memory) or Redis shared by all replicas."""

    backend: Literal["memory", "redis"] = "memory"
    redis_mode: Literal["standalone", "sentinel"] = "standalone"
    redis_addr: HostPort = "127.0.0.1:6379"
    redis_master_set: Text = ""
    redis_sentinel_addrs: Annotated[tuple[HostPort, ...], BeforeValidator(as_tuple)] = ()
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
