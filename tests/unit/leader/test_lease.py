"""The shared lease loop over a scripted lock: roles, deadlines, pacing, release and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from github_stats_exporter.leader.base import LeaseError
from github_stats_exporter.leader.lease import JITTER, LeaseElector, LeaseTimings
from github_stats_exporter.metrics import LEADER_ELECTION_ERRORS, LEADER_TRANSITIONS
from github_stats_exporter.selfmetrics import SelfMetrics

TIMINGS = LeaseTimings(lease_duration=10.0, renew_deadline=6.0, retry_period=2.0)
Outcome = bool | LeaseError | Callable[[], object]


class ScriptedLock:
    """Answers attempts from a script (True: held, False: someone else, LeaseError: failure)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.attempts: list[tuple[float, bool]] = []
        self.released = 0
        self.release_error: LeaseError | None = None
        self.hang = False

    async def try_acquire_or_renew(self, now: float, leading: bool) -> bool:
        self.attempts.append((now, leading))
        if self.hang:
            await asyncio.Event().wait()
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, LeaseError):
            raise outcome
        assert isinstance(outcome, bool)
        return outcome

    async def release(self) -> bool:
        if self.hang:
            await asyncio.Event().wait()
        if self.release_error is not None:
            raise self.release_error
        self.released += 1
        return True

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _elector(lock: ScriptedLock, clock: Callable[[], float], **options: object) -> LeaseElector:
    options.setdefault("timings", TIMINGS)
    options.setdefault("jitter", lambda: 0.0)
    options.setdefault("metrics", SelfMetrics())
    return LeaseElector(lock, identity="me", clock=clock, **options)  # type: ignore[arg-type]


def _errors(metrics: SelfMetrics, reason: str) -> float:
    return metrics.value(LEADER_ELECTION_ERRORS, {"reason": reason})


@pytest.mark.parametrize(
    ("lease", "deadline", "retry"),
    [
        pytest.param(10, 10, 2, id="lease-not-longer-than-deadline"),
        pytest.param(10, 2, 2, id="deadline-not-longer-than-retry"),
        pytest.param(10, 5, 0, id="retry-zero"),
    ],
)
def test_timings_enforce_the_ordering(lease: float, deadline: float, retry: float) -> None:
    """lease_duration > renew_deadline > retry_period > 0 is what makes stepping down safe."""
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period"):
        LeaseTimings(lease, deadline, retry)


async def test_role_follows_the_lock_and_is_reported_once_per_change() -> None:
    """on_change fires only on changes; transitions count acquisitions."""
    lock, clock, metrics = ScriptedLock(False, True, True, False, True), Clock(), SelfMetrics()
    elector = _elector(lock, clock, metrics=metrics)
    changes: list[bool] = []
    elector.listen(changes.append)

    roles = [await elector.step() for _ in range(5)]

    assert roles == [False, True, True, False, True]
    assert changes == [True, False, True]
    assert elector.transitions == 2
    assert metrics.value(LEADER_TRANSITIONS) == 2
    assert [leading for _, leading in lock.attempts] == [False, False, True, True, False]


async def test_leader_keeps_leading_through_failures_within_the_deadline() -> None:
    """Failed renewals are counted; the leader steps down only when renew_deadline has passed."""
    lock, clock, metrics = (
        ScriptedLock(True, LeaseError("boom", reason="server_error")),
        Clock(),
        SelfMetrics(),
    )
    elector = _elector(lock, clock, metrics=metrics)
    await elector.step()
    acquired_at = clock.now

    clock.now = acquired_at + 5.9
    assert await elector.step() is True
    clock.now = acquired_at + 6.0
    assert await elector.step() is False

    assert _errors(metrics, "server_error") == 1  # the second step never tried: the deadline had passed
    assert _errors(metrics, "renew_deadline") == 1


async def test_deadline_counts_from_when_the_successful_renewal_was_sent() -> None:
    """A slow but successful renewal moves the deadline to its start, not its end."""
    clock = Clock()

    class SlowLock(ScriptedLock):
        async def try_acquire_or_renew(self, now: float, leading: bool) -> bool:
            clock.now += 4.0  # the request takes 4 s
            return await super().try_acquire_or_renew(now, leading)

    lock = SlowLock(True)
    elector = _elector(lock, clock)
    await elector.step()  # sent at 100, answered at 104

    clock.now = 105.9
    assert elector.next_delay() == pytest.approx(0.1)  # wakes at 106 = 100 + renew_deadline at the latest
    clock.now = 106.0
    assert await elector.step() is False


