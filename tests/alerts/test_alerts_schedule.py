"""Ticks evaluate only the stations whose due time has come (collector/alerts/
schedule.py). Exact: on random input sequences (devices reporting, stopping and coming
back, late and old data, gateways going offline and coming back, faults, rider
reports, crew resolves, restarts) the scheduled engine gives the same transitions and
the same state as evaluating every station on every tick (`sweep=True`)."""

import io
import json
import random
from dataclasses import dataclass, field

import pytest
from alerts_support import MIN, T0, S, _station, heater, microwave, occupancy, outlet, rule
from alerts_support import ruleset as make_rules

from collector.alerts import (
    AlertKey,
    EngineState,
    EventInput,
    GatewayInput,
    Input,
    RiderReportInput,
    RuleSet,
    TelemetryInput,
    Tick,
    Transition,
    apply_manual,
    evaluate,
    load_rules,
)
from collector.alerts.state import _ADAPTER, write_state
from warmnet.kinds import DeviceKind
from warmnet.messages import DeviceEvent, EventType, GatewayState, GatewayStatus, Telemetry
from warmnet.registry import Fleet, parse_fleet

FLEET: Fleet = parse_fleet(
    {
        "network": "test",
        "name_zh": "测试",
        "name_en": "Test",
        "timezone": "Asia/Shanghai",
        "stations": [_station("st-1", 2), _station("st-2", 1), _station("st-3", 3)],
    }
)
STATIONS = [s.id for s in FLEET.stations]

# Every time-driven mechanism, with short durations so that they all happen.
TIMED = make_rules(
    rule("silent", "silence", intervals=3),
    rule("heater-silent", "silence", kind="water_heater", intervals=2),
    rule("offline", "gateway_offline", for_s=20, clear_for_s=15, silent_intervals=3),
    rule("fault-slow", "fault_event", kind="charging_outlet", for_s=30),
    rule("heater-fault", "fault_event", kind="water_heater", for_s=0),
    rule("mw-fault", "fault_event", kind="microwave", codes=["E1"], for_s=12),
    rule(
        "hot", "threshold", kind="charging_outlet", field="temp_c", op=">=", value=60,
        for_s=20, clear_value=50, clear_for_s=20, action="cut_power",
    ),
    rule(
        "crowded", "threshold", kind="occupancy_sensor", field="occupied", op=">",
        value_field="capacity", for_s=30, clear_for_s=30, subject="station",
    ),
    rule("running", "too_long", kind="microwave", field="state", value="running", limit_s=60),
    rule("report", "rider_report", clear_after_s=90, window_s=300),
    rule("danger", "rider_report", categories=["smoke"], min_reports=2, window_s=120,
         subject="station"),
    reopen_window_s=240,
    update_interval_s=20,
)  # fmt: skip


@dataclass
class Dev:
    station: str
    id: str
    kind: DeviceKind
    interval: int
    next: int
    alive: bool = True
    temp: float = 25.0
    fault: str | None = None
    running: bool = False
    occupied: int = 3


