"""Fixtures for the API tests: a small hand-made fleet, a fake clock, a live store,
a summary factory and a TestClient. Unit tests here never touch the network."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.live import LiveAvailability
from api.settings import ApiSettings
from warmnet.clock import FakeClock
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import DeviceAvailability, KindCounts, StationAvailability
from warmnet.registry import Fleet, parse_fleet

# Rider stands at the origin; stations lie due north, ~111 m per 0.001 deg of latitude.
ORIGIN = (31.2900, 120.6100)


def _station(sid: str, dlat: float, hours: str = "24h") -> dict[str, Any]:
    return {
        "id": sid,
        "name_zh": f"驿站{sid}",
        "name_en": f"Station {sid}",
        "setting": "commercial",
        "area": "panmen",
        "lat": ORIGIN[0] + dlat,
        "lon": ORIGIN[1],
        "address_zh": "人民路1号",
        "address_en": "1 Renmin Road",
        "hours": hours,
        "devices": [
            {"id": "outlet-01", "kind": "charging_outlet"},
            {"id": "outlet-02", "kind": "charging_outlet"},
            {"id": "heater-1", "kind": "water_heater", "target_temp_c": 95},
            {"id": "microwave-1", "kind": "microwave"},
            {"id": "occupancy", "kind": "occupancy_sensor", "capacity": 10},
        ],
    }


# Registry order deliberately differs from distance order.
FLEET_DATA: dict[str, Any] = {
    "network": "testnet",
    "name_zh": "测试网络",
    "name_en": "Test Network",
    "timezone": "Asia/Shanghai",
    "stations": [
        _station("far", 0.030),  # ~3.3 km
        _station("near", 0.001),  # ~111 m
        _station("mid", 0.010),  # ~1.1 km
        # FakeClock starts at 2026-01-01T00:00Z = 08:00 in Asia/Shanghai: just closed.
        _station("night", 0.002, hours="20:00-08:00"),
    ],
}


@pytest.fixture
def fleet() -> Fleet:
    return parse_fleet(FLEET_DATA, "test fleet")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def live() -> LiveAvailability:
    return LiveAvailability()


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(api_client_id="warmnet-api-test", freshness_s=120)


MakeSummary = Callable[..., StationAvailability]


@pytest.fixture
def make_summary(fleet: Fleet, clock: FakeClock) -> MakeSummary:
    """Build a consistent `StationAvailability` for a station of `fleet`."""

    def make(
        station_id: str,
        *,
        updated_at: int | None = None,
        outlets_free: int = 1,
        microwaves_free: int = 1,
        hot_water_ready: bool = True,
        seats_free: int | None = 4,
        online: bool | None = True,
        open_now: bool = True,
        stale: bool = False,
        omit: tuple[str, ...] = (),
    ) -> StationAvailability:
        station = fleet.station(station_id)
        assert station is not None, station_id
        now = clock.now_ms() if updated_at is None else updated_at
        free = {DeviceKind.CHARGING_OUTLET: outlets_free, DeviceKind.MICROWAVE: microwaves_free}
        counts: dict[DeviceKind, KindCounts] = {}
        devices = []
        for spec in station.devices:
            if spec.kind in free:
                status = DeviceStatus.AVAILABLE if free[spec.kind] > 0 else DeviceStatus.IN_USE
                free[spec.kind] -= 1
            elif spec.kind is DeviceKind.WATER_HEATER and not hot_water_ready:
                status = DeviceStatus.OUT_OF_ORDER
            else:
                status = DeviceStatus.AVAILABLE
            counts.setdefault(spec.kind, KindCounts()).add(status)
            if spec.id not in omit:
                devices.append(
                    DeviceAvailability(
                        device=spec.id, kind=spec.kind, status=status, observed_at=now - 5_000
                    )
                )
        return StationAvailability(
            station=station_id,
            updated_at=now,
            newest_data_at=now - 5_000,
            stale=stale,
            online=online,
            open_now=open_now,
            hot_water_ready=hot_water_ready,
            seats_total=station.seats,
            seats_free=seats_free,
            counts=counts,
            devices=devices,
        )

    return make


@pytest.fixture
def client(
    settings: ApiSettings, fleet: Fleet, live: LiveAvailability, clock: FakeClock
) -> Iterator[TestClient]:
    with TestClient(create_app(settings, fleet, live, clock=clock)) as c:
        yield c
