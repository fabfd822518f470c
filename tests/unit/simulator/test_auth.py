"""Tests for App authentication: JWT rules on the simulated clock, installation tokens and their expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.server import Simulator


def app_jwt(
    private_pem: str, now: float, *, iss: int = 11, iat_delta: float = -60, exp_delta: float = 540
) -> str:
    return jwt.encode(
        {"iat": int(now + iat_delta), "exp": int(now + exp_delta), "iss": str(iss)}, private_pem, "RS256"
    )


async def exchange(api: Any, installation: int, token: str) -> tuple[int, Any]:
    async with api.http.post(
        f"{api.base}/app/installations/{installation}/access_tokens",
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def registered(sim: Simulator, app_keys: tuple[str, str]) -> str:
    """Registers App 11 (installation 21 on acme) and App 13 (the enterprise's) with the session key; returns its private PEM."""
    sim.add_app(11, app_keys[1])
    sim.add_app(13, app_keys[1])
    return app_keys[0]


async def test_valid_jwt_gets_a_one_hour_installation_token(
    sim: Simulator, api: Any, registered: str, clock: SimClock
) -> None:
    """A correct JWT yields 201 with a ghs_ token expiring an hour later, which reads the installation's org."""
    status, body = await exchange(api, 21, app_jwt(registered, clock.now()))
    assert status == 201
    assert body["token"].startswith("ghs_")
    assert datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) == datetime.fromtimestamp(
        int(clock.now()) + 3600, UTC
    )
    assert body["repository_selection"] == "all"
    assert body["permissions"]
    status, repos, _ = await api.get("/installation/repositories", token=body["token"])
    assert status == 200
    assert repos["total_count"] == 8
    assert {r["owner"]["login"] for r in repos["repositories"]} == {"acme"}
    assert (await api.get("/orgs/globex/repos", token=body["token"]))[0] == 404


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"exp_delta": 660}, "'Expiration time' claim ('exp') is too far in the future", id="exp-too-far"
        ),
        pytest.param(
            {"iat_delta": -700, "exp_delta": -100},
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            id="expired",
        ),
        pytest.param(
            {"iat_delta": 120, "exp_delta": 500},
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            id="iat-in-future",
        ),
    ],
)
async def test_jwt_time_claims_are_checked_on_the_sim_clock(
    sim: Simulator, api: Any, registered: str, clock: SimClock, kwargs: dict[str, Any], message: str
) -> None:
    """JWTs that expired, live longer than 10 minutes or were issued in the future get 401 with GitHub's text."""
    status, body = await exchange(api, 21, app_jwt(registered, clock.now(), **kwargs))
    assert (status, body["message"]) == (401, message)


async def test_jwt_signed_with_another_key_is_rejected(
    sim: Simulator, api: Any, registered: str, other_keys: tuple[str, str], clock: SimClock
) -> None:
    """A JWT signed by a key other than the App's registered one cannot be decoded."""
    status, body = await exchange(api, 21, app_jwt(other_keys[0], clock.now()))
    assert (status, body["message"]) == (401, "A JSON web token could not be decoded")


async def test_installation_of_another_app_is_not_found(
    sim: Simulator, api: Any, registered: str, clock: SimClock
) -> None:
    """App 11 cannot mint tokens for globex's installation 22 (owned by App 12)."""
    status, _ = await exchange(api, 22, app_jwt(registered, clock.now()))
    assert status == 404


async def test_installation_token_expires_after_an_hour(
    sim: Simulator, api: Any, registered: str, clock: SimClock
) -> None:
    """Once the sim clock passes expires_at the token is "Bad credentials"."""
    _, body = await exchange(api, 21, app_jwt(registered, clock.now()))
    assert (await api.get("/orgs/acme/repos", token=body["token"]))[0] == 200
    clock.advance(3600)
    status, err, _ = await api.get("/orgs/acme/repos", token=body["token"])
    assert (status, err["message"]) == (401, "Bad credentials")


async def test_enterprise_installation_reads_enterprise_reports_only(
    sim: Simulator, api: Any, registered: str, clock: SimClock
) -> None:
    """The enterprise installation's token reaches enterprise report links but no org data."""
    _, body = await exchange(api, 23, app_jwt(registered, clock.now(), iss=13))
    token = body["token"]
    status, _, _ = await api.get(
        "/enterprises/ent/copilot/metrics/reports/enterprise-28-day/latest", token=token
    )
    assert status == 200
    assert (await api.get("/orgs/acme/repos", token=token))[0] == 404
    assert (
        await api.get("/enterprises/other/copilot/metrics/reports/enterprise-28-day/latest", token=token)
    )[0] == 404


async def test_access_token_requests_are_counted_and_free(
    sim: Simulator, api: Any, registered: str, clock: SimClock
) -> None:
    """Token exchanges appear in the request counter and use no rate-limit budget."""
    await exchange(api, 21, app_jwt(registered, clock.now()))
    await exchange(api, 21, "not-a-jwt")
    assert sim.stats.requests["access_token", 201] == 1
    assert sim.stats.requests["access_token", 401] == 1
    assert sim.stats.rate_limited() == 0


@pytest.mark.parametrize(
    "kind", [pytest.param("truncate", id="truncate"), pytest.param("malformed", id="malformed")]
)
async def test_body_faults_garble_the_token_grant(
    sim: Simulator, api: Any, registered: str, clock: SimClock, kind: Any
) -> None:
    """A body fault on the token exchange answers 201 with a grant that does not parse; the next one is whole."""
    sim.faults.add(FaultRule("access_token", kind, times=1))
    token = app_jwt(registered, clock.now())
    async with api.http.post(
        f"{api.base}/app/installations/21/access_tokens", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        raw = await resp.read()
    assert resp.status == 201
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    status, body = await exchange(api, 21, token)
    assert status == 201
    assert body["token"].startswith("ghs_")
