"""Device events, the downlink (DeviceControl) and injected faults, on explicit
simulated times (no sleeps, no network)."""

from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from simulators.env import StationEnv
from simulators.models import ChargingOutletModel, MicrowaveModel, WaterHeaterModel
from simulators.station import Event, SimulatedStation
from warmnet.clock import FakeClock
from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName, DeviceCommand, EventType
from warmnet.registry import DeviceSpec, OpeningHours, load_fleet

TZ = ZoneInfo("Asia/Shanghai")
FLEET = load_fleet()
MIN = 60_000


def local_ms(hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 1, 15, hour, minute, tzinfo=TZ).timestamp() * 1000)


def env(scale: float = 1.0) -> StationEnv:
    return StationEnv(TZ, OpeningHours.parse("24h"), demand_scale=scale)


def outlet(start_ms: int, seed: str = "o") -> ChargingOutletModel:
    spec = DeviceSpec(id="outlet-01", kind=DeviceKind.CHARGING_OUTLET)
    return ChargingOutletModel(spec, env(), seed, start_ms)


def command(name: CommandName) -> DeviceCommand:
    return DeviceCommand(id=f"c-{name.value}", ts=local_ms(12), command=name)


def test_outlet_sessions_emit_started_and_stopped_with_their_energy() -> None:
    t = local_ms(6)
    model = outlet(t, "sessions")
    for _ in range(2 * 24 * 60):  # two days at 1 min
        t += MIN
        model.advance(t)
    events = model.take_events()
    kinds = [e.type for e in events]
    assert kinds.count(EventType.SESSION_STARTED) >= 3
    # Strictly alternating (an outlet that was charging at the start stops first).
    assert all(a != b for a, b in pairwise(kinds))
    stops = [e for e in events if e.type is EventType.SESSION_STOPPED]
    assert {e.code for e in stops} == {"COMPLETE"}
    assert all(e.detail and e.detail.endswith("Wh") for e in stops)
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
    assert model.take_events() == []  # taken once


def test_microwave_doors_open_and_close_around_every_run() -> None:
    spec = DeviceSpec(id="microwave-1", kind=DeviceKind.MICROWAVE)
    t = local_ms(12)
    model = MicrowaveModel(spec, env(scale=1.5), "doors", t)
    running_starts = 0
    was_running = False
    for _ in range(3600):
        t += 1000
        model.advance(t)
        running = model.fields()["state"] == "running"
        running_starts += running and not was_running
        was_running = running
    events = model.take_events()
    kinds = [e.type for e in events]
    assert running_starts >= 5
    assert kinds[0] is EventType.DOOR_OPENED
    assert all(a != b for a, b in pairwise(kinds))  # open, close, open, close...
    # Every run is preceded by loading and followed by unloading: two openings per
    # run, fewer only when the next rider loads while the door is still open.
    assert running_starts <= kinds.count(EventType.DOOR_OPENED) <= 2 * running_starts + 1


def test_thermal_runaway_heats_the_socket_at_the_scripted_rate_then_trips() -> None:
    t = local_ms(14)
    model = outlet(t, "runaway")
    assert model.start_runaway(5.0, trip_c=90.0)
    assert model.session is not None  # an idle outlet starts the bad session
    temps = []
    for _ in range(6 * 6):  # 6 min at 10 s
        t += 10_000
        model.advance(t)
        temps.append(model.fields()["temp_c"])
    per_min = (temps[-1] - temps[5]) / 5  # the last five minutes
    assert 4.6 < per_min < 5.6
    while model.fault is None and t < local_ms(15):
        t += 10_000
        model.advance(t)
    f = model.fields()
    assert model.fault is not None and model.fault.code == "OVERTEMP"
    assert f["state"] == "fault" and f["power_w"] == 0 and 89 < f["temp_c"] < 91
    kinds = [(e.type, e.code) for e in model.take_events()]
    assert kinds[-2:] == [
        (EventType.SESSION_STOPPED, "FAULT"),
        (EventType.FAULT_RAISED, "OVERTEMP"),
    ]
    t += 20 * MIN
    model.advance(t)
    assert model.fields()["temp_c"] < 60  # cools once the battery stopped charging


def station(station_id: str = "wmq-01", start_ms: int | None = None) -> SimulatedStation:
    spec = FLEET.station(station_id)
    assert spec is not None
    clock = FakeClock(start_ms or local_ms(14))
    return SimulatedStation(spec, FLEET.tz, seed=3, start_ms=clock.now_ms(), clock=clock)


def charging_outlet(st: SimulatedStation) -> str:
    st.due(st.start_ms or 0)
    busy = [d for d, m in st.models.items() if isinstance(m, ChargingOutletModel) and m.session]
    assert busy
    return busy[0]


def test_cut_power_through_device_control_stops_charging_until_restored() -> None:
    st = station()
    t = st.start_ms or 0
    device = charging_outlet(st)
    st.take_events()
    assert st.execute(device, command(CommandName.CUT_POWER)) == (True, "power cut")
    assert st.execute(device, command(CommandName.CUT_POWER)) == (True, "power already cut")
    events = [e for e in st.take_events() if e.device == device]
    assert [(e.type, e.code) for e in events] == [(EventType.SESSION_STOPPED, "POWER_CUT")]
    later = [r for r in st.due(t + 3 * 3_600_000) if r.device == device]
    assert later and all(r.fields["state"] == "idle" and r.fields["power_w"] == 0 for r in later)
    assert st.execute(device, command(CommandName.RESTORE_POWER)) == (True, "power restored")
    model = st.models[device]
    assert isinstance(model, ChargingOutletModel) and model.next_start_ms < 2**62


