"""The retry helper: full-jitter backoff bounds, hints, when there is no next attempt, and the counter."""

from __future__ import annotations

import random

import pytest

from github_stats_exporter import metrics
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.retry import Retrier, RetryPolicy
from github_stats_exporter.selfmetrics import SelfMetrics


class Flaky(ExporterError):
    """A failure that may heal."""


class Refused(ExporterError):
    transient = False


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def retrier(policy: RetryPolicy, sleeps: Sleeps, self_metrics: SelfMetrics, seed: int = 1) -> Retrier:
    return Retrier(policy, org="acme", metrics=self_metrics, sleep=sleeps, rng=random.Random(seed))


def retries(self_metrics: SelfMetrics, reason: str, endpoint: str = "list_pulls") -> float:
    return self_metrics.value(metrics.GITHUB_RETRIES, {"org": "acme", "endpoint": endpoint, "reason": reason})


@pytest.mark.parametrize("seed", range(20))
def test_full_jitter_stays_under_the_capped_exponential_ceiling(seed: int) -> None:
    """Attempt n waits uniformly in [0, min(max_backoff, initial * 2**(n-1))]."""
    policy = RetryPolicy(attempts=10, initial_backoff=1.0, max_backoff=5.0)
    rng = random.Random(seed)
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 5.0, 5.0], start=1):
        assert 0.0 <= policy.delay(attempt, rng) <= ceiling


def test_without_jitter_the_wait_is_the_ceiling() -> None:
    """jitter=False makes the schedule exact (initial, doubled, capped)."""
    policy = RetryPolicy(attempts=5, initial_backoff=0.5, max_backoff=1.5, jitter=False)
    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]


async def test_transient_failures_wait_and_count_until_the_attempts_are_spent() -> None:
    """Three attempts give two retries, each counted with its reason; the third failure gets no wait."""
    sleeps, self_metrics = Sleeps(), SelfMetrics()
    attempts = retrier(RetryPolicy(attempts=3, jitter=False), sleeps, self_metrics).attempts("list_pulls")
    assert await attempts.backoff(Flaky(), "server_error")
    assert await attempts.backoff(Flaky(), "timeout")
    assert not await attempts.backoff(Flaky(), "server_error")
    assert sleeps.calls == [1.0, 2.0]
    assert (retries(self_metrics, "server_error"), retries(self_metrics, "timeout")) == (1, 1)
    assert attempts.last


async def test_a_permanent_failure_is_never_retried() -> None:
    """An error whose transient is False ends the loop at once: no wait, nothing counted."""
    sleeps, self_metrics = Sleeps(), SelfMetrics()
    attempts = retrier(RetryPolicy(attempts=5), sleeps, self_metrics).attempts("list_pulls")
    assert not await attempts.backoff(Refused(), "server_error")
    assert sleeps.calls == []
    assert retries(self_metrics, "server_error") == 0


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        pytest.param(10.0, 10.0, id="hint-above-backoff"),
        pytest.param(0.1, 1.0, id="backoff-above-hint"),
        pytest.param(5000.0, 900.0, id="hint-capped"),
    ],
)
async def test_a_server_hint_raises_the_wait_up_to_the_cap(hint: float, expected: float) -> None:
    """Retry-After on a 5xx lengthens the wait, never beyond max_hint."""
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=2, initial_backoff=1.0, jitter=False, max_hint=900.0)
    attempts = retrier(policy, sleeps, SelfMetrics()).attempts("list_pulls")
    assert await attempts.backoff(Flaky(), "server_error", at_least=hint)
    assert sleeps.calls == [expected]


async def test_a_free_retry_is_counted_without_using_an_attempt() -> None:
    """A token refresh after a 401 counts as a retry but leaves the attempt budget untouched."""
    self_metrics = SelfMetrics()
    attempts = retrier(RetryPolicy(attempts=1), Sleeps(), self_metrics).attempts("list_pulls")
    attempts.again("unauthorized")
    assert attempts.number == 1
    assert retries(self_metrics, "unauthorized") == 1


def test_a_policy_needs_at_least_one_attempt() -> None:
    """Zero attempts is a configuration mistake, refused at construction."""
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
