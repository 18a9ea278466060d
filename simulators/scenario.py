"""Scenarios as data: one YAML file per scenario in `simulators/scenarios/`, validated
by `Scenario` (its faults in `fault_types.py`, its expectations in `expect.py`) with
errors that name the file, the fault and the field.

A scenario says which stations run, when (local time of day), for how long, how fast
by default, what breaks when (`faults`), and what the system is expected to do about
it (`expect`), so that alert-quality tests can check it. Durations are seconds or
strings like `90s`, `10m`, `1h30m`. `simulators/README.md` documents the format.
"""

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from simulators.expect import Expect
from simulators.fault_types import MAIN_SENSOR, Duration, Fault, StuckSensor
from warmnet.explain import explain
from warmnet.ids import Id
from warmnet.messages import TELEMETRY_MODELS
from warmnet.registry import Fleet

SCENARIO_PACKAGE = "simulators.scenarios"

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; the message says where and why."""


# --- the scenario ----------------------------------------------------------------------


def _time_of_day(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 11:00 as 660
        return dt.time(value // 60 % 24, value % 60)
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"start {value!r}: expected local time HH:MM") from None
    return value


class Scenario(BaseModel):
    model_config = _STRICT

    name: Id
    description: str = Field(min_length=1, max_length=2000)
    stations: Literal["all"] | tuple[Id, ...] = Field(description="'all' or station ids")
    start: Annotated[dt.time, BeforeValidator(_time_of_day)] = Field(
        description="local time of day the scenario starts at"
    )
    date: dt.date = Field(default=dt.date(2026, 1, 15), description="day of reproducible runs")
    duration: Duration = Field(gt=0)
    speed: float = Field(default=60.0, gt=0, le=10_000, description="default clock speed")
    seed: int = 7
    faults: tuple[Fault, ...] = ()
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        if isinstance(self.stations, tuple) and not self.stations:
            raise ValueError("stations: give 'all' or at least one station id")
        for i, f in enumerate(self.faults):
            if f.at >= self.duration:
                raise ValueError(f"faults[{i}] ({f.type_name}): at is not before the end")
        return self

    def station_ids(self, fleet: Fleet) -> list[str]:
        if self.stations == "all":
            return [s.id for s in fleet.stations]
        return list(self.stations)

    @property
    def needs_gateways(self) -> bool:
        return any(f.gateway_level for f in self.faults)

    def check(self, fleet: Fleet) -> None:
        """Raise ScenarioError unless every station, device, kind and field the
        scenario names exists in `fleet`."""
        problems: list[str] = []
        ids = set(self.station_ids(fleet))
        for sid in sorted(ids):
            if fleet.station(sid) is None:
                problems.append(f"stations: no station {sid!r} in {fleet.network}")
        for i, f in enumerate(self.faults):
            problems += _check_fault(f"faults[{i}] ({f.type_name})", f, fleet, ids)
        e = self.expect
        subjects: list[tuple[str, str, str | None]] = [
            *((f"expect.alerts[{i}]", a.station, a.device) for i, a in enumerate(e.alerts)),
            *((f"expect.commands[{i}]", c.station, c.device) for i, c in enumerate(e.commands)),
            *((f"expect.availability[{i}]", a.station, a.device)
              for i, a in enumerate(e.availability)),
            *((f"expect.gateways[{i}]", g.station, None) for i, g in enumerate(e.gateways)),
        ]  # fmt: skip
        for where, sid, device in subjects:
            problems += _check_target(where, sid, device, fleet, ids)
        if problems:
            raise ScenarioError(f"scenario {self.name}:\n" + "\n".join(f"  {p}" for p in problems))


def _check_target(
    where: str, sid: str, device: str | None, fleet: Fleet, ids: set[str]
) -> list[str]:
    if sid != "all" and sid not in ids:
        return [f"{where}: station {sid!r} is not one of the scenario's stations"]
    if device is not None and fleet.device(sid, device) is None:
        return [f"{where}: no device {device!r} at {sid}"]
    return []


def _check_fault(where: str, f: Fault, fleet: Fleet, ids: set[str]) -> list[str]:
    problems = _check_target(where, f.station, f.device, fleet, ids)
    if problems or f.device is None:
        return problems
    spec = fleet.device(f.station, f.device)
    assert spec is not None
    if f.kinds is not None and spec.kind not in f.kinds:
        wanted = ", ".join(sorted(k.value for k in f.kinds))
        return [f"{where}: {f.device} is a {spec.kind.value}, the fault needs a {wanted}"]
    if isinstance(f, StuckSensor):
        name = f.params.field or MAIN_SENSOR[spec.kind]
        fields = set(TELEMETRY_MODELS[spec.kind].model_fields) - {"ts", "seq", "historical"}
        if name not in fields:
            return [
                f"{where}: a {spec.kind.value} has no field {name!r} ({', '.join(sorted(fields))})"
            ]
    return []


# --- loading ---------------------------------------------------------------------------


def _bundled() -> dict[str, Any]:
    folder = resources.files(SCENARIO_PACKAGE)
    return {p.name.removesuffix(".yaml"): p for p in folder.iterdir() if p.name.endswith(".yaml")}


def list_scenarios() -> list[str]:
    """Names of the bundled scenarios."""
    return sorted(_bundled())


def load_scenario(name_or_path: str | Path, fleet: Fleet | None = None) -> Scenario:
    """A bundled scenario by name (`outlet-thermal-runaway`) or a YAML file by path;
    checked against `fleet` when given. Raises ScenarioError saying what is wrong."""
    text_name = str(name_or_path)
    if isinstance(name_or_path, Path) or text_name.endswith((".yaml", ".yml")) or "/" in text_name:
        path = Path(name_or_path)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{where}: cannot read scenario (UTF-8 YAML): {exc}") from None
        stem = path.stem
    else:
        bundled = _bundled()
        if text_name not in bundled:
            known = ", ".join(sorted(bundled))
            raise ScenarioError(f"no scenario named {text_name!r}; bundled: {known}")
        where = f"simulators/scenarios/{text_name}.yaml"
        text, stem = bundled[text_name].read_text(encoding="utf-8"), text_name
    scenario = parse_scenario(text, where)
    if scenario.name != stem:
        raise ScenarioError(f"{where}: name {scenario.name!r} differs from the file name {stem!r}")
    if fleet is not None:
        scenario.check(fleet)
    return scenario


def parse_scenario(text: str, where: str = "scenario") -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a scenario is a mapping (name, description, ...)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in explain(exc, whole="scenario"))
        raise ScenarioError(f"{where}: invalid scenario:\n{lines}") from None