def test_cut_power_on_a_faulted_outlet_shows_fault_and_reset_clears_it() -> None:
    st = station()
    device = charging_outlet(st)
    model = st.models[device]
    model.raise_fault("E7", "relay welded")
    st.execute(device, command(CommandName.CUT_POWER))
    t = model.t_ms + 60_000
    assert {r.fields["state"] for r in st.due(t) if r.device == device} == {"fault"}
    ok, detail = st.execute(device, command(CommandName.RESET))
    assert ok and "E7 cleared" in detail
    events = [(e.type, e.code) for e in st.take_events() if e.device == device]
    assert (EventType.FAULT_RAISED, "E7") in events
    assert events[-1] == (EventType.FAULT_CLEARED, "E7")
    assert {r.fields["state"] for r in st.due(t + 60_000) if r.device == device} == {"idle"}


def test_commands_a_device_cannot_carry_out_fail_and_say_why() -> None:
    st = station()
    st.due(st.start_ms or 0)
    assert st.execute("occupancy", command(CommandName.CUT_POWER)) == (
        False,
        "a occupancy_sensor has no power switch",
    )
    assert st.execute("outlet-99", command(CommandName.CUT_POWER))[0] is False


def test_a_command_acts_at_the_clock_time_bounded_by_the_next_report() -> None:
    clock = FakeClock(local_ms(14))
    spec = FLEET.station("wmq-01")
    assert spec is not None
    st = SimulatedStation(spec, FLEET.tz, seed=3, start_ms=clock.now_ms(), clock=clock)
    device = charging_outlet(st)
    clock.advance(4)
    st.due(clock.now_ms())  # the runner is up to date
    st.execute(device, command(CommandName.CUT_POWER))
    (stop,) = [e for e in st.take_events() if e.device == device]
    assert stop.ts_ms == clock.now_ms()
    clock.advance(3600)  # the runner is behind: the command cannot act after the next report
    st.execute(device, command(CommandName.RESTORE_POWER))
    assert st.models[device].t_ms < clock.now_ms()


def heater(start_ms: int) -> WaterHeaterModel:
    spec = DeviceSpec(id="heater-1", kind=DeviceKind.WATER_HEATER, target_temp_c=95)
    return WaterHeaterModel(spec, env(scale=1.0), "failing", start_ms)


def test_a_failed_element_heats_nothing_and_never_reaches_the_target() -> None:
    t = local_ms(10)
    model = heater(t)
    model.fail_element(0.0)
    lowest = 100.0
    for _ in range(4 * 240):  # 4 h at 15 s
        t += 15_000
        model.advance(t)
        f = model.fields()
        lowest = min(lowest, f["water_temp_c"])
        if f["heating"]:
            assert f["power_w"] == 0  # the relay is on, the element draws nothing
    assert lowest < 80  # lunch draws and cold refills, never heated back
    assert model.fields()["water_temp_c"] < 90


def test_a_stuck_sensor_reports_one_value_and_fools_the_thermostat() -> None:
    t = local_ms(9)
    model = heater(t)
    model.stick("water_temp_c", 82.0)
    reports = []
    for _ in range(120):  # 30 min
        t += 15_000
        model.advance(t)
        reports.append(model.report())
    assert {r["water_temp_c"] for r in reports} == {82.0}
    assert all(r["heating"] for r in reports[1:])  # it believes the water is cold
    assert model.water_c > 99  # ...which is boiling
    model.unstick("water_temp_c")
    assert model.report()["water_temp_c"] > 99 and not model.heating


def test_a_silent_device_keeps_working_but_sends_nothing() -> None:
    st = station("wmq-04", local_ms(16))
    start = st.start_ms or 0
    st.due(start)
    st.set_silent("outlet-02", True)
    quiet = [r for t in range(start, start + 10 * MIN, 10_000) for r in st.due(t)]
    st.take_events()
    st.set_silent("outlet-02", False)
    back = st.due(start + 11 * MIN)
    assert "outlet-02" not in {r.device for r in quiet}
    assert 59 <= st.silenced <= 60  # one report every 10 s (the first at a jitter)
    assert next(r.ts_ms for r in back if r.device == "outlet-02") > start + 590_000


def test_demand_factor_multiplies_rider_activity() -> None:
    def draws(factor: float) -> int:
        e = StationEnv(TZ, OpeningHours.parse("24h"), demand_scale=0.3, max_factor=2.0)
        e.set_demand_factor(factor)
        spec = DeviceSpec(id="microwave-1", kind=DeviceKind.MICROWAVE)
        t = local_ms(11)
        model = MicrowaveModel(spec, e, "rush", t)
        model.advance(t + 2 * 3_600_000)
        return sum(ev.type is EventType.DOOR_OPENED for ev in model.take_events())

    assert draws(2.0) > 1.5 * draws(1.0)
    with pytest.raises(ValueError, match="outside"):
        StationEnv(TZ, OpeningHours.parse("24h")).set_demand_factor(1.5)


def test_station_events_carry_the_station_and_kind() -> None:
    st = station("wmq-01", local_ms(12))
    st.due((st.start_ms or 0) + 30 * MIN)
    events = st.take_events()
    assert events and all(isinstance(e, Event) and e.station == "wmq-01" for e in events)
    assert {e.kind for e in events} >= {DeviceKind.MICROWAVE}
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
