"""Failures of the GitHub access layer, as a typed tree callers can match on.

Only exception classes live here; no I/O, no retry policy. Messages never contain tokens, JWTs or
query strings (callers get ``url_path`` without the query).

* GitHubError
  + GitHubTransportError     connection error or timeout, still failing after the retries
  + GitHubHTTPError          an HTTP status the caller did not accept (``status``, ``endpoint``, ``url_path``)
    - Unauthorized           401, also after one token refresh
    - Forbidden              403 that is not a rate limit (missing permission, SSO, blocked)
    - NotFound               404 (also GitHub's answer for private resources without access)
    - Conflict               409 (e.g. an empty repository)
    - Unprocessable          422 validation failed
    - ServerError            5xx, still failing after the retries
    - MalformedResponse      an accepted status whose body is not JSON, still so after the retries
  + RateLimited              primary or secondary limit whose wait exceeds ``max_wait`` or the attempts
  + AuthError                installation-token exchange failed (``status`` is None on transport failure)
  + ForeignHostError         refused to send credentials to a host other than the configured API host
"""

from __future__ import annotations


class GitHubError(Exception):
    """Base class of everything the GitHub layer raises on purpose."""


class GitHubTransportError(GitHubError):
    """The request never got an HTTP answer (connection refused/reset, timeout) after all attempts."""

    def __init__(self, message: str, *, endpoint: str, url_path: str) -> None:
        self.endpoint = endpoint
        self.url_path = url_path
        super().__init__(f"{endpoint} {url_path}: {message}")


class GitHubHTTPError(GitHubError):
    """GitHub answered with a status the caller did not accept."""

    def __init__(self, status: int, message: str, endpoint: str, url_path: str) -> None:
        self.status = status
        self.message = message
        self.endpoint = endpoint
        self.url_path = url_path
        super().__init__(f"HTTP {status} from {endpoint} {url_path}: {message}")


class Unauthorized(GitHubHTTPError):
    """401: the credentials were rejected, also after one refresh."""


class Forbidden(GitHubHTTPError):
    """403 that is not a rate limit: the installation lacks a permission or access is blocked."""


class NotFound(GitHubHTTPError):
    """404: the resource does not exist or is not visible to this installation."""


class Conflict(GitHubHTTPError):
    """409: e.g. listing commits of an empty repository."""


class Unprocessable(GitHubHTTPError):
    """422: GitHub refused the parameters."""


class ServerError(GitHubHTTPError):
    """5xx that persisted through every retry."""


class MalformedResponse(GitHubHTTPError):
    """A successful status whose body could not be decoded as JSON on any of the attempts."""


class RateLimited(GitHubError):
    """A rate limit needs a longer pause than allowed, or kept hitting until the attempts ran out.

    ``retry_at`` is the Unix time after which a retry is expected to pass; ``secondary`` tells a
    secondary (abuse/concurrency) limit from the primary hourly budget.
    """

    def __init__(self, retry_at: float, secondary: bool, message: str = "") -> None:
        self.retry_at = retry_at
        self.secondary = secondary
        kind = "secondary" if secondary else "primary"
        detail = f": {message}" if message else ""
        super().__init__(f"GitHub {kind} rate limit, retry at {retry_at:.0f}{detail}")


class AuthError(GitHubError):
    """Exchanging the App JWT for an installation token failed.

    ``status`` is the HTTP status of the exchange, or None when no answer arrived (transport failure).
    A None or 5xx status is transient, and so is a success whose body did not parse (``invalid_body``,
    e.g. cut short on the way); 401/403/404 mean wrong app id, key or installation id.
    """

    def __init__(self, status: int | None, message: str, *, invalid_body: bool = False) -> None:
        self.status = status
        self.message = message
        self.invalid_body = invalid_body
        shown = "no response" if status is None else f"HTTP {status}"
        super().__init__(f"installation token exchange failed ({shown}): {message}")

    @property
    def is_transient(self) -> bool:
        return self.invalid_body or self.status is None or self.status >= 500 or self.status == 429


class ForeignHostError(GitHubError):
    """A URL pointed outside the configured API origin; credentials are never sent there."""

    def __init__(self, origin: str, expected: str) -> None:
        self.origin = origin
        self.expected = expected
        super().__init__(f"refusing to send GitHub credentials to {origin} (API host is {expected})")


_BY_STATUS: dict[int, type[GitHubHTTPError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
}


def http_error_for(status: int, message: str, endpoint: str, url_path: str) -> GitHubHTTPError:
    """Build the most specific error class for an unaccepted status."""
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, GitHubHTTPError)
    return cls(status, message, endpoint, url_path)
