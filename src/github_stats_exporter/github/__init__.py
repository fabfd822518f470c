"""GitHub access layer: authentication, the rate-limit-aware HTTP client, typed errors.

This package re-exports the public API only; endpoint-specific calls live in their own modules and
never reach into the client's internals.
"""

from __future__ import annotations

from github_stats_exporter.github.auth import AppAuth, Auth, TokenAuth, mint_app_jwt
from github_stats_exporter.github.client import ClientOptions, GitHubClient, Response, create_session
from github_stats_exporter.github.errors import (
    AuthError,
    Conflict,
    Forbidden,
    ForeignHostError,
    GitHubError,
    GitHubHTTPError,
    GitHubTransportError,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unprocessable,
)
from github_stats_exporter.github.ratelimit import (
    LimitKind,
    RateLimitBudget,
    RateLimitState,
    classify_limit,
    parse_retry_after,
)

__all__ = [
    "AppAuth",
    "Auth",
    "AuthError",
    "ClientOptions",
    "Conflict",
    "Forbidden",
    "ForeignHostError",
    "GitHubClient",
    "GitHubError",
    "GitHubHTTPError",
    "GitHubTransportError",
    "LimitKind",
    "MalformedResponse",
    "NotFound",
    "RateLimitBudget",
    "RateLimitState",
    "RateLimited",
    "Response",
    "ServerError",
    "TokenAuth",
    "Unauthorized",
    "Unprocessable",
    "classify_limit",
    "create_session",
    "mint_app_jwt",
    "parse_retry_after",
]
