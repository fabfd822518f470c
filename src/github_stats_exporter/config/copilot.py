"""Config section for Copilot usage reports and its enterprise credentials (docs/configuration.md).

Rules apply only when `copilot.enabled` is true; the hashed-label key is read here when asked to.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, PrivateAttr

from github_stats_exporter.config.credentials import CredentialFields
from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import LoadContext, SecretSourceError
from github_stats_exporter.config.section import Count, EnvName, Flag, PositiveDuration, Section, Text

_MIN_HASH_KEY_BYTES = 16


class CopilotEnterpriseConfig(CredentialFields):
    """Enterprise-level Copilot reports; needs its own App installation or token."""

    enabled: Flag = False
    slug: Text = ""


class CopilotConfig(Section):
    """Copilot usage reports: which reports to collect, how often, and how users are labelled."""

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
    include_seats: Flag = False
    include_seat_users: Flag = False
    seats_interval: PositiveDuration = timedelta(hours=1)
    include_teams: Flag = False
    include_repositories: Flag = False
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
        if self.include_seat_users and not self.include_seats:
            self._coerce("include_seat_users", False)
            ctx.notices.append(
                "copilot.include_seat_users: true coerced to false because copilot.include_seats is false"
            )
        if (
            self.enabled
            and self.include_seats
            and self.enterprise.enabled
            and self.enterprise.auth_method == "app"
        ):
            ctx.notices.append(
                "copilot.include_seats: the enterprise seat list refuses GitHub App tokens; enterprise seats "
                "are collected only with copilot.enterprise.token_env or token_file (a classic token)"
            )
        if self.enterprise.enabled:
            return
        for name in ("include_enterprise_28d", "include_enterprise_users_28d"):
            if getattr(self, name):
                self._coerce(name, False)
                ctx.notices.append(
                    f"copilot.{name}: true coerced to false because copilot.enterprise.enabled is false"
                )
