"""Recent telemetry from a real InfluxDB (the suite's influxd 1.x) through /query."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from api.telemetry import InfluxRecentTelemetry, TelemetryError
from testbed.services import InfluxServer
from warmnet.kinds import DeviceKind

pytestmark = pytest.mark.integration

T = 1_767_225_600_000
CO = DeviceKind.CHARGING_OUTLET
WH = DeviceKind.WATER_HEATER


@pytest.fixture
def database(influxdb: InfluxServer) -> Iterator[str]:
    name = f"api_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)

    def line(kind: str, station: str, device: str, fields: str, ts: int) -> str:
        return f"{kind},area=panmen,device={device},station={station} {fields} {ts}"

    lines = [
        line("charging_outlet", "wmq-01", "outlet-01", 'temp_c=25.0,state="idle"', T - 2_400_000),
        line("charging_outlet", "wmq-01", "outlet-01", 'temp_c=55.0,state="charging",seq=7i',
             T - 120_000),
        line("charging_outlet", "wmq-01", "outlet-01", 'temp_c=61.5,state="charging",seq=8i',
             T - 60_000),
        line("charging_outlet", "wmq-01", "outlet-02", 'temp_c=24.0,state="idle"', T - 30_000),
        line("charging_outlet", "wmq-02", "outlet-01", 'temp_c=30.0,state="idle"', T - 30_000),
        line("water_heater", "wmq-01", "heater-1", "water_temp_c=90.0,heating=false", T - 10_000),
        line("charging_outlet", "wmq-01", "outlet-01", "temp_c=70.0", T + 60_000),  # after
    ]  # fmt: skip
    influxdb.write(name, lines)
    try:
        yield name
    finally:
        influxdb.drop_database(name)


def test_device_points_newest_first(influxdb: InfluxServer, database: str) -> None:
    source = InfluxRecentTelemetry(influxdb.url, database)
    try:
        got = source.recent("wmq-01", "outlet-01", [CO], T - 30 * 60_000, T, 50)
    finally:
        source.close()
    assert [(p.ts, p.measurement, p.station, p.device) for p in got] == [
        (T - 60_000, "charging_outlet", "wmq-01", "outlet-01"),
        (T - 120_000, "charging_outlet", "wmq-01", "outlet-01"),
    ]
    assert got[0].fields == {"temp_c": 61.5, "state": "charging", "seq": 8}


def test_station_points_across_kinds(influxdb: InfluxServer, database: str) -> None:
    source = InfluxRecentTelemetry(influxdb.url, database)
    try:
        got = source.recent("wmq-01", None, [CO, WH], T - 30 * 60_000, T, 3)
    finally:
        source.close()
    assert [(p.measurement, p.device, T - p.ts) for p in got] == [
        ("water_heater", "heater-1", 10_000),
        ("charging_outlet", "outlet-02", 30_000),
        ("charging_outlet", "outlet-01", 60_000),
    ]


def test_errors_are_telemetry_errors(influxdb: InfluxServer) -> None:
    source = InfluxRecentTelemetry(influxdb.url, "no_such_db")
    try:
        with pytest.raises(TelemetryError, match="database not found"):
            source.recent("wmq-01", "outlet-01", [CO], T - 60_000, T, 5)
    finally:
        source.close()
    down = InfluxRecentTelemetry("http://127.0.0.1:9", "x", timeout_s=1)
    try:
        with pytest.raises(TelemetryError, match="unreachable"):
            down.recent("wmq-01", "outlet-01", [CO], T - 60_000, T, 5)
        with pytest.raises(ValueError):  # ids are checked before a query is built
            down.recent("wmq-01' OR 1=1", "outlet-01", [CO], T - 60_000, T, 5)
    finally:
        down.close()
