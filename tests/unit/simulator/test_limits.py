"""Tests for primary rate-limit accounting: headers, free endpoints, exhaustion and the hourly window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.ratelimit import RateLimiter
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import WorldSpec


async def test_counted_responses_carry_rate_limit_headers(sim: Simulator, api: Any, clock: SimClock) -> None:
    """Each counted request lowers remaining by one; reset is an hour after first use; resource is core."""
    first = (await api.get("/orgs/acme/repos"))[2]
    clock.advance(10)
    second = (await api.get("/repos/acme/monorepo/pulls"))[2]
    assert first["x-ratelimit-limit"] == "5000"
    assert first["x-ratelimit-resource"] == "core"
    assert (first["x-ratelimit-remaining"], second["x-ratelimit-remaining"]) == ("4999", "4998")
    assert second["x-ratelimit-used"] == "2"
    assert first["x-ratelimit-reset"] == second["x-ratelimit-reset"] == str(int(clock.now() - 10) + 3600)


async def test_rate_limit_endpoint_is_free(sim: Simulator, api: Any) -> None:
    """GET /rate_limit reports the budget without spending it."""
    await api.get("/orgs/acme/repos")
    for _ in range(3):
        status, body, _ = await api.get("/rate_limit")
        assert status == 200
        assert body["resources"]["core"]["remaining"] == 4999
    assert sim.stats.rate_limited() == 1
    assert sim.stats.requests["rate_limit", 200] == 3
    sim.stats.reset()
    assert (sim.stats.rate_limited(), sim.stats.total()) == (0, 0)


@pytest.mark.parametrize("status", [pytest.param(403, id="403"), pytest.param(429, id="429")])
async def test_exhausted_budget_is_refused_until_the_window_resets(
    clock: SimClock, make_spec: Callable[[], WorldSpec], api_for: Callable[[Simulator], Any], status: int
) -> None:
    """After `limit` requests GitHub's message comes back with remaining 0; an hour later the budget is full again."""
    async with Simulator(make_spec(), clock=clock, rate_limit=2, rate_limit_status=status) as sim:
        sim.add_token("pat", ["acme"])
        api = api_for(sim)
        api.token = "pat"
        assert [(await api.get("/orgs/acme/repos"))[0] for _ in range(2)] == [200, 200]
        got, body, headers = await api.get("/orgs/acme/repos")
        assert got == status
        assert body["message"].startswith("API rate limit exceeded for user ID")
        assert headers["x-ratelimit-remaining"] == "0"
        assert sim.stats.rate_limited("acme") == 2
        clock.advance(3600)
        got, _, headers = await api.get("/orgs/acme/repos")
        assert (got, headers["x-ratelimit-remaining"]) == (200, "1")


async def test_installation_budget_names_the_installation(
    clock: SimClock,
    make_spec: Callable[[], WorldSpec],
    api_for: Callable[[Simulator], Any],
    app_keys: tuple[str, str],
) -> None:
    """An installation's exhausted budget says "API rate limit exceeded for installation ID N."."""
    async with Simulator(make_spec(), clock=clock, rate_limit=1) as sim:
        sim.add_app(11, app_keys[1])
        api = api_for(sim)
        now = int(clock.now())
        token_jwt = jwt.encode({"iat": now - 60, "exp": now + 500, "iss": "11"}, app_keys[0], "RS256")
        async with api.http.post(
            f"{sim.api_url}/app/installations/21/access_tokens",
            headers={"Authorization": f"Bearer {token_jwt}"},
        ) as resp:
            api.token = (await resp.json())["token"]
        await api.get("/orgs/acme/repos")
        status, body, _ = await api.get("/orgs/acme/repos")
        assert (status, body["message"]) == (403, "API rate limit exceeded for installation ID 21.")
        assert "documentation_url" in body


def test_limiter_windows_are_per_principal() -> None:
    """Two principals have independent budgets; peek never spends."""
    limiter = RateLimiter(limit=2)
    limiter.consume("a", 100.0)
    limiter.consume("a", 101.0)
    assert limiter.exhausted("a", 102.0)
    assert not limiter.exhausted("b", 102.0)
    assert limiter.peek("b", 102.0).remaining == 2
    assert limiter.peek("a", 3700.0).remaining == 2
