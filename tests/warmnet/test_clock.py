"""Clocks: the fake one moves only when told; the simulated one runs `speed` times
faster than the wall clock."""

import threading
import time

import pytest

from warmnet.clock import Clock, FakeClock, SimulatedClock, SystemClock, clock_from_env

START = 1_767_225_600_000  # 2026-01-01T00:00Z


def test_fake_clock_starts_where_told_and_stands_still() -> None:
    clock = FakeClock(START)

    assert clock.now_ms() == START
    assert clock.now_ms() == START


def test_fake_clock_default_start_is_2026() -> None:
    assert FakeClock().now_ms() == START


def test_fake_clock_advances_only_when_told() -> None:
    clock = FakeClock(START)

    clock.advance(1.5)
    assert clock.now_ms() == START + 1_500
    clock.advance(3600)
    assert clock.now_ms() == START + 1_500 + 3_600_000


def test_fake_clock_sleep_advances_time_without_waiting() -> None:
    clock = FakeClock(START)
    t0 = time.monotonic()

    clock.sleep(24 * 3600)

    assert clock.now_ms() == START + 86_400_000
    assert time.monotonic() - t0 < 1.0


def test_simulated_clock_starts_at_the_given_instant() -> None:
    clock = SimulatedClock(speed=60, start_ms=START)

    # Even at 60x, the first read is within a few simulated seconds of the start.
    assert START <= clock.now_ms() < START + 60_000


def test_simulated_clock_runs_speed_times_faster() -> None:
    clock = SimulatedClock(speed=60, start_ms=START)

    t0 = time.monotonic()
    a = clock.now_ms()
    time.sleep(0.05)  # measures the clock itself; not synchronisation
    b = clock.now_ms()
    real_ms = (time.monotonic() - t0) * 1000

    # At least the 50 ms slept, at most the whole measured interval, times 60.
    assert 60 * 50 - 2 <= b - a <= 60 * real_ms + 2


def test_simulated_clock_defaults_to_now() -> None:
    before = time.time_ns() // 1_000_000
    clock = SimulatedClock()

    assert before <= clock.now_ms() <= time.time_ns() // 1_000_000 + 1


@pytest.mark.parametrize("speed", [0, -1])
def test_simulated_clock_refuses_non_positive_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        SimulatedClock(speed=speed)


@pytest.mark.parametrize("clock", [SimulatedClock(speed=60), SystemClock()], ids=type)
def test_wake_interrupts_a_long_sleep(clock: SimulatedClock | SystemClock) -> None:
    clock.wake()
    t0 = time.monotonic()

    clock.sleep(3600)

    assert time.monotonic() - t0 < 1.0


def test_wake_from_another_thread_ends_a_sleep() -> None:
    clock = SimulatedClock(speed=1)
    sleeper = threading.Thread(target=clock.sleep, args=(3600,))
    sleeper.start()

    clock.wake()
    sleeper.join(timeout=5)

    assert not sleeper.is_alive()


def test_system_clock_is_wall_time_in_ms() -> None:
    before = time.time_ns() // 1_000_000

    now = SystemClock().now_ms()

    assert before <= now <= time.time_ns() // 1_000_000


def test_all_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [FakeClock(), SimulatedClock(), SystemClock()]

    assert all(isinstance(c.now_ms(), int) for c in clocks)


def test_processes_sharing_an_anchor_agree_on_simulated_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo's simulator, collector and API each build their clock from the same
    environment; created at different moments, they must still tell the same time."""
    anchor = time.time_ns() // 1_000_000 - 10_000  # ten wall seconds ago
    monkeypatch.setenv("WARMNET_CLOCK_SPEED", "60.0")
    monkeypatch.setenv("WARMNET_CLOCK_ANCHOR_MS", str(anchor))
    first = clock_from_env()
    second = clock_from_env()
    a, b = first.now_ms(), second.now_ms()
    assert isinstance(first, SimulatedClock)
    assert abs(a - b) < 60 * 50  # within 50 wall ms of each other
    assert 9 * 60_000 < a - anchor < 11 * 60_000  # ten wall seconds = ten simulated minutes


def test_without_the_environment_the_clock_is_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARMNET_CLOCK_SPEED", raising=False)
    monkeypatch.delenv("WARMNET_CLOCK_ANCHOR_MS", raising=False)
    assert isinstance(clock_from_env(), SystemClock)
