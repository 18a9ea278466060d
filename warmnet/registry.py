"""The fleet registry: stations, where they are, when they are open, what devices
they have. Loaded from a YAML data file (the first network ships as
`warmnet/data/wumenqiao.yaml`) or its JSON form (`*.json`, for city-sized registries)
and validated with errors that name the station and
field at fault.
"""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from warmnet.explain import explain
from warmnet.ids import Id
from warmnet.kinds import DeviceKind

DEFAULT_FLEET = "wumenqiao.yaml"

# Nominal reporting interval per kind, seconds. Silence is judged against these.
DEFAULT_INTERVAL_S: dict[DeviceKind, float] = {
    DeviceKind.CHARGING_OUTLET: 10.0,
    DeviceKind.WATER_HEATER: 15.0,
    DeviceKind.MICROWAVE: 10.0,
    DeviceKind.OCCUPANCY_SENSOR: 30.0,
}


class RegistryError(ValueError):
    """The registry file is unreadable or invalid; the message says where and why."""


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class DeviceSpec:
    """A registered device. A slotted dataclass, not a model: a city registry holds
    tens of thousands of these (about 100 bytes each instead of about 600)."""

    id: Id
    kind: DeviceKind
    target_temp_c: float | None = Field(default=None, ge=30, le=100, description="heaters")
    capacity: int | None = Field(default=None, ge=1, le=1000, description="occupancy: seats")
    interval_s: float | None = Field(default=None, gt=0, le=3600, description="report interval")

    @model_validator(mode="after")
    def _kind_fields(self) -> "DeviceSpec":
        if self.kind is DeviceKind.OCCUPANCY_SENSOR and self.capacity is None:
            raise ValueError("occupancy_sensor needs a capacity (seats)")
        if self.kind is not DeviceKind.OCCUPANCY_SENSOR and self.capacity is not None:
            raise ValueError("capacity is only for occupancy_sensor")
        if self.kind is not DeviceKind.WATER_HEATER and self.target_temp_c is not None:
            raise ValueError("target_temp_c is only for water_heater")
        return self

    @property
    def report_interval_s(self) -> float:
        return self.interval_s or DEFAULT_INTERVAL_S[self.kind]


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """`24h`, or `HH:MM-HH:MM` local time (an end before the start wraps past midnight)."""

    start: time | None  # None: open all day
    end: time | None

    @classmethod
    def parse(cls, text: str) -> "OpeningHours":
        if text == "24h":
            return cls(None, None)
        try:
            a, b = text.split("-")
            start, end = time.fromisoformat(a), time.fromisoformat(b)
        except ValueError:
            raise ValueError(f"hours {text!r}: expected '24h' or 'HH:MM-HH:MM'") from None
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"hours {text!r}: local time without a UTC offset")
        if start == end:
            raise ValueError(f"hours {text!r}: start equals end; write '24h' for all day")
        return cls(start, end)

    def is_open(self, local: time) -> bool:
        if self.start is None or self.end is None:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class Station(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=128)
    setting: Literal["commercial", "community", "park"]
    area: Id
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address_zh: str = Field(min_length=1, max_length=128)
    address_en: str = Field(min_length=1, max_length=200)
    hours: str = Field(description="'24h' or 'HH:MM-HH:MM' local time")
    devices: list[DeviceSpec] = Field(min_length=1)

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        OpeningHours.parse(v)
        return v

    @model_validator(mode="after")
    def _unique_devices(self) -> "Station":
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError(f"duplicate device id {d.id!r}")
            if d.id == "gateway":
                raise ValueError("device id 'gateway' is reserved for the station gateway")
            seen.add(d.id)
        sensors = [d for d in self.devices if d.kind is DeviceKind.OCCUPANCY_SENSOR]
        if len(sensors) > 1:
            raise ValueError("a station has at most one occupancy_sensor")
        return self

    @cached_property
    def opening_hours(self) -> OpeningHours:
        return OpeningHours.parse(self.hours)

    @cached_property
    def max_interval_s(self) -> float:
        """The longest report interval of its devices (a quiet station is judged by it)."""
        return max(d.report_interval_s for d in self.devices)

    @property
    def seats(self) -> int:
        return sum(d.capacity or 0 for d in self.devices)

    @cached_property
    def _by_id(self) -> dict[str, DeviceSpec]:
        return {d.id: d for d in self.devices}

    def device(self, device_id: str) -> DeviceSpec | None:
        return self._by_id.get(device_id)

    def devices_of(self, kind: DeviceKind) -> list[DeviceSpec]:
        return [d for d in self.devices if d.kind is kind]


class Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Id
    name_zh: str
    name_en: str
    timezone: str
    stations: list[Station] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _unique_stations(self) -> "Fleet":
        seen: set[str] = set()
        for s in self.stations:
            if s.id in seen:
                raise ValueError(f"duplicate station id {s.id!r}")
            seen.add(s.id)
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _stations(self) -> dict[str, Station]:
        return {s.id: s for s in self.stations}

    def station(self, station_id: str) -> Station | None:
        return self._stations.get(station_id)

    def device(self, station_id: str, device_id: str) -> DeviceSpec | None:
        """The registered device, or None if the station or device is unknown."""
        station = self._stations.get(station_id)
        return None if station is None else station.device(device_id)

    @property
    def device_count(self) -> int:
        return sum(len(s.devices) for s in self.stations)

    def is_open(self, station: Station, at_ms: int) -> bool:
        local = datetime.fromtimestamp(at_ms / 1000, tz=self.tz).time()
        return station.opening_hours.is_open(local)


def load_fleet(path: str | Path | None = None) -> Fleet:
    """Load and validate a registry file (the bundled first network by default).

    YAML for people to edit; JSON (`*.json`) for city-sized generated registries:
    50,400 devices load in 0.5 s and 78 MB of RSS from JSON, 4.4 s and 254 MB peak
    from YAML (bench/README.md)."""
    if path is None:
        ref = resources.files("warmnet.data").joinpath(DEFAULT_FLEET)
        text, where = ref.read_text(encoding="utf-8"), f"warmnet/data/{DEFAULT_FLEET}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{where}: cannot read registry (UTF-8): {exc}") from None
        if where.endswith(".json"):
            return _parse_fleet_json(text, where)
    try:
        # The C loader where libyaml is there: 3x faster on a city-sized registry.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{where}: not valid YAML: {exc}") from None
    return parse_fleet(data, where)


def _parse_fleet_json(text: str, where: str) -> Fleet:
    # Straight from the JSON text: no intermediate Python objects for the whole tree.
    try:
        return Fleet.model_validate_json(text)
    except ValidationError as exc:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as bad:
            raise RegistryError(f"{where}: not valid JSON: {bad}") from None
        raise RegistryError(f"{where}: invalid registry:\n{_explain(exc, data)}") from None


def fleet_json(fleet: Fleet) -> str:
    """The registry as JSON (what `load_fleet` reads from a `*.json` file)."""
    return fleet.model_dump_json(exclude_none=True, indent=1)


def write_fleet(fleet: Fleet, path: Path) -> Path:
    """A registry file that `load_fleet` reads back: JSON for `*.json` (a city-sized
    fleet loads much faster from JSON), YAML otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(fleet_json(fleet), encoding="utf-8")
    else:
        text = yaml.safe_dump(fleet.model_dump(mode="json"), allow_unicode=True)
        path.write_text(text, encoding="utf-8")
    return path


def parse_fleet(data: Any, where: str = "registry") -> Fleet:
    try:
        return Fleet.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(f"{where}: invalid registry:\n{_explain(exc, data)}") from None


def _explain(exc: ValidationError, data: Any) -> str:
    def by_id(loc: Sequence[int | str]) -> Sequence[int | str]:
        # Name stations by id rather than list index: "stations[wmq-07].lat".
        if len(loc) >= 2 and loc[0] == "stations" and isinstance(loc[1], int):
            try:
                return ["stations", f"[{data['stations'][loc[1]]['id']}]", *loc[2:]]
            except (KeyError, IndexError, TypeError):
                pass
        return loc

    return "\n".join(f"  {line}" for line in explain(exc, whole="registry", rename=by_id))


def synthetic_fleet(
    stations: int, *, outlets: int = 10, seed_lat: float = 31.29, seed_lon: float = 120.61
) -> Fleet:
    """A generated fleet for load tests and benchmarks: `stations` stations on a grid,
    each with `outlets` outlets, 2 heaters, 1 microwave and an occupancy sensor."""
    side = max(1, math.isqrt(stations - 1) + 1)
    raw_stations = []
    for i in range(stations):
        devices: list[dict[str, Any]] = [
            {"id": f"outlet-{n:02d}", "kind": "charging_outlet"} for n in range(1, outlets + 1)
        ]
        devices += [
            {"id": "heater-1", "kind": "water_heater", "target_temp_c": 95},
            {"id": "heater-2", "kind": "water_heater", "target_temp_c": 95},
            {"id": "microwave-1", "kind": "microwave"},
            {"id": "occupancy", "kind": "occupancy_sensor", "capacity": 12},
        ]
        raw_stations.append(
            {
                "id": f"s{i:05d}",
                "name_zh": f"驿站{i}",
                "name_en": f"Station {i}",
                "setting": "commercial",
                "area": f"area-{i % 50}",
                "lat": seed_lat + (i // side) * 0.002,
                "lon": seed_lon + (i % side) * 0.002,
                "address_zh": "合成",
                "address_en": "synthetic",
                "hours": "24h",
                "devices": devices,
            }
        )
    return parse_fleet(
        {
            "network": "synthetic",
            "name_zh": "合成",
            "name_en": "Synthetic",
            "timezone": "Asia/Shanghai",
            "stations": raw_stations,
        },
        "synthetic",
    )
