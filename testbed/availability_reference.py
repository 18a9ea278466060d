"""The availability summary as it was built before (commit f5d0f85): pydantic models for
every device, from full telemetry readings. Kept as the reference the plain-dict
builder (`collector.availability.summary.summary_dict`) must match byte for byte, and as the
"before" of `bench/availability.py`."""

import random

from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import (
    ChargingOutletTelemetry,
    DeviceAvailability,
    GatewayState,
    GatewayStatus,
    KindCounts,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    StationAvailability,
    Telemetry,
    WaterHeaterTelemetry,
)
from warmnet.registry import Station

HOT_WATER_MARGIN_C = 5.0
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
    if isinstance(reading, ChargingOutletTelemetry):
        return _OUTLET[reading.state]
    if isinstance(reading, MicrowaveTelemetry):
        return _MICROWAVE[reading.state]
    if isinstance(reading, WaterHeaterTelemetry):
        if reading.fault_code is not None:
            return DeviceStatus.OUT_OF_ORDER
        return DeviceStatus.AVAILABLE if hot_water_ready(reading) else DeviceStatus.IN_USE
    return DeviceStatus.AVAILABLE


def reference_summarize(
    station: Station,
    readings: dict[str, Telemetry],
    gateway: GatewayStatus | None,
    newest_ts: int | None,
    *,
    now_ms: int,
    freshness_ms: int,
    open_now: bool,
    under_maintenance: frozenset[str | None] = frozenset(),
) -> StationAvailability:
    online = None if gateway is None else gateway.state is GatewayState.ONLINE
    counts = {kind: KindCounts() for kind in DeviceKind}
    devices: list[DeviceAvailability] = []
    hot = False
    seats_free: int | None = None

    for spec in station.devices:
        reading = readings.get(spec.id)
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

    stale = newest_ts is None or now_ms - newest_ts > freshness_ms
    return StationAvailability(
        station=station.id,
        updated_at=now_ms,
        newest_data_at=newest_ts,
        stale=stale,
        online=online,
        open_now=open_now,
        hot_water_ready=hot and online is not False,
        seats_total=station.seats,
        seats_free=seats_free if online is not False else None,
        counts=counts,
        devices=devices,
    )


def random_reading(kind: DeviceKind, ts: int, rng: random.Random) -> Telemetry:
    """A valid reading of `kind` whose values sit near the status boundaries (hot water
    at exactly 5 degC below target, tank at exactly 10 %, full rooms, faults)."""
    seq = rng.randrange(1_000_000)
    if kind is DeviceKind.CHARGING_OUTLET:
        return ChargingOutletTelemetry(
            ts=ts,
            seq=seq,
            state=rng.choice(["idle", "charging", "fault"]),
            power_w=0.0,
            voltage_v=230.0,
            current_a=0.0,
            energy_wh=0.0,
            temp_c=25.0,
        )
    if kind is DeviceKind.WATER_HEATER:
        target = rng.choice([60.0, 95.0])
        return WaterHeaterTelemetry(
            ts=ts,
            seq=seq,
            water_temp_c=target - rng.choice([0.0, 4.9, 5.0, 5.1, 30.0]),
            target_temp_c=target,
            heating=rng.random() < 0.5,
            level_pct=rng.choice([9.9, 10.0, 80.0]),
            power_w=0.0,
            fault_code=rng.choice([None, None, None, "E_DRY"]),
        )
    if kind is DeviceKind.MICROWAVE:
        return MicrowaveTelemetry(
            ts=ts,
            seq=seq,
            state=rng.choice(["idle", "running", "door_open", "fault"]),
            power_w=0.0,
            remaining_s=0,
        )
    return OccupancySensorTelemetry(
        ts=ts, seq=seq, occupied=rng.randrange(0, 40), capacity=rng.randrange(1, 40)
    )
