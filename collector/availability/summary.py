"""What riders see, derived from live state by pure functions (no I/O, time injected).

Per device: available | in_use | out_of_order | offline | unknown.
- offline: the station gateway said it is offline or stopped (we know it is unreachable);
- unknown: no data yet, or the newest is older than the freshness limit.
The status a reading implies (`collector.availability.live.reading_status`) is computed when live
state takes the reading; here it is only qualified by time, gateway and maintenance.

The summary is built as plain dicts and encoded with orjson: the bytes are
exactly what pydantic's `StationAvailability` would dump (same keys, same order), at a
fraction of the cost. `summarize` parses them back into the model (tests, tools).
"""

from dataclasses import dataclass
from typing import Any

import orjson

from collector.availability.live import (
    HOT_WATER_MARGIN_C,
    HOT_WATER_MIN_LEVEL_PCT,
    StationLive,
    hot_water_ready,
    reading_status,
)
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import GatewayState, StationAvailability, parse_availability
from warmnet.registry import Station

__all__ = [
    "HOT_WATER_MARGIN_C",
    "HOT_WATER_MIN_LEVEL_PCT",
    "Layout",
    "Visible",
    "encode",
    "hot_water_ready",
    "reading_status",
    "summarize",
    "summary_dict",
    "visible",
]

_KINDS = tuple(k.value for k in DeviceKind)
_STATUSES = tuple(s.value for s in DeviceStatus)
_AVAILABLE = DeviceStatus.AVAILABLE.value
_OUT_OF_ORDER = DeviceStatus.OUT_OF_ORDER.value
_OFFLINE = DeviceStatus.OFFLINE.value
_UNKNOWN = DeviceStatus.UNKNOWN.value
_HEATER = DeviceKind.WATER_HEATER.value
_OCCUPANCY = DeviceKind.OCCUPANCY_SENSOR.value


@dataclass(frozen=True, slots=True)
class Layout:
    """What a summary needs of the registry, precomputed once per station."""

    station: str
    seats_total: int
    devices: tuple[tuple[str, str, int | None], ...]  # (id, kind, registry capacity)

    @classmethod
    def of(cls, station: Station) -> "Layout":
        return cls(
            station.id,
            station.seats,
            tuple((d.id, d.kind.value, d.capacity) for d in station.devices),
        )


def summary_dict(
    layout: Layout,
    live: StationLive,
    *,
    now_ms: int,
    freshness_ms: int,
    open_now: bool,
    under_maintenance: frozenset[str | None] = frozenset(),
) -> dict[str, Any]:
    """The station summary as JSON-ready dicts, in `StationAvailability`'s field order.

    `under_maintenance`: device ids silenced for planned maintenance (None: the whole
    station); riders see them out of order, whatever they report."""
    gateway = live.gateway
    online = None if gateway is None else gateway.state is GatewayState.ONLINE
    down = online is False
    counts = {kind: dict.fromkeys(_STATUSES, 0) for kind in _KINDS}
    devices: list[dict[str, Any]] = []
    hot = False
    seats_free: int | None = None
    whole = None in under_maintenance
    held = live.devices
    oldest_current = now_ms - freshness_ms

    for device_id, kind, capacity in layout.devices:
        record = held.get(device_id)
        if whole or (under_maintenance and device_id in under_maintenance):
            status = _OUT_OF_ORDER
        elif down:
            status = _OFFLINE
        elif record is None or record.ts < oldest_current:
            status = _UNKNOWN
        else:
            status = record.status.value
            if kind == _HEATER:
                hot = hot or status == _AVAILABLE  # available heater <=> hot water ready
            elif kind == _OCCUPANCY and record.occupied is not None:
                seats = capacity or record.capacity or 0
                seats_free = max(0, seats - record.occupied)
        counts[kind][status] += 1
        devices.append(
            {
                "device": device_id,
                "kind": kind,
                "status": status,
                "observed_at": None if record is None else record.ts,
            }
        )

    newest = live.newest_ts
    return {
        "station": layout.station,
        "updated_at": now_ms,
        "newest_data_at": newest,
        "stale": newest is None or newest < oldest_current,
        "online": online,
        "open_now": open_now,
        "hot_water_ready": hot and not down,
        "seats_total": layout.seats_total,
        "seats_free": None if down else seats_free,
        "counts": counts,
        "devices": devices,
    }


Visible = tuple[object, ...]


def visible(summary: dict[str, Any]) -> Visible:
    """What a rider sees of a summary: device statuses (and so the counts), hot water,
    free seats, online, open, stale. Not the times (`updated_at`, `newest_data_at`,
    `observed_at`)."""
    return (
        summary["online"],
        summary["open_now"],
        summary["stale"],
        summary["hot_water_ready"],
        summary["seats_free"],
        *[d["status"] for d in summary["devices"]],
    )


def encode(summary: dict[str, Any]) -> bytes:
    """Compact JSON, byte for byte what `warmnet.messages.dump_json` makes of the model
    (orjson: 3 us a station where `json.dumps` took 21)."""
    return orjson.dumps(summary)


def summarize(
    station: Station,
    live: StationLive,
    *,
    now_ms: int,
    freshness_ms: int,
    open_now: bool,
    under_maintenance: frozenset[str | None] = frozenset(),
) -> StationAvailability:
    """The summary as the model riders parse (built, encoded and parsed back: slow,
    for tests and tools; the publisher sends `encode(summary_dict(...))`)."""
    summary = summary_dict(
        Layout.of(station),
        live,
        now_ms=now_ms,
        freshness_ms=freshness_ms,
        open_now=open_now,
        under_maintenance=under_maintenance,
    )
    return parse_availability(encode(summary))
