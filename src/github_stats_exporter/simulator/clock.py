"""The simulator's clock: real time shifted by an offset, or a frozen instant that tests move by hand.

It only tells time; it must not sleep or schedule anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """Unix time for the simulated GitHub, either following the wall clock or frozen.

    ``SimClock()`` follows real time; ``SimClock(frozen_at=t)`` stays at ``t`` until moved with
    :meth:`advance` or :meth:`set`. A following clock moves by shifting its offset, so the world
    can be jumped forward hours while requests keep their real-time spacing.
    """

    def __init__(
        self,
        *,
        frozen_at: float | None = None,
        offset: float = 0.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._wall = wall
        self._frozen = frozen_at
        self._offset = offset

    @classmethod
    def starting_at(cls, t: float, *, wall: Callable[[], float] = time.time) -> SimClock:
        """A clock that reads ``t`` now and then runs at real speed."""
        return cls(offset=t - wall(), wall=wall)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def now(self) -> float:
        if self._frozen is not None:
            return self._frozen
        return self._wall() + self._offset

    def advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds

    def set(self, t: float) -> None:
        if self._frozen is not None:
            self._frozen = t
        else:
            self._offset = t - self._wall()
