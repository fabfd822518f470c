"""Failures of the GitHub access layer, as a typed tree callers can match on.

Only exception classes live here; no I/O, no retry loop. Each class (or the code raising it) sets
``transient``, the one answer to "may asking again later succeed?" that the client's retries, the
collectors' backfill records and the backfill handlers all read (see docs/architecture.md, "Retries").
Messages never contain tokens, JWTs or query strings (callers get ``url_path`` without the query).

* GitHubError (an `ExporterError`)                                                     transient?
  + TransportError           one attempt got no HTTP answer (raised by a transport, see below)   yes
    - GitHubTransportError   connection error or timeout, still failing after the retries       yes
  + GitHubHTTPError          an HTTP status the caller did not accept (``status``, ``endpoint``)  no
    - Unauthorized           401, also after one token refresh                                  no
    - Forbidden              403 that is not a rate limit (missing permission, SSO, blocked)    no
    - NotFound               404 (also GitHub's answer for private resources without access)    no
    - Conflict               409 (e.g. an empty repository)                                     no
    - Unprocessable          422 validation failed                                              no
    - ServerError            5xx, still failing after the retries                               yes
  + MalformedResponse        an accepted status whose body does not decode, after the retries   yes
  + RateLimited              primary or secondary limit (a 403 or 429 that is a rate limit)     yes
  + AuthError                installation-token exchange failed                      5xx/none/body
  + ForeignHostError         refused to send credentials to a host other than the API host      no
  + CopilotReportError       report links or downloads (tree in github/copilot.py)

A transport (github/transport.py) maps its library's exceptions to `TransportError`; the client
raises `GitHubTransportError` (which adds the endpoint) once its attempts are spent.

A decoding failure is not an HTTP error: `MalformedResponse` carries the (accepted) status but does not
derive from `GitHubHTTPError`, so ``except GitHubHTTPError`` only sees statuses GitHub refused us with.
"""

from __future__ import annotations

from github_stats_exporter.errors import ExporterError


class GitHubError(ExporterError):
    """Base class of everything the GitHub layer raises on purpose."""


class TransportError(GitHubError):
    """One attempt got no HTTP answer; ``reason`` is ``timeout`` or ``connection`` (the retry metric's label)."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class GitHubTransportError(TransportError):
    """The request never got an HTTP answer (connection refused/reset, timeout) after all attempts."""

    def __init__(self, message: str, *, endpoint: str, url_path: str, reason: str = "connection") -> None:
        self.endpoint = endpoint
        self.url_path = url_path
        super().__init__(f"{endpoint} {url_path}: {message}", reason=reason)


class GitHubHTTPError(GitHubError):
    """GitHub answered with a status the caller did not accept; a refusal repeats unless it is a 5xx."""

    transient = False

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

    transient = True


class MalformedResponse(GitHubError):
    """An accepted status whose body could not be decoded (not JSON, or not the documented shape).

    A body cut short or garbled on the way is transient: asking again usually gets the whole document.
    """

    def __init__(self, status: int, message: str, endpoint: str, url_path: str) -> None:
        self.status = status
        self.message = message
        self.endpoint = endpoint
        self.url_path = url_path
        super().__init__(f"undecodable HTTP {status} body from {endpoint} {url_path}: {message}")


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
    A None, 429 or 5xx status is transient, and so is a success whose body did not parse
    (``invalid_body``, e.g. cut short on the way); 401/403/404 mean wrong app id, key or installation id.
    """

    def __init__(self, status: int | None, message: str, *, invalid_body: bool = False) -> None:
        self.status = status
        self.message = message
        self.invalid_body = invalid_body
        self.transient = invalid_body or status is None or status >= 500 or status == 429
        shown = "no response" if status is None else f"HTTP {status}"
        super().__init__(f"installation token exchange failed ({shown}): {message}")

    @property
    def reason(self) -> str:
        """The `reason` label of a retry caused by this failure."""
        if self.invalid_body:
            return "invalid_body"
        return "server_error" if self.status else "connection"


class ForeignHostError(GitHubError):
    """A URL pointed outside the configured API origin; credentials are never sent there."""

    transient = False

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
