"""Health verdicts as `Health.set` keeps them, for collectors under test (through `FoldedHealth`)."""

from __future__ import annotations


class HealthStates:
    """name → (healthy, detail) of every component set; fills ``states`` when one is given."""

    def __init__(self, states: dict[str, tuple[bool, str]] | None = None) -> None:
        self.states: dict[str, tuple[bool, str]] = {} if states is None else states

    def set(self, name: str, healthy: bool, detail: str = "") -> None:
        self.states[name] = (healthy, detail)
