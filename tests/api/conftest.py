"""Fixtures for the API tests: a small hand-made fleet, a fake clock, a live store,
a summary factory and a TestClient. Unit tests here never touch the network."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crew_support import CREW_TOKEN, OPERATOR_TOKEN, Fire
from fastapi.testclient import TestClient

from alertstore import AlertStore
from api.app import create_app
from api.auth import hash_token
from api.live import LiveAvailability
from api.settings import ApiSettings
from api.telemetry import SqliteRecentTelemetry
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


# --- crew API: tokens, a tmp alert store, recent telemetry from a tmp SQLite file ------


@pytest.fixture
def crew_settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        api_client_id="warmnet-api-test",
        api_tokens=f"alice:crew:{hash_token(CREW_TOKEN)}, "
        f"olga:operator:{hash_token(OPERATOR_TOKEN)}",
        alert_db=tmp_path / "alerts.sqlite",
        data_dir=tmp_path,
        report_limit=5,
        report_ip_limit=20,
        report_window_s=600,
        client_key_salt="test-salt",
    )


@pytest.fixture
def alert_store(crew_settings: ApiSettings, clock: FakeClock) -> Iterator[AlertStore]:
    with AlertStore(crew_settings.alert_db, clock=clock) as store:
        yield store


@pytest.fixture
def crew_client(
    crew_settings: ApiSettings,
    fleet: Fleet,
    live: LiveAvailability,
    clock: FakeClock,
    alert_store: AlertStore,
) -> Iterator[TestClient]:
    telemetry = SqliteRecentTelemetry(crew_settings.timeseries_sqlite)
    app = create_app(
        crew_settings, fleet, live, clock=clock, alerts=alert_store, telemetry=telemetry
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def fire(alert_store: AlertStore, clock: FakeClock) -> Fire:
    """Record an engine `fire` (as the collector would); returns the alert id."""

    def record(
        rule: str = "outlet-socket-overheat",
        station: str = "near",
        device: str | None = "outlet-01",
        severity: str = "critical",
        *,
        at_ms: int | None = None,
        value: Any = 61.5,
    ) -> str:
        at = clock.now_ms() if at_ms is None else at_ms
        alert_id = f"{rule}:{station}/{device or '*'}@{at}"
        alert_store.record_engine(
            "fire", alert_id, rule, station, device, severity, at, value,
            f"{rule} fired", f"{rule} zh", f"{rule} en",
        )  # fmt: skip
        return alert_id

    return record
