"""The static role, identity defaults and the leader_election config rules."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from github_stats_exporter.config import ConfigError, Settings, parse_config
from github_stats_exporter.leader.identity import default_identity
from github_stats_exporter.leader.static import StaticElector, role_from_environment
from github_stats_exporter.metrics import LEADER_TRANSITIONS
from github_stats_exporter.selfmetrics import SelfMetrics

ENV = {"GH_TOKEN": "ghp_exampletoken"}


@pytest.mark.parametrize(
    ("environ", "leader"),
    [
        pytest.param({}, True, id="unset"),
        pytest.param({"GITHUB_STATS_INITIAL_ROLE": "follower"}, False, id="follower"),
        pytest.param({"GITHUB_STATS_INITIAL_ROLE": " Follower "}, False, id="case-and-space"),
        pytest.param({"GITHUB_STATS_INITIAL_ROLE": "leader"}, True, id="leader"),
        pytest.param({"GITHUB_STATS_INITIAL_ROLE": "banana"}, True, id="anything-else"),
    ],
)
def test_role_from_environment_matches_the_go_rule(environ: dict[str, str], leader: bool) -> None:
    """Only GITHUB_STATS_INITIAL_ROLE=follower makes a follower, as in the Go exporter."""
    assert role_from_environment(environ) is leader


@pytest.mark.parametrize("leader", [True, False])
async def test_static_elector_reports_its_role_once_and_waits(leader: bool) -> None:
    """run() announces the fixed role, then blocks until cancelled; release is a no-op."""
    metrics = SelfMetrics()
    elector = StaticElector(leader, identity="me", metrics=metrics)
    changes: list[bool] = []
    task = asyncio.create_task(elector.run(changes.append))
    await asyncio.sleep(0.01)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await elector.release()

    assert changes == [leader]
    assert elector.is_leader is leader
    assert elector.transitions == int(leader)
    assert metrics.value(LEADER_TRANSITIONS) == int(leader)


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        pytest.param("given", {"HOSTNAME": "pod-1"}, "given", id="configured-wins"),
        pytest.param("", {"HOSTNAME": "pod-1"}, "pod-1", id="hostname-env"),
        pytest.param("", {}, f"{socket.gethostname()}-{os.getpid()}", id="host-and-pid"),
    ],
)
def test_default_identity(configured: str, environ: dict[str, str], expected: str) -> None:
    """Identity: configured value, else $HOSTNAME (pod name), else host name plus pid."""
    assert default_identity(configured, environ) == expected


def _settings(leader: dict[str, object], store: dict[str, object] | None = None) -> Settings:
    data: dict[str, object] = {
        "github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]},
        "leader_election": leader,
    }
    if store is not None:
        data["store"] = store
    return parse_config(data, environ=ENV)


def test_backend_and_identity_defaults_keep_go_behaviour() -> None:
    """Without the new keys the backend is kubernetes and the identity comes from the environment."""
    election = _settings({}).leader_election
    assert (election.backend, election.identity) == ("kubernetes", "")


@pytest.mark.parametrize(
    ("leader", "store", "path", "needle"),
    [
        pytest.param(
            {"enabled": True, "backend": "redis"},
            None,
            "leader_election.backend",
            "'redis' needs store.backend: redis",
            id="redis-needs-redis-store",
        ),
        pytest.param(
            {"enabled": True, "backend": "etcd"},
            None,
            "leader_election.backend",
            "use one of 'kubernetes' or 'redis'",
            id="backend-enum",
        ),
        pytest.param(
            {"enabled": True},
            None,
            "leader_election.namespace",
            "is required when leader_election.enabled is true and backend is kubernetes",
            id="kubernetes-needs-namespace",
        ),
        pytest.param(
            {"identity": " pod "},
            None,
            "leader_election.identity",
            "without surrounding spaces",
            id="identity-spaces",
        ),
    ],
)
def test_leader_election_rules(
    leader: dict[str, object], store: dict[str, object] | None, path: str, needle: str
) -> None:
    """Each rule names its field and says what is allowed."""
    with pytest.raises(ConfigError) as info:
        _settings(leader, store)
    problems = {p.path: p.message for p in info.value.problems}
    assert path in problems, problems
    assert needle in problems[path]


@pytest.mark.parametrize(
    ("leader", "store"),
    [
        pytest.param(
            {"enabled": True, "backend": "redis"}, {"backend": "redis"}, id="redis-without-namespace"
        ),
        pytest.param({"enabled": False, "backend": "redis"}, None, id="disabled-redis-on-memory-store"),
        pytest.param({"enabled": True, "namespace": "ns", "identity": "pod-7"}, None, id="kubernetes"),
    ],
)
def test_valid_leader_election_settings_load(
    leader: dict[str, object], store: dict[str, object] | None
) -> None:
    """Combinations that satisfy the rules load."""
    assert isinstance(_settings(leader, store), Settings)
