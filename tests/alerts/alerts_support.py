"""Helpers for the alert engine tests: a small fleet, rule sets built from a few
lines, reading builders, and a harness that keeps the state and an explicit clock.

Imported as `from alerts_support import ...` (tests/ has no __init__.py, so pytest
puts this folder on sys.path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    TransitionKind,
    evaluate,
    parse_rules,
)
from warmnet.kinds import DeviceKind
from warmnet.messages import (
    ChargingOutletTelemetry,
    DeviceEvent,
    EventType,
    GatewayState,
    GatewayStatus,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    Telemetry,
    WaterHeaterTelemetry,
)
from warmnet.registry import Fleet, parse_fleet

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z, FakeClock's default start
S = 1000  # ms per second
MIN = 60 * S

ST = "st-1"


def _station(sid: str, outlets: int) -> dict[str, Any]:
    devices: list[dict[str, Any]] = [
        {"id": f"outlet-{n:02d}", "kind": "charging_outlet"} for n in range(1, outlets + 1)
    ]
    devices += [
        {"id": "heater-1", "kind": "water_heater", "target_temp_c": 95},
        {"id": "microwave-1", "kind": "microwave"},
        {"id": "occupancy", "kind": "occupancy_sensor", "capacity": 10},
    ]
    return {
        "id": sid,
        "name_zh": "测试驿站",
        "name_en": "Test station",
        "setting": "commercial",
        "area": "test",
        "lat": 31.29,
        "lon": 120.61,
        "address_zh": "测试",
        "address_en": "test",
        "hours": "24h",
        "devices": devices,
    }


# Intervals are the kind defaults: outlet 10 s, heater 15 s, microwave 10 s, occupancy 30 s.
FLEET: Fleet = parse_fleet(
    {
        "network": "test",
        "name_zh": "测试",
        "name_en": "Test",
        "timezone": "Asia/Shanghai",
        "stations": [_station("st-1", 2), _station("st-2", 1)],
    }
)


def rule(rid: str, rtype: str, **fields: Any) -> dict[str, Any]:
    """A rule as the YAML file would have it, with description and severity filled."""
    return {
        "id": rid,
        "type": rtype,
        "description": {"zh": "测试", "en": rid},
        "severity": "major",
        **fields,
    }


def ruleset(*rules: dict[str, Any], **top: Any) -> RuleSet:
    return parse_rules({"version": 1, "rules": list(rules), **top}, "test")


# --- readings -------------------------------------------------------------------------


def outlet(
    ts: int,
    temp_c: float = 25.0,
    state: str = "idle",
    *,
    energy_wh: float = 0.0,
    historical: bool = False,
) -> ChargingOutletTelemetry:
    power = 300.0 if state == "charging" else 0.0
    return ChargingOutletTelemetry(
        ts=ts,
        seq=0,
        state=state,
        power_w=power,
        voltage_v=230.0,
        current_a=round(power / 230, 2),
        energy_wh=energy_wh,
        temp_c=temp_c,
        historical=historical,
    )


def heater(
    ts: int,
    water_temp_c: float = 94.0,
    *,
    heating: bool = False,
    level_pct: float = 90.0,
    fault_code: str | None = None,
) -> WaterHeaterTelemetry:
    return WaterHeaterTelemetry(
        ts=ts,
        seq=0,
        water_temp_c=water_temp_c,
        target_temp_c=95.0,
        heating=heating,
        level_pct=level_pct,
        power_w=2500.0 if heating else 0.0,
        fault_code=fault_code,
    )


def microwave(ts: int, state: str = "idle", remaining_s: int = 0) -> MicrowaveTelemetry:
    power = 1100.0 if state == "running" else 2.0
    return MicrowaveTelemetry(ts=ts, seq=0, state=state, power_w=power, remaining_s=remaining_s)


def occupancy(ts: int, occupied: int, capacity: int = 10) -> OccupancySensorTelemetry:
    return OccupancySensorTelemetry(ts=ts, seq=0, occupied=occupied, capacity=capacity)


_KINDS: dict[type, DeviceKind] = {
    ChargingOutletTelemetry: DeviceKind.CHARGING_OUTLET,
    WaterHeaterTelemetry: DeviceKind.WATER_HEATER,
    MicrowaveTelemetry: DeviceKind.MICROWAVE,
    OccupancySensorTelemetry: DeviceKind.OCCUPANCY_SENSOR,
}


def tele(device: str, reading: Telemetry, station: str = ST) -> TelemetryInput:
    return TelemetryInput(station, device, _KINDS[type(reading)], reading)


def event(device: str, ts: int, etype: EventType, code: str | None = None) -> EventInput:
    return EventInput(ST, device, DeviceEvent(ts=ts, seq=0, type=etype, code=code))


def gateway(state: GatewayState, session: int, ts: int, station: str = ST) -> GatewayInput:
    return GatewayInput(station, GatewayStatus(state=state, session=session, ts=ts))


def report(ts: int, category: str, device: str | None = None) -> RiderReportInput:
    return RiderReportInput(ST, category, ts, device=device)


# --- harness --------------------------------------------------------------------------


@dataclass
class Harness:
    """Feeds inputs at explicit times and keeps every transition, like the service."""

    rules: RuleSet
    fleet: Fleet = FLEET
    state: EngineState = field(default_factory=EngineState)
    log: list[Transition] = field(default_factory=list)

    def send(self, inp: Input, now: int | None = None) -> list[Transition]:
        """Evaluate `inp` at `now` (default: the input's own time)."""
        if now is None:
            now = _time_of(inp)
        before = self.state
        self.state, out = evaluate(self.rules, self.fleet, self.state, inp, now)
        assert before is not self.state or not out  # a transition always changes state
        self.log += out
        return out

    def tick(self, now: int, stations: frozenset[str] | None = None) -> list[Transition]:
        return self.send(Tick(stations), now)

    def kinds(self, rule_id: str | None = None) -> list[str]:
        """The transition kinds so far (for one rule), in order."""
        return [t.kind.value for t in self.log if rule_id is None or t.key.rule == rule_id]

    def of(self, kind: TransitionKind, rule_id: str | None = None) -> list[Transition]:
        return [
            t for t in self.log if t.kind is kind and (rule_id is None or t.key.rule == rule_id)
        ]

    def active(self) -> list[AlertKey]:
        return [k for k, _ in self.state.alerts()]


def _time_of(inp: Input) -> int:
    if isinstance(inp, TelemetryInput):
        return inp.reading.ts
    if isinstance(inp, EventInput):
        return inp.event.ts
    if isinstance(inp, GatewayInput):
        return inp.status.ts
    if isinstance(inp, RiderReportInput):
        return inp.ts_ms
    raise TypeError("a Tick needs an explicit time")
