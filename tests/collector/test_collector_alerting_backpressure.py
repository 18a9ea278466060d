"""The alert engine runner never drops inputs: a full queue makes `offer` wait (the
pipeline's writer, and so the broker, slow down), the waits are counted, and stopping
the runner releases a waiting `offer`. An input the engine fails on is counted and
skipped, never the end of alerting. The saved state loads back."""

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from collector.alerts import TelemetryInput, Tick, load_rules
from collector.alerts.runner import AlertEngineRunner, parse_saved
from collector.metrics.counters import Metrics
from testbed.services import wait_for
from warmnet.clock import FakeClock
from warmnet.kinds import DeviceKind
from warmnet.messages import MicrowaveTelemetry
from warmnet.registry import load_fleet

FLEET = load_fleet()
RULES = load_rules()
STATION = FLEET.stations[0]
DEVICE = next(d for d in STATION.devices if d.kind is DeviceKind.MICROWAVE)


def readings(clock: FakeClock, n: int) -> list[TelemetryInput]:
    now = clock.now_ms()
    return [
        TelemetryInput(
            STATION.id,
            DEVICE.id,
            DeviceKind.MICROWAVE,
            MicrowaveTelemetry(ts=now - n + i, seq=i, state="idle", power_w=2.0, remaining_s=0),
        )
        for i in range(n)
    ]


def runner(tmp_path: Path, clock: FakeClock, metrics: Metrics, queue_max: int) -> AlertEngineRunner:
    return AlertEngineRunner(
        RULES, FLEET, clock, metrics, tmp_path / "alert_state.json", queue_max=queue_max
    )


def test_a_full_queue_makes_offer_wait_and_nothing_is_dropped(tmp_path: Path) -> None:
    clock, metrics = FakeClock(), Metrics()
    r = runner(tmp_path, clock, metrics, queue_max=5)
    done: list[bool] = []
    t = threading.Thread(target=lambda: done.append(r.offer(readings(clock, 20))))
    t.start()
    wait_for(lambda: metrics.get("alert_backpressure_waits") == 1, timeout=5)
    assert t.is_alive() and not done  # nothing takes from the queue before start()
    r.start()
    t.join(5)
    assert done == [True]
    try:
        wait_for(lambda: r._queue.qsize() == 0, timeout=5)
        newest = clock.now_ms() - 1  # the last of the 20
        wait_for(lambda: r.state.station(STATION.id).last_seen.get(DEVICE.id) == newest)
    finally:
        r.stop()


def test_stopping_the_runner_releases_a_waiting_offer(tmp_path: Path) -> None:
    clock, metrics = FakeClock(), Metrics()
    r = runner(tmp_path, clock, metrics, queue_max=2)
    done: list[bool] = []
    t = threading.Thread(target=lambda: done.append(r.offer(readings(clock, 10))))
    t.start()
    wait_for(lambda: metrics.get("alert_backpressure_waits") == 1, timeout=5)
    assert t.is_alive() and not done
    started = time.monotonic()
    r.stop(timeout=0.1)
    t.join(2)
    assert done == [False] and time.monotonic() - started < 1.0


@dataclass(frozen=True)
class Garbled:
    """Not an input the engine knows: evaluating it raises."""

    station: str


def test_an_input_the_engine_fails_on_is_counted_and_alerting_goes_on(tmp_path: Path) -> None:
    clock, metrics = FakeClock(), Metrics()
    r = runner(tmp_path, clock, metrics, queue_max=100)
    r.start()
    try:
        assert r.offer([Garbled(STATION.id)])  # type: ignore[list-item]
        wait_for(lambda: metrics.get("alert_errors") == 1, timeout=5)
        assert r.offer(readings(clock, 3))
        newest = clock.now_ms() - 1
        wait_for(lambda: r.state.station(STATION.id).last_seen.get(DEVICE.id) == newest)
    finally:
        r.stop()


def test_saved_state_loads_back_after_more_inputs(tmp_path: Path) -> None:
    clock, metrics = FakeClock(), Metrics()
    r = runner(tmp_path, clock, metrics, queue_max=100)
    r.apply(Tick())
    r.save()
    for inp in readings(clock, 3):
        r.apply(inp)
    r.cursors["reports"] = 7
    r.save()
    assert parse_saved((tmp_path / "alert_state.json").read_text(encoding="utf-8"))[1] == {
        "reports": 7
    }
    state, _ = parse_saved((tmp_path / "alert_state.json").read_text(encoding="utf-8"))
    assert state == r.state
