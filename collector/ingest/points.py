"""Time-series points and their InfluxDB line-protocol encoding.

One measurement per device kind, plus `event` for device events; tags station,
device, area (and `type` for events; low cardinality: never seq or session ids); a
point is keyed by (measurement, tags, ts) so a redelivered message overwrites itself:
writes are idempotent.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from warmnet.messages import DeviceEvent, Telemetry

EVENT_MEASUREMENT = "event"

FieldValue = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    station: str
    device: str
    area: str
    ts_ms: int
    fields: dict[str, FieldValue]
    tags: tuple[tuple[str, str], ...] = ()  # extra tags, sorted by key

    @property
    def key(self) -> tuple[str, str, str, tuple[tuple[str, str], ...], int]:
        return (self.measurement, self.station, self.device, self.tags, self.ts_ms)


def from_telemetry(kind: str, station: str, device: str, area: str, reading: Telemetry) -> Point:
    # The instance dict, not `for name, value in reading`: iterating a pydantic model
    # costs more than validating it (profiled in bench/README.md).
    fields: dict[str, FieldValue] = {
        name: value for name, value in reading.__dict__.items() if value is not None
    }
    del fields["ts"]
    return Point(kind, station, device, area, reading.ts, fields)


def from_event(station: str, device: str, area: str, event: DeviceEvent) -> Point:
    """Events are tagged by type: two different events of a device in the same
    millisecond (a session stop and a fault) are two points, not one."""
    fields: dict[str, FieldValue] = {
        k: v for k, v in event.__dict__.items() if v is not None and k not in ("ts", "type")
    }
    return Point(
        EVENT_MEASUREMENT, station, device, area, event.ts, fields, (("type", event.type.value),)
    )


def _escape_key(s: str) -> str:
    # Ids and field names never need it: test first, replace only when needed (the
    # `in` tests cost a fifth of the four replaces, on every tag of every point).
    if "," in s or " " in s or "=" in s or "\\" in s:
        return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    return s


def _escape_measurement(s: str) -> str:
    if "," in s or " " in s or "\\" in s:
        return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")
    return s


def _field(value: FieldValue) -> str:
    if type(value) is float:  # the common case first
        return repr(value)
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def line(point: Point) -> str:
    tags = (
        f"area={_escape_key(point.area)},device={_escape_key(point.device)},"
        f"station={_escape_key(point.station)}"
    )
    for k, v in point.tags:
        tags += f",{_escape_key(k)}={_escape_key(v)}"
    fields = ",".join([f"{_escape_key(k)}={_field(v)}" for k, v in point.fields.items()])
    return f"{_escape_measurement(point.measurement)},{tags} {fields} {point.ts_ms}"


def encode(points: Iterable[Point]) -> bytes:
    return "\n".join(line(p) for p in points).encode()
