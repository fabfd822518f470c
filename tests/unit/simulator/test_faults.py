"""Tests for fault injection: counted rules, path regexes, seeded probability, rate-limit faults, hangs, bad bodies."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultInjector, FaultRule
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import WorldSpec


async def test_status_fault_applies_only_times_times(sim: Simulator, api: Any) -> None:
    """A rule with times=2 fails the next two matching requests, then the endpoint recovers."""
    sim.faults.add(FaultRule("list_commits", "status", status=502, times=2))
    statuses = [(await api.get("/repos/acme/monorepo/commits"))[0] for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert (await api.get("/repos/acme/monorepo/pulls"))[0] == 200
    assert sim.stats.requests["list_commits", 502] == 2
    assert sim.faults.rules == ()


async def test_path_regex_rule_matches_only_that_path(sim: Simulator, api: Any) -> None:
    """A regex endpoint hits only requests whose path matches; clear() removes every rule."""
    sim.faults.add(FaultRule(r"^/repos/acme/monorepo/", "status", status=500))
    assert (await api.get("/repos/acme/monorepo/pulls"))[0] == 500
    assert (await api.get("/repos/acme/docs-site/pulls"))[0] == 200
    sim.faults.clear()
    assert (await api.get("/repos/acme/monorepo/pulls"))[0] == 200


async def test_secondary_limit_fault_has_message_and_retry_after(sim: Simulator, api: Any) -> None:
    """The secondary-limit fault is a 403 with GitHub's text and Retry-After, and spends no budget."""
    sim.faults.add(FaultRule("list_pulls", "secondary_403", retry_after="30", times=1))
    status, body, headers = await api.get("/repos/acme/monorepo/pulls")
    assert status == 403
    assert headers["Retry-After"] == "30"
    assert body["message"].startswith("You have exceeded a secondary rate limit")
    assert body["documentation_url"].endswith("#about-secondary-rate-limits")
    assert int(headers["x-ratelimit-remaining"]) > 0
    assert sim.stats.rate_limited() == 0


async def test_rate_limit_429_fault_reports_zero_remaining(sim: Simulator, api: Any, clock: SimClock) -> None:
    """The 429 fault looks like an exhausted primary limit: remaining 0, reset at now + Retry-After."""
    sim.faults.add(FaultRule("list_pulls", "rate_limit_429", retry_after="120", times=1))
    status, body, headers = await api.get("/repos/acme/monorepo/pulls")
    assert (status, headers["x-ratelimit-remaining"], headers["Retry-After"]) == (429, "0", "120")
    assert headers["x-ratelimit-reset"] == str(int(clock.now() + 120))
    assert "rate limit exceeded" in body["message"]


def test_probability_draws_repeat_for_the_same_seed() -> None:
    """With probability 0.5 the same seed picks the same requests to fail."""

    def pattern(seed: int) -> list[bool]:
        faults = FaultInjector(seed)
        faults.add(FaultRule(None, "status", probability=0.5))
        return [faults.pick("list_pulls", "/x") is not None for _ in range(40)]

    assert pattern(1) == pattern(1)
    assert 5 < sum(pattern(1)) < 35
    assert pattern(1) != pattern(2)


async def test_latency_fault_delays_but_answers(sim: Simulator, api: Any) -> None:
    """A latency fault answers normally after the delay."""
    sim.faults.add(FaultRule("list_pulls", "latency", delay_s=0.1, times=1))
    started = time.perf_counter()
    assert (await api.get("/repos/acme/monorepo/pulls"))[0] == 200
    assert time.perf_counter() - started >= 0.1


async def test_timeout_fault_holds_until_the_client_gives_up_and_stop_is_prompt(
    sim: Simulator, api: Any
) -> None:
    """A timeout fault never answers in time; the client's own timeout fires and stopping the simulator does not wait."""
    sim.faults.add(FaultRule("list_pulls", "timeout", delay_s=60))
    with pytest.raises(asyncio.TimeoutError):
        async with api.http.get(
            f"{sim.api_url}/repos/acme/monorepo/pulls",
            headers={"Authorization": f"token {api.token}"},
            timeout=aiohttp.ClientTimeout(total=0.1),
        ):
            pass
    started = time.perf_counter()
    await sim.stop()
    assert time.perf_counter() - started < 3.0


async def test_short_timeout_fault_answers_504(sim: Simulator, api: Any) -> None:
    """When the hold ends before the client gives up, the answer is GitHub's 504 timeout."""
    sim.faults.add(FaultRule("list_pulls", "timeout", delay_s=0.05, times=1))
    status, body, _ = await api.get("/repos/acme/monorepo/pulls")
    assert status == 504
    assert "in time" in body["message"]


@pytest.mark.parametrize(
    "kind", [pytest.param("truncate", id="truncate"), pytest.param("malformed", id="malformed")]
)
async def test_body_faults_make_json_unparseable(sim: Simulator, api: Any, kind: Any) -> None:
    """Truncated or malformed API bodies arrive with status 200 and consistent headers but do not parse."""
    sim.faults.add(FaultRule("list_pulls", kind, times=1))
    async with api.http.get(
        f"{sim.api_url}/repos/acme/monorepo/pulls", headers={"Authorization": f"token {api.token}"}
    ) as resp:
        raw = await resp.read()
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(len(raw))  # cut on the way, not a broken transfer
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "ETag" in resp.headers
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_faults_hit_before_authentication(
    clock: SimClock, make_spec: Callable[[], WorldSpec], api_for: Callable[[Simulator], Any]
) -> None:
    """A 5xx fault answers even unauthenticated requests, as an outage in front of GitHub would."""
    async with Simulator(make_spec(), clock=clock) as sim:
        sim.faults.add(FaultRule(None, "status", status=503, times=1))
        api = api_for(sim)
        assert (await api.get("/orgs/acme/repos", token=None))[0] == 503
