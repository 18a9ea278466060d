"""Behaviour of the device models, driven with explicit simulated times (no sleeps)."""

import random
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from simulators.env import StationEnv, demand_shape, next_arrival_ms
from simulators.models import (
    ChargingOutletModel,
    MicrowaveModel,
    OccupancySensorModel,
    WaterHeaterModel,
    build_model,
)
from simulators.models.water_heater import HYSTERESIS_K
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec, OpeningHours, load_fleet

TZ = ZoneInfo("Asia/Shanghai")


def local_ms(hour: int, minute: int = 0, day: int = 15) -> int:
    return int(datetime(2026, 1, day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def env(hours: str = "24h", scale: float = 1.0) -> StationEnv:
    return StationEnv(TZ, OpeningHours.parse(hours), demand_scale=scale)


def test_demand_peaks_at_meal_times() -> None:
    assert demand_shape(12.0) > demand_shape(15.0) > demand_shape(4.0)
    assert demand_shape(18.0) > demand_shape(21.0)
    e = env("07:00-22:00")
    assert e.demand(local_ms(4)) == 0.0
    assert e.demand(local_ms(12)) == pytest.approx(1.0)


def test_arrivals_follow_the_rate() -> None:
    rng = random.Random(1)
    e = env()
    t, counts = local_ms(0), {"lunch": 0, "night": 0}
    end = t + 20 * 24 * 3_600_000
    while (t := next_arrival_ms(rng, t, e.demand, e.max_demand)) < end:
        h = e.local_hour(t)
        if 11.5 <= h < 12.5:
            counts["lunch"] += 1
        elif 3.5 <= h < 4.5:
            counts["night"] += 1
    # rates 0.95 vs 0.09 per hour over 20 days
    assert counts["lunch"] > 5 * counts["night"] > 0


def outlet(start_ms: int, seed: str = "o") -> ChargingOutletModel:
    spec = DeviceSpec(id="outlet-01", kind=DeviceKind.CHARGING_OUTLET)
    return ChargingOutletModel(spec, env(), seed, start_ms)


def test_outlet_energy_is_the_integral_of_power() -> None:
    t = local_ms(9)
    model = outlet(t, "energy")
    samples: list[tuple[int, dict[str, object]]] = []
    sessions = 0
    for _ in range(6 * 24 * 360):  # up to 6 days at 10 s
        t += 10_000
        model.advance(t)
        f = model.fields()
        if f["state"] == "charging":
            samples.append((t, f))
        elif samples:
            sessions += 1
            energy = [float(s[1]["energy_wh"]) for s in samples]  # type: ignore[arg-type]
            power = [float(s[1]["power_w"]) for s in samples]  # type: ignore[arg-type]
            assert energy == sorted(energy)
            integral = sum((power[i] + power[i + 1]) / 2 * 10 / 3600 for i in range(len(power) - 1))
            assert integral == pytest.approx(energy[-1] - energy[0], rel=0.01)
            hours = (samples[-1][0] - samples[0][0]) / 3_600_000
            assert 1.9 < hours < 6.1
            assert f["energy_wh"] == 0 and f["power_w"] == 0 and f["current_a"] == 0
            samples = []
            if sessions == 3:
                break
    assert sessions == 3


def test_outlet_power_curve_and_socket_temperature() -> None:
    t = local_ms(18)
    model = outlet(t, "curve")
    seen = []
    for _ in range(3 * 24 * 60):  # 3 days at 1 min
        t += 60_000
        model.advance(t)
        seen.append(model.fields())
    charging = [f for f in seen if f["state"] == "charging"]
    idle = [f for f in seen if f["state"] == "idle"]
    assert charging and idle
    assert all(0 < f["power_w"] <= 410 for f in charging)
    assert max(f["power_w"] for f in charging) >= 150
    assert all(220 <= f["voltage_v"] <= 235 for f in seen)
    hot = sum(f["temp_c"] for f in charging) / len(charging)
    cold = sum(f["temp_c"] for f in idle) / len(idle)
    assert hot > cold + 2  # the socket warms with the load
    assert all(10 < f["temp_c"] < 45 for f in seen)


@pytest.mark.parametrize(("hour", "low", "high"), [(4, 0.25, 0.45), (12, 0.45, 0.75)])
def test_outlets_start_partly_charging(hour: int, low: float, high: float) -> None:
    t = local_ms(hour)
    busy = sum(outlet(t, f"start-{i}").session is not None for i in range(400))
    assert low < busy / 400 < high


def heater(start_ms: int, target: float = 95.0, scale: float = 1.0) -> WaterHeaterModel:
    spec = DeviceSpec(id="heater-1", kind=DeviceKind.WATER_HEATER, target_temp_c=target)
    return WaterHeaterModel(spec, env(scale=scale), "heater", start_ms)


def test_heater_without_draws_reaches_target_and_holds_it() -> None:
    t = local_ms(0)
    model = heater(t, target=92.0, scale=0.0)  # no demand: no draws
    model.water_c, model.heating, model.level_pct = 20.0, True, 100.0
    temps, heating = [], []
    for _ in range(12 * 240):  # 12 h at 15 s
        t += 15_000
        model.advance(t)
        f = model.fields()
        temps.append(f["water_temp_c"])
        heating.append(f["heating"])
        assert f["level_pct"] == 100.0 and f["fault_code"] is None
        assert f["power_w"] > 1900 if f["heating"] else f["power_w"] == 0
    reached = next(i for i, c in enumerate(temps) if c >= 91.5)
    assert reached < 4 * 240  # a cold tank heats up within 4 h
    held = temps[reached:]
    assert min(held) >= 92.0 - HYSTERESIS_K - 0.5
    assert max(held) <= 92.0 + 0.5
    switches = sum(a != b for a, b in pairwise(heating[reached:]))
    assert switches >= 4  # the thermostat cycles


def test_heater_draws_at_lunch_lower_level_and_temperature() -> None:
    t = local_ms(11)
    model = heater(t, scale=1.5)
    lows, levels = [], []
    for _ in range(2 * 240):  # 11:00-13:00 at 15 s
        t += 15_000
        model.advance(t)
        f = model.fields()
        lows.append(f["water_temp_c"])
        levels.append(f["level_pct"])
    assert min(levels) < 90  # riders drew water, the valve refilled
    assert min(lows) < 95 - HYSTERESIS_K - 1  # cold refill dragged the tank below the band
    assert max(lows) <= 100


def test_heater_starts_warm() -> None:
    model = heater(local_ms(8))
    f = model.fields()
    assert 95 - HYSTERESIS_K - 0.5 <= f["water_temp_c"] <= 95.5
    assert f["level_pct"] > 80


def microwave_running_share(from_hour: int, seeds: int = 30) -> float:
    spec = DeviceSpec(id="microwave-1", kind=DeviceKind.MICROWAVE)
    running = total = 0
    for s in range(seeds):
        t = local_ms(from_hour, 30)
        model = MicrowaveModel(spec, env(scale=1.2), f"mw-{s}", t)
        for _ in range(360):  # one hour at 10 s
            t += 10_000
            model.advance(t)
            f = model.fields()
            total += 1
            if f["state"] == "running":
                running += 1
                assert 900 <= f["power_w"] <= 1250 and 0 < f["remaining_s"] <= 240
            else:
                assert f["power_w"] < 5 and f["remaining_s"] == 0
    return running / total


def test_microwaves_run_more_at_lunch_than_at_3am() -> None:
    lunch, night = microwave_running_share(11), microwave_running_share(2)
    assert lunch > 0.2
    assert lunch > 4 * night


def test_microwave_cycle_counts_down_with_door_open_around_it() -> None:
    spec = DeviceSpec(id="microwave-1", kind=DeviceKind.MICROWAVE)
    t = local_ms(12)
    model = MicrowaveModel(spec, env(scale=1.5), "cycle", t)
    states, remaining = [], []
    for _ in range(3600):  # one hour at 1 s
        t += 1000
        model.advance(t)
        f = model.fields()
        states.append(f["state"])
        remaining.append(f["remaining_s"])
    assert {"idle", "running", "door_open"} <= set(states)
    for i in range(1, len(states)):
        if states[i] == "running" and states[i - 1] == "running":
            assert remaining[i] == remaining[i - 1] - 1
        if states[i] == "running" and states[i - 1] != "running":
            assert states[i - 1] == "door_open"  # food goes in first


def occupancy(hours: str, start_ms: int, seed: str, capacity: int = 12) -> OccupancySensorModel:
    spec = DeviceSpec(id="occupancy", kind=DeviceKind.OCCUPANCY_SENSOR, capacity=capacity)
    return OccupancySensorModel(spec, env(hours), seed, start_ms)


def test_occupancy_follows_the_hour_at_a_daytime_station() -> None:
    at_1230 = at_0400 = 0
    for s in range(20):
        model = occupancy("07:00-22:00", local_ms(0), f"occ-{s}")
        model.advance(local_ms(4))
        at_0400 += model.fields()["occupied"]
        model.advance(local_ms(12, 30))
        at_1230 += model.fields()["occupied"]
    assert at_0400 == 0  # closed
    assert at_1230 > 20 * 12 * 0.4


def test_occupancy_at_a_24h_station_is_busy_at_night_too_and_may_overflow() -> None:
    t = local_ms(0)
    model = occupancy("24h", t, "busy", capacity=10)
    night: list[int] = []
    peak: list[int] = []
    for _ in range(7 * 24 * 120):  # a week at 30 s
        t += 30_000
        model.advance(t)
        f = model.fields()
        assert f["capacity"] == 10 and 0 <= f["occupied"] <= 12
        h = model.env.local_hour(t)
        if 2 <= h < 4:
            night.append(f["occupied"])
        elif 11.5 <= h < 12.5:
            peak.append(f["occupied"])
    assert sum(night) / len(night) > 0.5
    assert sum(peak) / len(peak) > 2 * sum(night) / len(night)
    assert max(peak) > 10  # occasionally more riders than seats


def test_build_model_rejects_a_kind_mismatch() -> None:
    spec = load_fleet().stations[0].devices[0]
    with pytest.raises(ValueError, match="cannot simulate"):
        MicrowaveModel(spec, env(), "x", local_ms(0))
    assert isinstance(build_model(spec, env(), "x", local_ms(0)), ChargingOutletModel)


def test_models_refuse_to_go_back_in_time() -> None:
    model = outlet(local_ms(10))
    model.advance(local_ms(11))
    with pytest.raises(ValueError, match="backwards"):
        model.advance(local_ms(10))