@pytest.mark.parametrize(
    ("timings", "leader_ok", "expected"),
    [
        pytest.param(TIMINGS, None, 2.0 * (1 + JITTER), id="follower-jittered"),
        pytest.param(TIMINGS, True, 2.0, id="leader-renews-every-retry-period"),
        pytest.param(LeaseTimings(10.0, 3.0, 2.9), True, 1.5, id="leader-leaves-half-the-deadline"),
    ],
)
async def test_next_delay(timings: LeaseTimings, leader_ok: bool | None, expected: float) -> None:
    """Followers wait retry_period plus jitter; a healthy leader renews early enough to retry in time."""
    lock = ScriptedLock(leader_ok is not None)
    elector = _elector(lock, Clock(), timings=timings, jitter=lambda: 1.0)
    await elector.step()
    assert elector.next_delay() == pytest.approx(expected)


async def test_failing_leader_never_sleeps_past_its_deadline() -> None:
    """After a failed renewal the pause is cut so the step-down happens on time."""
    lock, clock = ScriptedLock(True, LeaseError("x", reason="network")), Clock()
    elector = _elector(lock, clock, jitter=lambda: 1.0)
    await elector.step()
    clock.now += 5.0
    await elector.step()
    assert elector.next_delay() == pytest.approx(1.0)


async def test_hung_renewal_is_cut_at_the_deadline() -> None:
    """A renewal that never answers is abandoned when renew_deadline is reached, and the leader steps down."""
    lock, metrics = ScriptedLock(True), SelfMetrics()
    # The cut is an asyncio timeout, so the elector's clock must be the loop's for the deadline to line up.
    loop_time = asyncio.get_running_loop().time
    elector = _elector(lock, loop_time, timings=LeaseTimings(0.3, 0.1, 0.05), metrics=metrics)
    await elector.step()
    lock.hang = True

    assert await asyncio.wait_for(elector.step(), 1.0) is False
    assert _errors(metrics, "timeout") == 1
    assert _errors(metrics, "renew_deadline") == 1


async def test_cancelled_run_reports_the_loss_and_reraises() -> None:
    """Cancelling run() while leading calls on_change(False): nobody renews any more."""
    lock = ScriptedLock(True)
    slept = asyncio.Event()

    async def sleep(_: float) -> None:
        slept.set()
        await asyncio.Event().wait()

    elector = _elector(lock, Clock(), sleep=sleep)
    changes: list[bool] = []
    task = asyncio.create_task(elector.run(changes.append))
    await asyncio.wait_for(slept.wait(), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert changes == [True, False]
    assert not elector.is_leader


async def test_run_survives_every_expected_failure() -> None:
    """A run of failures never ends run(); the loop keeps pacing itself on retry_period."""
    failures = [LeaseError("x", reason=r) for r in ("network", "conflict", "server_error", "redis")]
    lock = ScriptedLock(*failures, True)
    delays: list[float] = []
    became = asyncio.Event()

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    metrics = SelfMetrics()
    elector = _elector(lock, Clock(), sleep=sleep, metrics=metrics)
    task = asyncio.create_task(elector.run(lambda leader: became.set() if leader else None))
    await asyncio.wait_for(became.wait(), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert delays[:4] == [2.0, 2.0, 2.0, 2.0]
    assert sum(_errors(metrics, r) for r in ("network", "conflict", "server_error", "redis")) == 4


async def test_release_stops_leading_first_then_frees_the_lease() -> None:
    """release() reports the loss before the lease is freed, and the elector stops campaigning."""
    lock = ScriptedLock(True)
    elector = _elector(lock, Clock())
    events: list[str] = []
    elector.listen(lambda leader: events.append(f"leader={leader} released={lock.released}"))
    await elector.step()

    await elector.release()

    assert events == ["leader=True released=0", "leader=False released=0"]
    assert lock.released == 1
    assert await elector.step() is False
    assert len(lock.attempts) == 1


@pytest.mark.parametrize(
    ("hang", "error", "reason"),
    [
        pytest.param(True, None, "timeout", id="hangs"),
        pytest.param(False, LeaseError("down", reason="redis"), "redis", id="fails"),
    ],
)
async def test_release_failure_is_counted_not_raised(
    hang: bool, error: LeaseError | None, reason: str
) -> None:
    """A release that cannot reach the lease gives up within renew_deadline; shutdown continues."""
    lock, metrics = ScriptedLock(True), SelfMetrics()
    elector = _elector(lock, Clock(), timings=LeaseTimings(0.3, 0.1, 0.05), metrics=metrics)
    await elector.step()
    lock.hang, lock.release_error = hang, error

    await asyncio.wait_for(elector.release(), 1.0)

    assert not elector.is_leader
    assert _errors(metrics, reason) == 1


async def test_run_honours_a_cancellation_a_client_library_swallowed() -> None:
    """If the lock eats the CancelledError (seen with redis-py mid-reconnect), run() still stops."""
    entered = asyncio.Event()

    class SwallowingLock(ScriptedLock):
        async def try_acquire_or_renew(self, now: float, leading: bool) -> bool:
            entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return False
            return True

    elector = _elector(SwallowingLock(False), Clock(), sleep=lambda _: asyncio.sleep(0))
    task = asyncio.create_task(elector.run(lambda _: None))
    await asyncio.wait_for(entered.wait(), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
