"""The simulated world: orgs, users, repos and installations, with each repo's events built lazily on first use.

It knows everything (the truth is computed from it) but nothing about HTTP, tokens or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from github_stats_exporter.simulator.entities import Actor, RepoData, RepoInfo
from github_stats_exporter.simulator.generator import build_repo, org_repos, org_users
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec


@dataclass(frozen=True, slots=True)
class Installation:
    """An App installation: on one org, or (``enterprise`` set) on an enterprise."""

    installation_id: int
    app_id: int
    org: str | None
    enterprise: str | None


class World:
    """Deterministic data for every org of a :class:`WorldSpec`; repos are generated on first access and cached."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self._orgs: dict[str, OrgSpec] = {o.name.lower(): o for o in spec.orgs}
        self._users: dict[str, tuple[Actor, ...]] = {}
        self._repos: dict[str, dict[str, RepoInfo]] = {}
        self._data: dict[tuple[str, str], RepoData] = {}
        self.installations: dict[int, Installation] = {
            o.installation_id: Installation(o.installation_id, o.app_id, o.name, None) for o in spec.orgs
        }
        if spec.enterprise is not None:
            e = spec.enterprise
            self.installations[e.installation_id] = Installation(e.installation_id, e.app_id, None, e.slug)

    @property
    def org_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.spec.orgs)

    def org_spec(self, org: str) -> OrgSpec | None:
        """The org's spec, looked up case-insensitively as GitHub does."""
        return self._orgs.get(org.lower())

    def users(self, org: str) -> tuple[Actor, ...]:
        spec = self._orgs[org.lower()]
        if spec.name not in self._users:
            self._users[spec.name] = org_users(self.spec, spec)
        return self._users[spec.name]

    def repos(self, org: str) -> tuple[RepoInfo, ...]:
        return tuple(self._repo_map(org).values())

    def repo_info(self, org: str, name: str) -> RepoInfo | None:
        if org.lower() not in self._orgs:
            return None
        return self._repo_map(org).get(name.lower())

    def repo(self, org: str, name: str) -> RepoData:
        """All events of one repo (built on first call, then cached)."""
        info = self.repo_info(org, name)
        if info is None:
            msg = f"no repo {org}/{name} in this world"
            raise KeyError(msg)
        return self.data(info)

    def data(self, info: RepoInfo) -> RepoData:
        """All events of a repo already looked up (built on first call, then cached)."""
        key = (info.org, info.name)
        data = self._data.get(key)
        if data is None:
            data = build_repo(self.spec, info, self.users(info.org))
            self._data[key] = data
        return data

    @property
    def built_repos(self) -> int:
        """How many repos have had their events generated so far (the rest build on first use)."""
        return len(self._data)

    def build_all(self) -> None:
        """Generate every repo now (benchmarks use it so the first cycle does not pay for generation)."""
        for org in self.org_names:
            for info in self.repos(org):
                self.repo(org, info.name)

    def enterprise_orgs(self) -> tuple[str, ...]:
        e = self.spec.enterprise
        if e is None:
            return ()
        return e.orgs or self.org_names

    def _repo_map(self, org: str) -> dict[str, RepoInfo]:
        spec = self._orgs[org.lower()]
        if spec.name not in self._repos:
            self._repos[spec.name] = {r.name.lower(): r for r in org_repos(self.spec, spec)}
        return self._repos[spec.name]
