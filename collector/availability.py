"""What riders see, derived from live state by pure functions (no I/O, time injected).

Per device: available | in_use | out_of_order | offline | unknown.
- offline: the station gateway said it is offline or stopped (we know it is unreachable);
- unknown: no data yet, or the newest is older than the freshness limit.
Water heaters are `available` when they have hot water now, `in_use` while heating
up or refilling (not ready yet), `out_of_order` with a fault code.
"""

from collector.live import StationLive
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import (
    ChargingOutletTelemetry,
    DeviceAvailability,
    GatewayState,
    KindCounts,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    StationAvailability,
    Telemetry,
    WaterHeaterTelemetry,
)
from warmnet.registry import Station

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
    """Status from a current reading of a device."""
    if isinstance(reading, ChargingOutletTelemetry):
        return _OUTLET[reading.state]
    if isinstance(reading, MicrowaveTelemetry):
        return _MICROWAVE[reading.state]
    if isinstance(reading, WaterHeaterTelemetry):
        if reading.fault_code is not None:
            return DeviceStatus.OUT_OF_ORDER
        return DeviceStatus.AVAILABLE if hot_water_ready(reading) else DeviceStatus.IN_USE
    return DeviceStatus.AVAILABLE  # occupancy sensor: working


def summarize(
    station: Station,
    live: StationLive,
    *,
    now_ms: int,
    freshness_ms: int,
    open_now: bool,
    under_maintenance: frozenset[str | None] = frozenset(),
) -> StationAvailability:
    """`under_maintenance`: device ids silenced for planned maintenance (None: the
    whole station); riders see them out of order, whatever they report."""
    gateway = live.gateway
    online = None if gateway is None else gateway.state is GatewayState.ONLINE
    counts = {kind: KindCounts() for kind in DeviceKind}
    devices: list[DeviceAvailability] = []
    hot = False
    seats_free: int | None = None

    for spec in station.devices:
        reading = live.devices.get(spec.id)
        current = reading is not None and now_ms - reading.ts <= freshness_ms
        if None in under_maintenance or spec.id in under_maintenance:
            status = DeviceStatus.OUT_OF_ORDER
        elif online is False:
            status = DeviceStatus.OFFLINE
        elif reading is None or not current:
            status = DeviceStatus.UNKNOWN
        else:
            status = reading_status(reading)
            if isinstance(reading, WaterHeaterTelemetry):
                hot = hot or hot_water_ready(reading)
            if isinstance(reading, OccupancySensorTelemetry):
                capacity = spec.capacity or reading.capacity
                seats_free = max(0, capacity - reading.occupied)
        counts[spec.kind].add(status)
        devices.append(
            DeviceAvailability(
                device=spec.id,
                kind=spec.kind,
                status=status,
                observed_at=reading.ts if reading is not None else None,
            )
        )

    stale = live.newest_ts is None or now_ms - live.newest_ts > freshness_ms
    return StationAvailability(
        station=station.id,
        updated_at=now_ms,
        newest_data_at=live.newest_ts,
        stale=stale,
        online=online,
        open_now=open_now,
        hot_water_ready=hot and online is not False,
        seats_total=station.seats,
        seats_free=seats_free if online is not False else None,
        counts=counts,
        devices=devices,
    )
