"""Leader election: which replica runs scheduled collection (static role, Kubernetes Lease, Redis lease).

Import the adapters from their modules (`leader.kubernetes`, `leader.redis`) so a run that does not use
them never imports aiohttp's client or redis; this package re-exports only the port and the static role.
"""

from __future__ import annotations

from github_stats_exporter.leader.base import Elector, LeaseError, LeaseLock
from github_stats_exporter.leader.static import StaticElector

__all__ = ["Elector", "LeaseError", "LeaseLock", "StaticElector"]
