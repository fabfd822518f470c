"""The knobs that define a simulated world: organizations, their App installations, an enterprise, rates.

Plain frozen values only; generating data from them is `generator.py`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400
SPECIAL_REPO_KINDS = ("archived", "disabled", "empty", "huge", "no_prs", "idle")
"""Kinds of the special repos, in the order they take the first repo slots of an org."""


@dataclass(frozen=True, slots=True)
class OrgSpec:
    """One organization: how many repos and users, and the App installation that can read it.

    With ``special_repos`` the first repos are the special cases (archived, disabled, empty, huge,
    no PRs, idle); ``repos`` counts them too, so it must be at least 6 in that case.
    """

    name: str
    repos: int = 12
    users: int = 15
    app_id: int = 1001
    installation_id: int = 2001
    special_repos: bool = True

    def __post_init__(self) -> None:
        if self.special_repos and self.repos < len(SPECIAL_REPO_KINDS):
            msg = f"org {self.name!r} needs at least {len(SPECIAL_REPO_KINDS)} repos to hold the special ones"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class EnterpriseSpec:
    """An enterprise owning some of the orgs, with its own App installation for the enterprise reports."""

    slug: str
    app_id: int
    installation_id: int
    orgs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """Everything needed to rebuild the same world: the seed, the orgs, the time span and the activity rates.

    Events exist from ``start - history_days`` to ``start + future_days``; rates are per repo per day
    before each repo's own activity factor (0.2 to 2.0) is applied.
    """

    seed: int = 42
    orgs: tuple[OrgSpec, ...] = (OrgSpec("acme-corp"),)
    enterprise: EnterpriseSpec | None = None
    start: float = 1_780_000_000.0
    history_days: int = 35
    future_days: int = 7
    commits_per_day: float = 8.0
    prs_per_day: float = 5.0
    issues_per_day: float = 1.5
    comments_per_thread: float = 1.2
    reviews_per_pr: float = 1.4

    def org(self, name: str) -> OrgSpec:
        for org in self.orgs:
            if org.name.lower() == name.lower():
                return org
        msg = f"no org {name!r} in this world"
        raise KeyError(msg)

    @property
    def first_event_time(self) -> float:
        return self.start - self.history_days * DAY

    @property
    def last_event_time(self) -> float:
        return self.start + self.future_days * DAY


def demo_spec(start: float, *, seed: int = 42) -> WorldSpec:
    """The demo world: "acme-corp" (12 repos) and "globex" (8 repos), every special repo, an enterprise."""
    return WorldSpec(
        seed=seed,
        orgs=(
            OrgSpec("acme-corp", repos=12, users=18, app_id=1001, installation_id=2001),
            OrgSpec("globex", repos=8, users=10, app_id=1001, installation_id=2002),
        ),
        enterprise=EnterpriseSpec(
            "acme-enterprise", app_id=1002, installation_id=2003, orgs=("acme-corp", "globex")
        ),
        start=start,
    )
