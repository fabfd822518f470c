"""The leader-election ports: `Elector` (what the app runs), `LeaseLock` (one lease backend) and
`UnitLeases` (membership and work-unit leases of sharded collection).

Only protocols and the one expected failure live here; no I/O, no timing policy (that is `lease.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.store.base import UnitLeaseStore


class LeaseError(ExporterError):
    """A lease attempt failed for a reason worth retrying (network, 5xx, 409, Redis down, ...).

    ``reason`` is a short fixed word used as the `reason` label of
    `gh_exporter_leader_election_errors_total`; it never carries a token or an address.
    """

    def __init__(self, detail: str, *, reason: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Elector(Protocol):
    """Decides whether this replica leads; leadership gates scheduled work, never the process."""

    @property
    def identity(self) -> str:
        """This replica's name in the lease."""
        ...

    @property
    def is_leader(self) -> bool:
        """True while this replica holds leadership (and has renewed it within the renew deadline)."""
        ...

    @property
    def transitions(self) -> int:
        """How many times this replica became the leader."""
        ...

    async def run(self, on_change: Callable[[bool], None]) -> None:
        """Campaign and renew until cancelled; call ``on_change`` with the new role on every change.

        Transient failures never end it. When cancelled while leading it reports ``on_change(False)``
        (nobody renews any more) and re-raises the cancellation.
        """
        ...

    async def release(self) -> None:
        """Give the lease up if this replica holds it, so a follower need not wait for it to expire."""
        ...

    async def close(self) -> None:
        """Free connections; call after `release`."""
        ...


class LeaseLock(Protocol):
    """One lease record in a shared system; `LeaseElector` drives it and owns all timing decisions."""

    async def try_acquire_or_renew(self, now: float, leading: bool) -> bool:
        """One attempt: True when this replica holds the lease afterwards, False when another one does.

        ``now`` is the elector's monotonic clock at the start of the attempt (before any request is
        sent); ``leading`` says whether this is a renewal (True) or a campaign, which starts a new term
        even when the lease still names this replica. Expected failures raise `LeaseError`.
        """
        ...

    async def release(self) -> bool:
        """Give the lease up if this replica holds it; True when it did. Failures raise `LeaseError`."""
        ...

    async def close(self) -> None:
        """Free connections."""
        ...


UnitLeases = UnitLeaseStore
"""Who is live and who holds which work unit in sharded collection (docs/scaling.md): one port, two
implementations, the store's Redis (`store.base.UnitLeaseStore`, where the methods are declared) and
Kubernetes Leases (`leader.kubernetes_units.KubernetesUnitLeases`)."""
