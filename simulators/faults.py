"""A scenario's faults turned into what happens when: device-level faults become
actions of the simulated stations (at exact simulated times, so a scenario is as
deterministic as a plain run); gateway-level ones (partition, crash, clock skew,
duplicates, garbage) become `Window`s for whatever delivers the readings.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from simulators.env import StationEnv
from simulators.fault_types import (
    MAIN_SENSOR,
    Demand,
    DeviceFault,
    DeviceSilent,
    ElementFailure,
    Fault,
    RefillFailure,
    StuckSensor,
    ThermalRunaway,
)
from simulators.models import ChargingOutletModel, WaterHeaterModel
from simulators.scenario import Scenario
from simulators.station import Action, SimulatedStation

MS = 1000


@dataclass(frozen=True, slots=True)
class Window:
    """A gateway-level fault on one station from `start_ms` to `end_ms` (None: on)."""

    fault: Fault
    station: str
    start_ms: int
    end_ms: int | None

    def active(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms and (self.end_ms is None or t_ms < self.end_ms)


def _targets(fault: Fault, station_ids: Iterable[str]) -> list[str]:
    ids = list(station_ids)
    if fault.station == "all":
        return ids
    return [fault.station] if fault.station in ids else []


def max_demand_factor(scenario: Scenario | None, station_id: str) -> float:
    """The largest demand multiplier the scenario applies to a station (at least 1)."""
    factors = [1.0]
    if scenario is not None:
        for f in scenario.faults:
            if isinstance(f, Demand) and f.station in ("all", station_id):
                factors.append(f.params.factor)
    return max(factors)


def schedule_device_faults(scenario: Scenario, station: SimulatedStation, start_ms: int) -> int:
    """Schedule the scenario's device-level faults on a started station; the count."""
    n = 0
    for f in scenario.faults:
        if f.gateway_level or station.id not in _targets(f, [station.id]):
            continue
        begin, end = _actions(f)
        at = start_ms + int(f.at * MS)
        station.schedule(at, f"{f.type_name} {f.device or ''} begins".strip(), begin)
        n += 1
        if f.duration is not None and end is not None:
            station.schedule(
                at + int(f.duration * MS), f"{f.type_name} {f.device or ''} ends".strip(), end
            )
    return n


def gateway_windows(scenario: Scenario, station_ids: Iterable[str], start_ms: int) -> list[Window]:
    ids = list(station_ids)
    out = []
    for f in scenario.faults:
        if not f.gateway_level:
            continue
        begin = start_ms + int(f.at * MS)
        end = None if f.duration is None else begin + int(f.duration * MS)
        out += [Window(f, sid, begin, end) for sid in _targets(f, ids)]
    return out


def _actions(f: Fault) -> tuple[Action, Action | None]:
    """(what happens at the start, what happens at the end) of a device-level fault."""
    if isinstance(f, Demand):
        factor = f.params.factor

        def rush(st: SimulatedStation, at: int) -> None:
            _env(st).set_demand_factor(factor)

        def calm(st: SimulatedStation, at: int) -> None:
            _env(st).set_demand_factor(1.0)

        return rush, calm
    device = f.device
    assert device is not None  # the scenario model guarantees it for device faults
    if isinstance(f, ThermalRunaway):
        p = f.params

        def runaway(st: SimulatedStation, at: int) -> None:
            model = st.device_at(device, at)
            assert isinstance(model, ChargingOutletModel)
            model.start_runaway(p.rate_c_per_min, p.trip_c, plug_in=p.plug_in)

        def settle(st: SimulatedStation, at: int) -> None:
            model = st.device_at(device, at)
            assert isinstance(model, ChargingOutletModel)
            model.runaway = None

        return runaway, settle
    if isinstance(f, ElementFailure):
        factor = f.params.power_factor
        return (
            lambda st, at: _heater(st, device, at).fail_element(factor),
            lambda st, at: _heater(st, device, at).repair_element(),
        )
    if isinstance(f, RefillFailure):
        return (
            lambda st, at: _heater(st, device, at).block_refill(True),
            lambda st, at: _heater(st, device, at).block_refill(False),
        )
    if isinstance(f, DeviceFault):
        code, detail = f.params.code, f.params.detail
        return (
            lambda st, at: st.device_at(device, at).raise_fault(code, detail),
            lambda st, at: _clear(st.device_at(device, at).clear_fault("fault went away")),
        )
    if isinstance(f, StuckSensor):
        value = f.params.value

        def field_of(st: SimulatedStation) -> str:
            return f.params.field or MAIN_SENSOR[st.models[device].kind]

        return (
            lambda st, at: st.device_at(device, at).stick(field_of(st), value),
            lambda st, at: st.device_at(device, at).unstick(field_of(st)),
        )
    if isinstance(f, DeviceSilent):
        return (
            lambda st, at: st.set_silent(device, True),
            lambda st, at: st.set_silent(device, False),
        )
    raise TypeError(f"{f.type_name} is not a device-level fault")


def _env(st: SimulatedStation) -> StationEnv:
    if st.env is None:
        raise RuntimeError(f"station {st.id} not started")
    return st.env


def _heater(st: SimulatedStation, device: str, at: int) -> WaterHeaterModel:
    model = st.device_at(device, at)
    assert isinstance(model, WaterHeaterModel)
    return model


def _clear(_cleared: bool) -> None:
    return None
