"""Clocks. Time is injected everywhere so tests never sleep to make time pass.

- `SystemClock`: wall time.
- `SimulatedClock`: starts at a given instant and runs `speed` times faster than the
  wall clock (fast-forward simulations and demos).
- `FakeClock`: moves only when a test calls `advance()`.
"""

import os
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time, epoch ms UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` of this clock's time pass (or until `wake()`)."""
        ...


class SystemClock:
    def __init__(self) -> None:
        self._wake = threading.Event()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        self._wake.wait(max(0.0, seconds))

    def wake(self) -> None:
        self._wake.set()


class SimulatedClock:
    def __init__(
        self, speed: float = 1.0, start_ms: int | None = None, *, anchor_wall_ms: int | None = None
    ) -> None:
        """`anchor_wall_ms`: simulated time is `start_ms` at that wall-clock instant, so
        that several processes given the same anchor agree on the time (the demo's
        simulator, collector and API at SPEED=60). Without it, time starts now."""
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._start_ms = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        self._anchor_wall_ms = anchor_wall_ms
        self._t0 = time.monotonic()
        self._wake = threading.Event()

    def now_ms(self) -> int:
        if self._anchor_wall_ms is not None:
            wall = time.time_ns() // 1_000_000
            return self._start_ms + int((wall - self._anchor_wall_ms) * self.speed)
        return self._start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)

    def sleep(self, seconds: float) -> None:
        self._wake.wait(max(0.0, seconds / self.speed))

    def wake(self) -> None:
        """Interrupt sleeps (used on shutdown)."""
        self._wake.set()


class FakeClock:
    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00Z
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1000)


CLOCK_SPEED_ENV = "WARMNET_CLOCK_SPEED"
CLOCK_ANCHOR_ENV = "WARMNET_CLOCK_ANCHOR_MS"


def shared_clock_env(speed: float, anchor_ms: int) -> dict[str, str]:
    """Environment that makes `clock_from_env()` in every child process return the same
    fast clock: simulated time equals wall time at `anchor_ms`, then runs `speed`x."""
    return {CLOCK_SPEED_ENV: repr(speed), CLOCK_ANCHOR_ENV: str(anchor_ms)}


def clock_from_env() -> SystemClock | SimulatedClock:
    """The process clock: wall time, unless the demo shares a fast clock."""
    speed = os.environ.get(CLOCK_SPEED_ENV)
    anchor = os.environ.get(CLOCK_ANCHOR_ENV)
    if speed is None or anchor is None:
        return SystemClock()
    return SimulatedClock(float(speed), int(anchor), anchor_wall_ms=int(anchor))
