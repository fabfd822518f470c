"""Config sections for backfill: the job policy and the RabbitMQ connection that carries jobs.

Validation only; the broker URL (a secret) never appears in a repr or a message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, SecretStr, StrictInt

from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import LoadContext, SecretSourceError, UnresolvedSecretError
from github_stats_exporter.config.section import (
    Count,
    Duration,
    DurationList,
    EnvName,
    Flag,
    PositiveDuration,
    Secret,
    Section,
    Text,
    duration_text,
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
    """RabbitMQ for backfill jobs, used only when url (or url_env) and exchange are both set.

    Otherwise the in-process queue is used, as in the Go exporter (docs/configuration.md); a half-set pair is
    accepted and reported as a config warning (`config.inert`), and the unused URL is not read.
    """

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
    def ignored(self) -> bool:
        """True when only half of RabbitMQ is configured (url without exchange or the reverse)."""
        return not self.enabled and bool(self.exchange or self.url.get_secret_value() or self.url_env)

    @property
    def resolved_url(self) -> str:
        """The broker URL including credentials; "" when RabbitMQ is not used."""
        if not self.enabled:
            return ""
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
        if not self.enabled:
            # Go uses RabbitMQ only with both url and exchange; a half-set pair means the in-process
            # queue there too, so it is accepted (and warned about) rather than refused.
            return problems
        if inline:
            problems += _amqp_url_problems("url", inline, "amqp.url")
        if not self.queue:
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
