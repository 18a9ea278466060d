"""Live per-device state. Latest-by-timestamp wins: late, replayed or historical data
never overwrites newer state. Thread-safe; the writer updates it, the availability
publisher reads it."""

import threading
from dataclasses import dataclass, field

from warmnet.kinds import DeviceKind
from warmnet.messages import GatewayStatus, Telemetry, supersedes


@dataclass(slots=True)
class StationLive:
    devices: dict[str, Telemetry] = field(default_factory=dict)
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
            live = self._stations.setdefault(station, StationLive())
            held = live.devices.get(device)
            if held is not None and held.ts >= reading.ts:
                return False
            live.devices[device] = reading
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

    def known_stations(self) -> set[str]:
        with self._lock:
            return set(self._stations)

    def take_dirty(self) -> set[str]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            return dirty
