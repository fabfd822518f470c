"""The Kubernetes Lease elector against a fake Lease API: creation, takeover timing, races, partitions, release."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from github_stats_exporter.leader.kubernetes import (
    ApiServer,
    ElectorSetupError,
    KubernetesElector,
    micro_time,
)
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.metrics import LEADER_ELECTION_ERRORS, LEADER_TRANSITIONS
from github_stats_exporter.selfmetrics import SelfMetrics

MICRO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
LEASE_URL_PART = "/apis/coordination.k8s.io/v1/namespaces/monitoring/leases"


def _errors(metrics: SelfMetrics, reason: str) -> float:
    return metrics.value(LEADER_ELECTION_ERRORS, {"reason": reason})


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        pytest.param(
            datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC), "2026-11-25T10:00:00.123456Z", id="micro"
        ),
        pytest.param(
            datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC), "2026-11-25T10:00:00.000000Z", id="whole-second"
        ),
        pytest.param(
            datetime(2026, 11, 25, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-25T10:00:00.000005Z",
            id="offset-to-utc",
        ),
    ],
)
def test_micro_time_has_exactly_six_fractional_digits(moment: datetime, text: str) -> None:
    """MicroTime is UTC with six fractional digits and Z, even for whole seconds (the Go exporter's 400)."""
    assert micro_time(moment) == text


async def test_fake_api_rejects_whole_second_renew_time(lease_api) -> None:
    """The fake behaves like an API server: a renewTime without six fractional digits is a 400."""
    lease = {
        "metadata": {"name": "x"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 10, "renewTime": "2026-11-25T10:00:05Z"},
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{lease_api.base_url}{LEASE_URL_PART}", json=lease) as resp,
    ):
        assert resp.status == 400
        assert "MicroTime" in (await resp.json())["message"]


async def test_first_elector_creates_the_lease(lease_api, make_elector, clock) -> None:
    """With no Lease, the first attempt POSTs one naming this replica, with MicroTime stamps, and leads."""
    metrics = SelfMetrics()
    elector = make_elector("pod-a", timings=LeaseTimings(2.5, 2.0, 1.0), metrics=metrics)
    changes: list[bool] = []
    elector.listen(changes.append)

    assert await elector.step() is True

    spec = lease_api.spec()
    assert spec["holderIdentity"] == "pod-a"
    assert spec["leaseDurationSeconds"] == 3  # whole seconds, rounded up
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"] == spec["acquireTime"] == micro_time(clock.wall())
    assert [s.method for s in lease_api.seen] == ["GET", "POST"]
    assert changes == [True]
    assert elector.transitions == 1
    assert metrics.value(LEADER_TRANSITIONS) == 1


async def test_leader_renews_with_the_resource_version_it_read(lease_api, make_elector, clock) -> None:
    """A renewal PUTs the object it just read (resourceVersion included) with a new renewTime only."""
    elector = make_elector("pod-a")
    await elector.step()
    acquired = dict(lease_api.spec())
    version = lease_api.lease()["metadata"]["resourceVersion"]
    clock.advance(2.0)

    assert await elector.step() is True

    put = lease_api.seen[-1]
    assert put.method == "PUT"
    assert put.body is not None
    assert put.body["metadata"]["resourceVersion"] == version
    spec = lease_api.spec()
    assert spec["renewTime"] == micro_time(clock.wall()) != acquired["renewTime"]
    assert spec["acquireTime"] == acquired["acquireTime"]
    assert spec["leaseTransitions"] == 0


async def test_takeover_waits_a_full_lease_as_observed_locally(lease_api, make_elector, clock) -> None:
    """A follower takes over only after the Lease stayed unchanged for lease_duration on its own clock.

    The holder's renewTime is far in the past (a skewed node clock); that does not shorten the wait.
    """
    a, b = make_elector("pod-a"), make_elector("pod-b")
    await a.step()
    lease_api.spec()["renewTime"] = "2020-01-01T00:00:00.000000Z"  # skew: looks long expired
    clock.advance(30.0)  # time passes before b ever looks

    assert await b.step() is False  # first observation starts b's own timer
    clock.advance(9.9)
    assert await b.step() is False
    clock.advance(0.1)
    assert await b.step() is True

    spec = lease_api.spec()
    assert spec["holderIdentity"] == "pod-b"
    assert spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(clock.wall())


async def test_a_renewal_seen_by_the_follower_restarts_its_wait(lease_api, make_elector, clock) -> None:
    """Every change of the Lease record resets the follower's observation time."""
    a, b = make_elector("pod-a"), make_elector("pod-b")
    await a.step()
    await b.step()
    clock.advance(5.0)
    assert await a.step() is True  # renewal changes renewTime
    clock.advance(1.0)
    assert await b.step() is False  # sees the change now
    clock.advance(9.9)
    assert await b.step() is False
    clock.advance(0.1)
    assert await b.step() is True


@pytest.mark.parametrize(
    ("method", "status", "reason"),
    [
        pytest.param("PUT", 409, "conflict", id="put-conflict"),
        pytest.param("GET", 500, "server_error", id="get-5xx"),
        pytest.param("PUT", 503, "server_error", id="put-5xx"),
        pytest.param("GET", 429, "server_error", id="throttled"),
        pytest.param("GET", 403, "unauthorized", id="rbac"),
        pytest.param("PUT", 422, "rejected", id="invalid"),
    ],
)
async def test_errors_are_counted_and_retried_never_raised(
    lease_api, make_elector, clock, method: str, status: int, reason: str
) -> None:
    """A failed attempt counts its reason, keeps the role, and the next attempt succeeds."""
    metrics = SelfMetrics()
    a = make_elector("pod-a", metrics=metrics)
    await a.step()
    lease_api.fail_next(method, status)
    clock.advance(2.0)

    assert await a.step() is True  # still within renew_deadline: keeps leading
    assert _errors(metrics, reason) == 1
    clock.advance(2.0)
    assert await a.step() is True
    assert lease_api.spec()["renewTime"] == micro_time(clock.wall())


async def test_losing_a_create_race_leaves_a_follower(lease_api, make_elector) -> None:
    """409 on POST (another replica created the Lease first) is a lost race: follower, no exception."""
    metrics = SelfMetrics()
    b = make_elector("pod-b", metrics=metrics)
    lease_api.fail_next("POST", 409)

    assert await b.step() is False
    assert _errors(metrics, "conflict") == 1
    assert not b.is_leader


async def test_concurrent_campaigns_elect_exactly_one(lease_api, make_elector, clock) -> None:
    """Two followers that both see an expired Lease race their PUTs; resourceVersion lets only one win."""
    a, b, c = make_elector("pod-a"), make_elector("pod-b"), make_elector("pod-c")
    await a.step()
    await b.step()
    await c.step()
    clock.advance(10.0)  # pod-a stopped renewing; both followers observed the same record long enough

    results = await asyncio.gather(b.step(), c.step())

    assert sorted(results) == [False, True]
    winner = "pod-b" if results[0] else "pod-c"
    assert lease_api.spec()["holderIdentity"] == winner
    assert lease_api.spec()["leaseTransitions"] == 1


async def test_network_failure_is_a_counted_error(make_elector, clock, tmp_path: Path) -> None:
    """An unreachable API server gives a `network` error, not an exception out of the elector."""
    token = tmp_path / "t"
    token.write_text("x")
    metrics = SelfMetrics()
    elector = KubernetesElector(
        namespace="ns",
        lease_name="l",
        identity="pod-a",
        timings=LeaseTimings(10.0, 6.0, 2.0),
        api=ApiServer("http://127.0.0.1:9", token_path=token),
        metrics=metrics,
        clock=clock,
    )
    try:
        assert await elector.step() is False
        assert _errors(metrics, "network") == 1
    finally:
        await elector.close()


async def test_slow_api_server_is_a_timeout_not_a_hang(lease_api, make_elector) -> None:
    """An attempt is bounded by renew_deadline; an API server that does not answer counts a timeout."""
    metrics = SelfMetrics()
    elector = make_elector("pod-a", timings=LeaseTimings(0.4, 0.1, 0.05), metrics=metrics)
    lease_api.delay = 0.3

    assert await elector.step() is False
    assert _errors(metrics, "timeout") == 1


async def test_partitioned_leader_steps_down_before_the_follower_takes_over(
    lease_api, make_elector, clock
) -> None:
    """Cut off from the API server, the leader steps down at renew_deadline; the follower leads only
    after lease_duration, so at no instant do both lead."""
    changes: list[tuple[str, bool, float]] = []
    metrics = SelfMetrics()
    a, b = make_elector("pod-a", metrics=metrics), make_elector("pod-b")
    a.listen(lambda leader: changes.append(("pod-a", leader, clock.now)))
    b.listen(lambda leader: changes.append(("pod-b", leader, clock.now)))
    start = clock.now
    await a.step()
    await b.step()
    lease_api.failing_tokens["token-pod-a"] = 503

    both = []
    for _ in range(120):  # 12 s in 0.1 s steps
        clock.advance(0.1)
        await a.step()
        await b.step()
        both.append(a.is_leader and b.is_leader)

    assert not any(both)
    assert changes[0] == ("pod-a", True, start)
    lost = next(t for who, leader, t in changes if who == "pod-a" and not leader)
    won = next(t for who, leader, t in changes if who == "pod-b" and leader)
    assert lost - start == pytest.approx(6.0)  # renew_deadline
    assert won - start == pytest.approx(10.0)  # lease_duration, as pod-b observed it
    assert _errors(metrics, "renew_deadline") == 1
    assert _errors(metrics, "server_error") > 1


async def test_rotated_token_is_read_for_the_next_request(lease_api, make_elector, clock, tmp_path) -> None:
    """The service-account token is re-read per request, so a rotated projected token just works."""
    lease_api.tokens = {"token-pod-a"}
    metrics = SelfMetrics()
    a = make_elector("pod-a", metrics=metrics)
    await a.step()
    (tmp_path / "token-pod-a").write_text("rotated\n")
    lease_api.tokens = {"rotated"}
    clock.advance(2.0)

    assert await a.step() is True
    assert [s.token for s in lease_api.seen] == ["token-pod-a", "token-pod-a", "rotated", "rotated"]
    assert _errors(metrics, "unauthorized") == 0


async def test_unreadable_token_is_a_counted_error(lease_api, make_elector, tmp_path) -> None:
    """A missing token file fails the attempt with reason `token` (no request is sent)."""
    metrics = SelfMetrics()
    a = make_elector("pod-a", metrics=metrics)
    (tmp_path / "token-pod-a").unlink()

    assert await a.step() is False
    assert _errors(metrics, "token") == 1
    assert lease_api.seen == []


async def test_release_clears_the_holder_and_a_follower_takes_over_at_once(
    lease_api, make_elector, clock
) -> None:
    """release() empties holderIdentity; the next follower attempt acquires without waiting a lease."""
    a, b = make_elector("pod-a"), make_elector("pod-b")
    changes: list[bool] = []
    a.listen(changes.append)
    await a.step()
    await b.step()

    await a.release()

    assert changes == [True, False]
    assert lease_api.spec()["holderIdentity"] == ""
    assert await b.step() is True
    assert lease_api.spec()["holderIdentity"] == "pod-b"
    assert lease_api.spec()["leaseTransitions"] == 1
    assert await a.step() is False  # a released elector no longer campaigns


async def test_release_by_a_non_holder_leaves_the_lease_alone(lease_api, make_elector) -> None:
    """Releasing when another replica holds the Lease changes nothing."""
    a, b = make_elector("pod-a"), make_elector("pod-b")
    await a.step()
    await b.step()
    version = lease_api.lease()["metadata"]["resourceVersion"]

    await b.release()

    assert lease_api.spec()["holderIdentity"] == "pod-a"
    assert lease_api.lease()["metadata"]["resourceVersion"] == version


async def test_restarted_replica_with_the_same_identity_resumes_at_once(lease_api, make_elector) -> None:
    """A new process with the same pod name renews its predecessor's Lease without waiting for expiry."""
    await make_elector("pod-a").step()

    again = make_elector("pod-a")
    assert await again.step() is True
    assert lease_api.spec()["leaseTransitions"] == 0


async def test_run_leads_and_stops_leading_when_cancelled(lease_api, clock, tmp_path) -> None:
    """run() reports leadership through on_change; cancelling it reports the loss and re-raises."""
    token = tmp_path / "t"
    token.write_text("x")
    renewed = asyncio.Event()
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:  # after the acquisition and two renewals
            renewed.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)

    elector = KubernetesElector(
        namespace="monitoring",
        lease_name="gse-leader",
        identity="pod-a",
        timings=LeaseTimings(1.0, 0.6, 0.05),
        api=ApiServer(lease_api.base_url, token_path=token),
        clock=clock,
        sleep=sleep,
    )
    changes: list[bool] = []
    became = asyncio.Event()

    def on_change(leader: bool) -> None:
        changes.append(leader)
        became.set()

    task = asyncio.create_task(elector.run(on_change))
    try:
        await asyncio.wait_for(became.wait(), 2.0)
        await asyncio.wait_for(renewed.wait(), 2.0)
        assert elector.is_leader
        assert sum(s.method == "PUT" for s in lease_api.seen) >= 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await elector.close()
    assert changes == [True, False]


