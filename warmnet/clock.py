"""Clocks. Time is injected everywhere so tests never sleep to make time pass.

- `SystemClock`: wall time.
- `SimulatedClock`: starts at a given instant and runs `speed` times faster than the
  wall clock (fast-forward simulations and demos).
- `FakeClock`: moves only when a test calls `advance()`.
"""

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
    def __init__(self, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._start_ms = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        self._t0 = time.monotonic()
        self._wake = threading.Event()

    def now_ms(self) -> int:
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
