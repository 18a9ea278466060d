"""Constants and types shared by the alert store tests (conftest holds the fixtures)."""

from collections.abc import Callable

from alertstore import Recorded

T0 = 1_767_225_600_000  # FakeClock's start: 2026-01-01T00:00Z
ALERT = f"outlet-socket-overheat:wmq-01/outlet-03@{T0}"

Engine = Callable[..., Recorded]