@pytest.mark.parametrize(
    ("host", "url"),
    [
        pytest.param("10.96.0.1", "https://10.96.0.1:443", id="ipv4"),
        pytest.param("fd00::1", "https://[fd00::1]:443", id="ipv6"),
    ],
)
def test_in_cluster_config_reads_service_env_and_account_files(tmp_path: Path, host: str, url: str) -> None:
    """In a pod the API address comes from KUBERNETES_SERVICE_HOST/PORT and the account's token and CA."""
    (tmp_path / "token").write_text("t")
    (tmp_path / "ca.crt").write_text("ca")
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443"}

    api = ApiServer.in_cluster(env, tmp_path)

    assert api == ApiServer(url, tmp_path / "token", tmp_path / "ca.crt")


@pytest.mark.parametrize(
    ("env", "files", "needle"),
    [
        pytest.param({}, ("token", "ca.crt"), "KUBERNETES_SERVICE_HOST", id="not-in-a-pod"),
        pytest.param(
            {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
            ("ca.crt",),
            "token",
            id="no-token",
        ),
        pytest.param(
            {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
            ("token",),
            "CA certificate",
            id="no-ca",
        ),
    ],
)
def test_in_cluster_config_refuses_to_guess(
    tmp_path: Path, env: dict[str, str], files: tuple[str, ...], needle: str
) -> None:
    """Outside a pod or without the account files the elector fails at startup, never as a static leader."""
    for name in files:
        (tmp_path / name).write_text("x")
    with pytest.raises(ElectorSetupError, match=needle):
        ApiServer.in_cluster(env, tmp_path)