@dataclass
class World:
    """Random inputs over simulated seconds; both engines see the same ones."""

    rng: random.Random
    devices: list[Dev] = field(default_factory=list)
    sessions: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for st in FLEET.stations:
            self.sessions[st.id] = 1
            for spec in st.devices:
                interval = int(spec.report_interval_s * 1000)
                self.devices.append(
                    Dev(st.id, spec.id, spec.kind, interval, T0 + self.rng.randrange(interval))
                )

    def reading(self, d: Dev, ts: int) -> Telemetry:
        rng = self.rng
        if d.kind is DeviceKind.CHARGING_OUTLET:
            d.temp = max(20.0, min(75.0, d.temp + rng.choice((-6, -2, 0, 2, 6))))
            state = "fault" if d.fault else rng.choice(("idle", "charging"))
            return outlet(ts, d.temp, state)
        if d.kind is DeviceKind.WATER_HEATER:
            return heater(ts, 90.0, heating=rng.random() < 0.5, fault_code=d.fault)
        if d.kind is DeviceKind.MICROWAVE:
            if rng.random() < 0.1:
                d.running = not d.running
            return microwave(ts, "running" if d.running else "idle", rng.randrange(0, 120))
        d.occupied = max(0, min(14, d.occupied + rng.choice((-2, -1, 0, 1, 2))))
        return occupancy(ts, d.occupied)

    def second(self, now: int) -> list[tuple[int, Input]]:
        """Inputs arriving during the second before `now`, each with its eval time."""
        rng = self.rng
        out: list[tuple[int, Input]] = []
        for d in self.devices:
            if rng.random() < 0.004:
                d.alive = not d.alive  # stops, or comes back
            if rng.random() < 0.003:
                d.fault = None if d.fault else rng.choice(("E1", "E7", "DRY"))
            while d.next < now:
                ts, d.next = d.next, d.next + d.interval
                if not d.alive:
                    continue
                at = ts + rng.randrange(0, 300)
                if rng.random() < 0.02:  # delivered late (a queue, a replay)
                    at += rng.randrange(1, 90) * S
                inp = TelemetryInput(d.station, d.id, d.kind, self.reading(d, ts))
                if rng.random() < 0.01:
                    inp = TelemetryInput(d.station, d.id, d.kind, inp.reading, historical=True)
                out.append((min(at, now), inp))
            if rng.random() < 0.002:
                etype = rng.choice((EventType.FAULT_RAISED, EventType.FAULT_CLEARED))
                code = rng.choice(("E1", "E7", None))
                ev = DeviceEvent(ts=now - rng.randrange(0, 5 * S), seq=0, type=etype, code=code)
                out.append((now, EventInput(d.station, d.id, ev)))
        for sid in STATIONS:
            if rng.random() < 0.004:
                state = rng.choice(
                    (GatewayState.OFFLINE, GatewayState.ONLINE, GatewayState.STOPPED)
                )
                if state is GatewayState.ONLINE:
                    self.sessions[sid] += 1
                status = GatewayStatus(state=state, session=self.sessions[sid], ts=now - 100)
                out.append((now, GatewayInput(sid, status)))
            if rng.random() < 0.004:
                dev = rng.choice((None, "outlet-01", "heater-1", "nowhere"))
                cat = rng.choice(("smoke", "dirty", "other"))
                out.append((now, RiderReportInput(sid, cat, now - 50, device=dev)))
        out.sort(key=lambda x: x[0])
        return out


@dataclass
class Pair:
    """The scheduled engine and the full-sweep reference, fed the same inputs."""

    rules: RuleSet
    fast: EngineState = field(default_factory=EngineState)
    full: EngineState = field(default_factory=EngineState)
    log: list[Transition] = field(default_factory=list)

    def send(self, inp: Input, now: int) -> None:
        self.fast, a = evaluate(self.rules, FLEET, self.fast, inp, now)
        self.full, b = evaluate(self.rules, FLEET, self.full, inp, now, sweep=True)
        assert a == b, f"{inp} at {now}"
        self.log += a

    def manual(self, key: AlertKey, now: int) -> None:
        self.fast = apply_manual(self.fast, key, "resolve", now, rules=self.rules, fleet=FLEET)
        self.full = apply_manual(self.full, key, "resolve", now, rules=self.rules, fleet=FLEET)

    def restart(self, now: int) -> None:
        self.fast = EngineState.from_json(self.fast.to_json()).resume(now)
        self.full = EngineState.from_json(self.full.to_json()).resume(now)


def drive(rules: RuleSet, seed: int, minutes: int) -> Pair:
    rng = random.Random(seed)
    world = World(rng)
    pair = Pair(rules)
    for sec in range(1, minutes * 60):
        now = T0 + sec * S
        for at, inp in world.second(now):
            pair.send(inp, at)
        if rng.random() < 0.02:  # a tick of only some stations (a shard), or skipped
            owned = frozenset(rng.sample(STATIONS, 2))
            pair.send(Tick(owned), now)
        elif rng.random() < 0.97:
            pair.send(Tick(), now)
        if rng.random() < 0.01:
            active = [k for k, _ in pair.full.alerts()]
            if active:
                pair.manual(rng.choice(active), now)
        if rng.random() < 0.002:
            pair.restart(now + rng.randrange(0, 60) * S)
        if sec % 60 == 0:
            assert pair.fast == pair.full
    assert pair.fast == pair.full
    return pair


@pytest.mark.parametrize("seed", range(8))
def test_scheduled_ticks_equal_the_full_sweep_with_time_driven_rules(seed: int) -> None:
    pair = drive(TIMED, seed, minutes=20)
    kinds = {t.kind.value for t in pair.log}
    assert {"fire", "resolve"} <= kinds  # the sequence did exercise the rules


