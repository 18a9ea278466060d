"""Live per-device state, compact: for each device only what riders see of its newest
live reading (its time, the status it implies, and for an occupancy sensor the
people and seats it counted), computed once when the reading is taken. 50,400
devices cost a few MB, not a pydantic model each.

Latest-by-timestamp wins: late, replayed or historical data never overwrites newer
state. Thread-safe; the pipeline updates it as soon as a message is classified (before
the batch is stored: storage stays at-least-once through the broker), the
availability publisher reads it.
"""

import threading
from dataclasses import dataclass, field
from typing import NamedTuple

from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import (
    ChargingOutletTelemetry,
    GatewayStatus,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    Telemetry,
    WaterHeaterTelemetry,
    supersedes,
)

HOT_WATER_MARGIN_C = 5.0  # within this of the target counts as hot
HOT_WATER_MIN_LEVEL_PCT = 10.0

_OUTLET = {
    "idle": DeviceStatus.AVAILABLE,
    "charging": DeviceStatus.IN_USE,
    "fault": DeviceStatus.OUT_OF_ORDER,
}
_MICROWAVE = {
    "idle": DeviceStatus.AVAILABLE,
    "running": DeviceStatus.IN_USE,
    "door_open": DeviceStatus.IN_USE,
    "fault": DeviceStatus.OUT_OF_ORDER,
}


def hot_water_ready(reading: WaterHeaterTelemetry) -> bool:
    return (
        reading.fault_code is None
        and reading.water_temp_c >= reading.target_temp_c - HOT_WATER_MARGIN_C
        and reading.level_pct >= HOT_WATER_MIN_LEVEL_PCT
    )


def reading_status(reading: Telemetry) -> DeviceStatus:
    """Status from a current reading of a device. Water heaters are `available` when
    they have hot water now (so for a heater, available <=> hot water ready), `in_use`
    while heating up or refilling, `out_of_order` with a fault code."""
    if isinstance(reading, ChargingOutletTelemetry):
        return _OUTLET[reading.state]
    if isinstance(reading, MicrowaveTelemetry):
        return _MICROWAVE[reading.state]
    if isinstance(reading, WaterHeaterTelemetry):
        if reading.fault_code is not None:
            return DeviceStatus.OUT_OF_ORDER
        return DeviceStatus.AVAILABLE if hot_water_ready(reading) else DeviceStatus.IN_USE
    return DeviceStatus.AVAILABLE  # occupancy sensor: working


class DeviceLive(NamedTuple):
    """What availability needs of a device's newest live reading."""

    ts: int
    status: DeviceStatus  # while the reading is current and the gateway not down
    occupied: int | None = None  # occupancy sensors only
    capacity: int | None = None  # occupancy sensors only: the sensor's own idea

    @classmethod
    def of(cls, reading: Telemetry) -> "DeviceLive":
        if isinstance(reading, OccupancySensorTelemetry):
            return cls(reading.ts, DeviceStatus.AVAILABLE, reading.occupied, reading.capacity)
        return cls(reading.ts, reading_status(reading))


@dataclass(slots=True)
class StationLive:
    devices: dict[str, DeviceLive] = field(default_factory=dict)
    gateway: GatewayStatus | None = None
    newest_ts: int | None = None


class LiveState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stations: dict[str, StationLive] = {}
        self._dirty: set[str] = set()

    def update(self, station: str, device: str, kind: DeviceKind, reading: Telemetry) -> bool:
        """Take `reading` if it is live and newer than what we hold; True if taken."""
        if reading.historical:
            return False
        with self._lock:
            live = self._stations.get(station)
            if live is None:
                live = self._stations[station] = StationLive()
            held = live.devices.get(device)
            if held is not None and held.ts >= reading.ts:
                return False
            live.devices[device] = DeviceLive.of(reading)
            if live.newest_ts is None or reading.ts > live.newest_ts:
                live.newest_ts = reading.ts
            self._dirty.add(station)
            return True

    def set_gateway(self, station: str, status: GatewayStatus) -> bool:
        """Take a gateway status unless it belongs to an older session (a stale last
        will must not mark a reconnected gateway offline)."""
        with self._lock:
            live = self._stations.setdefault(station, StationLive())
            if not supersedes(status, live.gateway):
                return False
            live.gateway = status
            self._dirty.add(station)
            return True

    def snapshot(self, station: str) -> StationLive:
        """A copy safe to read without the lock."""
        with self._lock:
            live = self._stations.get(station)
            if live is None:
                return StationLive()
            return StationLive(dict(live.devices), live.gateway, live.newest_ts)

    def has(self, station: str) -> bool:
        """Anything known of `station` (a reading or a gateway status)."""
        return station in self._stations  # a dict lookup: atomic under the GIL

    def known_stations(self) -> set[str]:
        with self._lock:
            return set(self._stations)

    def take_dirty(self) -> set[str]:
        """Stations changed since the last call (taken readings, gateway statuses)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            return dirty
