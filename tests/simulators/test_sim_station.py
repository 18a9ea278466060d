"""Simulated stations: every reading valid, reporting schedule, determinism."""

import json
from collections import defaultdict
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from simulators.station import MAX_JITTER_S, Reading, SimulatedStation
from warmnet.kinds import DeviceKind
from warmnet.messages import parse_telemetry
from warmnet.registry import Fleet, load_fleet, parse_fleet

TZ = ZoneInfo("Asia/Shanghai")
FLEET = load_fleet()


def local_ms(hour: int, minute: int = 0, day: int = 15) -> int:
    return int(datetime(2026, 1, day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def with_interval(fleet: Fleet, interval_s: float) -> Fleet:
    """The same fleet with every device reporting every `interval_s` (coarse steps)."""
    data = fleet.model_dump(mode="json")
    for station in data["stations"]:
        for device in station["devices"]:
            device["interval_s"] = interval_s
    return parse_fleet(data)


def collect(station: SimulatedStation, start_ms: int, end_ms: int, step_ms: int) -> list[Reading]:
    out = []
    for now in range(start_ms, end_ms + 1, step_ms):
        out.extend(station.due(now))
    return out


def validate(readings: list[Reading]) -> None:
    seq: dict[tuple[str, str], int] = defaultdict(int)
    for r in readings:
        payload = {"ts": r.ts_ms, "seq": seq[(r.station, r.device)], **r.fields}
        seq[(r.station, r.device)] += 1
        parse_telemetry(r.kind, json.dumps(payload).encode())  # raises if invalid


def test_every_reading_of_the_whole_fleet_over_a_day_is_valid() -> None:
    fleet = with_interval(FLEET, 900)  # a day of 419 devices, 15 min apart
    start = local_ms(0)
    readings = []
    for st in fleet.stations:
        sim = SimulatedStation(st, fleet.tz, seed=7, start_ms=start)
        readings += collect(sim, start, start + 86_400_000, 900_000)
    per_device: dict[tuple[str, str], int] = defaultdict(int)
    for r in readings:
        per_device[(r.station, r.device)] += 1
    assert len(per_device) == fleet.device_count
    assert set(per_device.values()) <= {96, 97}  # 97 if the first report came at 00:00:00
    validate(readings)
    states = {(r.kind, r.fields.get("state")) for r in readings}
    assert (DeviceKind.CHARGING_OUTLET, "charging") in states
    assert (DeviceKind.CHARGING_OUTLET, "idle") in states


def test_every_reading_at_native_intervals_over_lunch_is_valid() -> None:
    station = FLEET.station("wmq-01")
    assert station is not None
    sim = SimulatedStation(station, FLEET.tz, seed=3, start_ms=local_ms(11))
    readings = collect(sim, local_ms(11), local_ms(13), 5_000)
    validate(readings)
    states = {r.fields["state"] for r in readings if r.kind is DeviceKind.MICROWAVE}
    assert states == {"idle", "running", "door_open"}


def test_devices_report_at_their_interval_first_within_jitter() -> None:
    station = FLEET.station("wmq-02")
    assert station is not None
    start = local_ms(12)
    sim = SimulatedStation(station, FLEET.tz, seed=1)  # starts on the first due()
    readings = []
    now = start
    for step in (0, 7_300, 1, 12_000, 999, 45_000, 30_000, 3_000, 61_000):  # irregular ticks
        now += step
        readings += sim.due(now)
    assert sim.start_ms == start
    by_device: dict[str, list[int]] = defaultdict(list)
    for r in readings:
        assert r.station == "wmq-02" and start <= r.ts_ms <= now
        by_device[r.device].append(r.ts_ms)
    assert set(by_device) == {d.id for d in station.devices}
    for spec in station.devices:
        ts = by_device[spec.id]
        interval_ms = int(spec.report_interval_s * 1000)
        assert ts[0] - start < MAX_JITTER_S * 1000  # all devices report right away
        assert all(b - a == interval_ms for a, b in pairwise(ts))
        assert now - ts[-1] < interval_ms  # nothing due was held back
    assert sim.next_due_ms() > now


def test_readings_come_in_time_order() -> None:
    station = FLEET.stations[0]
    sim = SimulatedStation(station, FLEET.tz, seed=1, start_ms=local_ms(8))
    readings = sim.due(local_ms(8, 2))
    assert [r.ts_ms for r in readings] == sorted(r.ts_ms for r in readings)


def run_station(seed: int, station_id: str = "wmq-03") -> list[Reading]:
    station = FLEET.station(station_id)
    assert station is not None
    sim = SimulatedStation(station, FLEET.tz, seed=seed, start_ms=local_ms(17))
    return collect(sim, local_ms(17), local_ms(17, 20), 2_500)


def test_same_seed_gives_identical_readings_different_seed_does_not() -> None:
    assert run_station(7) == run_station(7)
    assert run_station(7) != run_station(8)


def test_readings_do_not_depend_on_how_often_due_is_called() -> None:
    station = FLEET.station("wmq-03")
    assert station is not None
    fine = SimulatedStation(station, FLEET.tz, seed=5, start_ms=local_ms(17))
    coarse = SimulatedStation(station, FLEET.tz, seed=5, start_ms=local_ms(17))
    a = collect(fine, local_ms(17), local_ms(17, 20), 1_000)
    b = collect(coarse, local_ms(17), local_ms(17, 20), 60_000)
    assert a == b


def test_outlets_across_the_fleet_change_state_within_minutes() -> None:
    start = local_ms(17, 30)
    sims = [SimulatedStation(st, FLEET.tz, seed=11, start_ms=start) for st in FLEET.stations]
    first: dict[tuple[str, str], str] = {}
    changed = set()
    for sim in sims:
        for r in collect(sim, start, start + 5 * 60_000, 10_000):
            if r.kind is DeviceKind.CHARGING_OUTLET:
                key = (r.station, r.device)
                first.setdefault(key, r.fields["state"])
                if r.fields["state"] != first[key]:
                    changed.add(key)
    share = sum(s == "charging" for s in first.values()) / len(first)
    assert 0.3 < share < 0.75
    assert len(changed) >= 2


def test_a_loop_far_behind_skips_missed_reports() -> None:
    station = FLEET.station("wmq-02")
    assert station is not None
    sim = SimulatedStation(station, FLEET.tz, seed=1, start_ms=local_ms(9), max_lag_s=60)
    sim.due(local_ms(9))
    readings = sim.due(local_ms(10))  # an hour late
    assert sim.skipped > 0
    assert all(r.ts_ms > local_ms(10) - 60_000 for r in readings)


def test_starting_twice_is_an_error() -> None:
    sim = SimulatedStation(FLEET.stations[0], FLEET.tz, seed=1, start_ms=local_ms(9))
    with pytest.raises(RuntimeError, match="already started"):
        sim.start(local_ms(10))
