"""Config sections for talking to GitHub: the API, the organizations, rate limits, retries, LOC.

Validation and cross-field rules only; no request is made here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt, field_validator

from github_stats_exporter.config.credentials import CredentialFields
from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import LoadContext
from github_stats_exporter.config.section import (
    Count,
    Duration,
    Flag,
    PositiveDuration,
    Section,
    Text,
    TextList,
    as_tuple,
    check_http_url,
    duration_text,
)

_ORG_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")


class OrgConfig(CredentialFields):
    """One organization to scrape and the credentials to scrape it with."""

    org: Annotated[Text, Field(description="the organization's login, e.g. my-org")]
    scrape_interval: PositiveDuration = timedelta(minutes=5)
    repo_allowlist: TextList = ("*",)
    per_org_concurrency: Annotated[StrictInt, Field(ge=1, le=64)] = 4
    include_archived: Flag = False
    shards: Annotated[StrictInt, Field(ge=1, le=256)] = 1

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
    etag_cache_entries: Annotated[StrictInt, Field(ge=0)] = 10_000
    share_etags: Flag = True
    shared_etag_ttl: PositiveDuration = timedelta(hours=24)
    user_agent: Text = ""
    orgs: Annotated[
        tuple[OrgConfig, ...],
        BeforeValidator(as_tuple),
        Field(description="list at least one organization (org plus App or token credentials)"),
    ]

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_http_url(value, example="api.github.com or https://ghes.example.com/api/v3").rstrip("/")

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
