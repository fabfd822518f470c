"""The exporter's exception tree: one root, one base per subsystem, retryability decided where raised.

Only the root class and the map of the tree live here; each subsystem defines its own errors next to
the code that raises them and derives its base from `ExporterError`. Foreign exceptions (aiohttp,
redis, aio-pika, msgspec, the Kubernetes API) are turned into these at the adapter that meets them,
with the original chained as ``__cause__``; nothing above an adapter catches a third-party class.

* ExporterError                          root; ``transient`` says whether asking again later may help
  + ConfigError         config/problems    the configuration cannot be used (every problem listed)
  + StartupError        app/runtime        the process cannot start what the configuration asks for
  + GitHubError         github/errors      GitHub access; the full tree is in that module
    - GitHubTransportError, GitHubHTTPError (Unauthorized, Forbidden, NotFound, ...),
      MalformedResponse, RateLimited, AuthError, ForeignHostError, CopilotReportError
  + StoreError          store/base         StoreUnavailable, SeriesBudgetExceeded
  + QueueError          backfill/base      QueueUnavailable, QueueTopologyError
  + PermanentJobError   backfill/jobs      a handler's verdict that a backfill job cannot succeed
  + LeaseError          leader/base        one leader-election attempt failed (the elector retries)
  + ElectorSetupError   leader/kubernetes  the Kubernetes elector cannot work in this pod
  + LocCollectionError  scrape/loc         a LOC backfill failed (the cause is chained)
  + CopilotCollectError scrape/copilot     a Copilot report could not be collected (the cause is chained)

**Retryability.** ``transient`` is set once, by the class or by the code that raises the error, and
every retry decision reads it: the GitHub client's and the Copilot download's retry loops
(`retry.Attempts.backoff`), the collectors deciding whether a failure is recorded for backfill, and
the backfill handlers deciding whether a job is dead-lettered at once. The default is True (an
unknown failure may be retried); errors that repeat however often we ask set it to False. A wrapper
that chains a cause (``raise Wrapper(...) from exc``) keeps the default and lets the chain decide:
see `permanent_cause`. The rule for GitHub's statuses is in docs/architecture.md ("Retries").
"""

from __future__ import annotations


class ExporterError(Exception):
    """Root of every failure the exporter raises on purpose."""

    transient: bool = True
    """Whether asking again later may succeed; False for answers that repeat (missing permission, 404)."""


def permanent_cause(exc: BaseException) -> BaseException | None:
    """The first error in ``exc``'s ``raise ... from`` chain that says it is permanent, or None.

    A wrapper raised ``from`` a permanent error is as permanent as its cause; an exception that is not
    an `ExporterError` (a bug, a timeout) never counts as permanent. Only explicit causes count: an
    error merely raised while another was being handled (``__context__``) is not caused by it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ExporterError) and not current.transient:
            return current
        seen.add(id(current))
        current = current.__cause__
    return None
