"""`Deadline`: the one moment by which a whole call must have answered.

A call's ``timeout`` bounds everything it waits for (the baseline, every server, the import
graph, a stand-in): each wait takes what is left of one `Deadline`, never a fresh timeout of
its own, so a call cannot take two or three times the timeout it was given.
"""

from __future__ import annotations

import time


class Deadline:
    """``seconds`` from now, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self._end = self.started + seconds

    def __repr__(self) -> str:
        return f"<Deadline {self.seconds:g} s, {self.remaining():.2f} s left>"

    def remaining(self) -> float:
        """Seconds left (0 once it has passed)."""
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def elapsed(self) -> float:
        """Seconds since the call began."""
        return time.monotonic() - self.started

    def describe(self) -> str:
        """How a reason names it: "the call's 3 s deadline"."""
        return f"the call's {self.seconds:g} s deadline"