@pytest.mark.parametrize("seed", range(4))
def test_scheduled_ticks_equal_the_full_sweep_with_the_bundled_rules(seed: int) -> None:
    drive(load_rules(), 100 + seed, minutes=20)


def steady(rules: RuleSet, minutes: int = 5) -> tuple[EngineState, int]:
    """Every device of every station reporting on time; a tick every second."""
    state = EngineState()
    now = T0
    for sec in range(minutes * 60):
        now = T0 + sec * S
        for st in FLEET.stations:
            for spec in st.devices:
                interval = int(spec.report_interval_s)
                if sec % interval == 0:
                    reading = World(random.Random(0)).reading(
                        Dev(st.id, spec.id, spec.kind, interval * S, now), now
                    )
                    inp = TelemetryInput(st.id, spec.id, spec.kind, reading)
                    state, _ = evaluate(rules, FLEET, state, inp, now)
        state, _ = evaluate(rules, FLEET, state, Tick(), now)
    return state, now


BUNDLED = load_rules()


def test_when_every_device_reports_no_station_is_due() -> None:
    state, now = steady(BUNDLED)
    for sid in STATIONS:
        st = state.stations[sid]
        assert st.due_ms is not None and st.due_ms > now + 60 * S  # the station's deadline
    after, out = evaluate(BUNDLED, FLEET, state, Tick(), now + S)
    assert out == [] and after is state  # nothing looked at, nothing changed


def test_a_device_that_stops_makes_its_station_due_at_its_deadline() -> None:
    rules = BUNDLED
    state, now = steady(rules, minutes=2)
    # outlet-01 of st-1 stops; the others keep reporting.
    last = max(
        t for k, t in state.stations["st-1"].last_seen.items() if k == "outlet-01"
    )  # its newest reading
    fired: list[Transition] = []
    for sec in range(1, 60):
        t = now + sec * S
        for spec in FLEET.station("st-1").devices:  # type: ignore[union-attr]
            if spec.id != "outlet-01" and sec % int(spec.report_interval_s) == 0:
                reading = outlet(t) if spec.kind is DeviceKind.CHARGING_OUTLET else None
                if reading is not None:
                    inp = TelemetryInput("st-1", spec.id, spec.kind, reading)
                    state, _ = evaluate(rules, FLEET, state, inp, t)
        state, out = evaluate(rules, FLEET, state, Tick(), t)
        fired += out
    silent = [f for f in fired if f.key == AlertKey("device-silent", "st-1", "outlet-01")]
    assert silent and silent[0].kind.value == "fire"
    assert silent[0].at_ms >= last + 30 * S  # 3 intervals of 10 s


def test_a_state_saved_before_schedules_loads_and_is_scheduled_again() -> None:
    pair = drive(TIMED, 7, minutes=5)
    old_format = _ADAPTER.dump_json(  # every field written, as before
        pair.full.__class__(dict(pair.full.stations), pair.full.watch_since_ms)
    )
    back = EngineState.from_json(old_format)
    assert back == pair.full and back.to_json() == pair.full.to_json()
    assert all(st.due_ms is None for st in back.stations.values())
    now = T0 + 5 * MIN
    a, out_a = evaluate(TIMED, FLEET, back, Tick(), now)
    b, out_b = evaluate(TIMED, FLEET, back, Tick(), now, sweep=True)
    assert out_a == out_b and a == b
    assert all(st.due_ms is not None for st in a.stations.values())


def test_the_streamed_state_is_the_state_json_and_loads_back() -> None:
    state, now = steady(BUNDLED, minutes=1)
    inp = TelemetryInput("st-2", "heater-1", DeviceKind.WATER_HEATER, heater(now + S))
    state, _ = evaluate(BUNDLED, FLEET, state, inp, now + S)
    out = io.StringIO()
    write_state(state, out)
    assert out.getvalue() == state.to_json()
    assert json.loads(out.getvalue())["stations"].keys() == set(STATIONS)
    assert EngineState.from_json(out.getvalue()) == state


def test_other_rules_or_another_fleet_forget_the_schedules() -> None:
    state, now = steady(BUNDLED, minutes=1)
    only_silence = make_rules(rule("silent", "silence", intervals=1))
    a, out_a = evaluate(only_silence, FLEET, state, Tick(), now + 15 * S)
    b, out_b = evaluate(only_silence, FLEET, state, Tick(), now + 15 * S, sweep=True)
    assert out_a == out_b and a == b
    assert {t.kind.value for t in out_a} == {"resolve"} or out_a == []  # removed rules
