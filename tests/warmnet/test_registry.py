"""The fleet registry: the bundled first network, opening hours in local time, and
errors that tell the person editing the YAML which station and field are wrong."""

import copy
import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from launcher import cli
from warmnet.kinds import DeviceKind
from warmnet.registry import (
    Fleet,
    OpeningHours,
    RegistryError,
    fleet_json,
    load_fleet,
    parse_fleet,
    synthetic_fleet,
)


def utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def station(station_id: str = "st-a", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": station_id,
        "name_zh": "测试驿站",
        "name_en": "Test Station",
        "setting": "community",
        "area": "panmen",
        "lat": 31.29,
        "lon": 120.61,
        "address_zh": "姑苏区测试路1号",
        "address_en": "1 Test Road",
        "hours": "24h",
        "devices": [
            {"id": "outlet-01", "kind": "charging_outlet"},
            {"id": "heater-1", "kind": "water_heater", "target_temp_c": 95},
            {"id": "microwave-1", "kind": "microwave"},
            {"id": "occupancy", "kind": "occupancy_sensor", "capacity": 8},
        ],
    }
    data.update(overrides)
    return data


def registry(*stations: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "network": "test",
        "name_zh": "测试网络",
        "name_en": "Test Network",
        "timezone": "Asia/Shanghai",
        "stations": list(stations) or [station("st-a"), station("st-b")],
        **overrides,
    }


def registry_error(data: Any) -> str:
    with pytest.raises(RegistryError) as info:
        parse_fleet(data, "test.yaml")
    return str(info.value)


@pytest.fixture(scope="module")
def bundled() -> Fleet:
    return load_fleet()


# --- the bundled network -----------------------------------------------------------


def test_bundled_fleet_has_36_stations_with_unique_ids(bundled: Fleet) -> None:
    ids = [s.id for s in bundled.stations]

    assert len(ids) == 36
    assert len(set(ids)) == 36
    assert bundled.network == "wumenqiao"
    assert bundled.timezone == "Asia/Shanghai"


def test_bundled_stations_lie_in_suzhou_gusu_district(bundled: Fleet) -> None:
    outside = [
        s.id
        for s in bundled.stations
        if not (31.24 <= s.lat <= 31.36 and 120.55 <= s.lon <= 120.68)
    ]

    assert outside == []


@pytest.mark.parametrize(
    "kind", [DeviceKind.CHARGING_OUTLET, DeviceKind.WATER_HEATER, DeviceKind.MICROWAVE]
)
def test_every_bundled_station_has_outlets_heaters_and_microwaves(
    bundled: Fleet, kind: DeviceKind
) -> None:
    assert [s.id for s in bundled.stations if not s.devices_of(kind)] == []


def test_every_bundled_station_has_one_occupancy_sensor_with_seats(bundled: Fleet) -> None:
    for s in bundled.stations:
        sensors = s.devices_of(DeviceKind.OCCUPANCY_SENSOR)
        assert len(sensors) == 1, s.id
        assert sensors[0].capacity is not None and sensors[0].capacity >= 1, s.id
        assert s.seats == sensors[0].capacity


def test_bundled_heaters_have_a_setpoint_in_the_documented_range(bundled: Fleet) -> None:
    targets = [
        d.target_temp_c for s in bundled.stations for d in s.devices_of(DeviceKind.WATER_HEATER)
    ]

    assert targets
    assert all(t is not None and 85 <= t <= 98 for t in targets)


def test_bundled_device_lookup(bundled: Fleet) -> None:
    spec = bundled.device("wmq-01", "heater-1")

    assert spec is not None
    assert spec.kind is DeviceKind.WATER_HEATER
    assert bundled.device("wmq-01", "no-such-device") is None
    assert bundled.device("no-such-station", "heater-1") is None
    assert bundled.station("no-such-station") is None
    assert bundled.device_count == sum(len(s.devices) for s in bundled.stations)


def test_device_ids_repeat_across_stations_but_lookup_is_per_station(bundled: Fleet) -> None:
    a, b = bundled.device("wmq-01", "outlet-01"), bundled.device("wmq-02", "outlet-01")

    assert a is not None and b is not None
    assert bundled.device_count > len({d.id for s in bundled.stations for d in s.devices})


def test_report_interval_defaults_per_kind_and_can_be_overridden() -> None:
    devices = [
        {"id": "outlet-01", "kind": "charging_outlet", "interval_s": 2.5},
        {"id": "occupancy", "kind": "occupancy_sensor", "capacity": 4},
    ]
    fleet = parse_fleet(registry(station(devices=devices)))

    outlet, sensor = fleet.stations[0].devices

    assert outlet.report_interval_s == 2.5
    assert sensor.report_interval_s == 30.0


# --- opening hours -----------------------------------------------------------------


@pytest.mark.parametrize("at", [time(0, 0), time(12, 0), time(23, 59, 59)])
def test_24h_is_always_open(at: time) -> None:
    assert OpeningHours.parse("24h").is_open(at)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (time(6, 59), False),
        (time(7, 0), True),  # start minute is open
        (time(12, 0), True),
        (time(21, 59), True),
        (time(22, 0), False),  # end minute is closed
        (time(23, 0), False),
    ],
)
def test_daytime_hours(at: time, is_open: bool) -> None:
    assert OpeningHours.parse("07:00-22:00").is_open(at) is is_open


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (time(17, 59), False),
        (time(18, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_overnight_hours_wrap_past_midnight(at: time, is_open: bool) -> None:
    assert OpeningHours.parse("18:00-08:00").is_open(at) is is_open


@pytest.mark.parametrize(
    "text", ["25:00-26:00", "07:00", "7-22", "07:00-22:00-23:00", "always", "", "24:00-06:00"]
)
def test_malformed_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected '24h' or 'HH:MM-HH:MM'"):
        OpeningHours.parse(text)


def test_empty_interval_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="write '24h'"):
        OpeningHours.parse("08:00-08:00")


@pytest.mark.parametrize("text", ["07:00Z-22:00", "07:00+08:00-22:00"])
def test_hours_with_a_utc_offset_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        OpeningHours.parse(text)


def test_fleet_is_open_uses_the_fleet_time_zone() -> None:
    fleet = parse_fleet(registry(station("st-a", hours="07:00-22:00")))
    st = fleet.stations[0]

    # 23:30 UTC is 07:30 the next morning in Suzhou (UTC+8): open.
    assert fleet.is_open(st, utc_ms("2026-01-01T23:30:00"))
    # 22:30 UTC is 06:30 in Suzhou: still closed.
    assert not fleet.is_open(st, utc_ms("2026-01-01T22:30:00"))
    # 14:30 UTC is 22:30 in Suzhou: closed, although 14:30 would be open in UTC.
    assert not fleet.is_open(st, utc_ms("2026-01-01T14:30:00"))
    # Boundaries in local time: 23:00 UTC = 07:00 opens, 14:00 UTC = 22:00 closes.
    assert fleet.is_open(st, utc_ms("2026-01-01T23:00:00"))
    assert not fleet.is_open(st, utc_ms("2026-01-01T14:00:00"))
    assert fleet.is_open(st, utc_ms("2026-01-01T13:59:59"))


def test_overnight_station_is_open_across_utc_and_local_midnight() -> None:
    fleet = parse_fleet(registry(station("st-a", hours="20:00-08:00")))
    st = fleet.stations[0]

    assert fleet.is_open(st, utc_ms("2026-01-01T12:00:00"))  # 20:00 local
    assert fleet.is_open(st, utc_ms("2026-01-01T16:00:00"))  # 00:00 local
    assert fleet.is_open(st, utc_ms("2026-01-01T23:59:00"))  # 07:59 local
    assert not fleet.is_open(st, utc_ms("2026-01-02T00:00:00"))  # 08:00 local
    assert not fleet.is_open(st, utc_ms("2026-01-01T04:00:00"))  # 12:00 local


def test_opening_hours_follow_another_time_zone() -> None:
    fleet = parse_fleet(registry(station("st-a", hours="07:00-22:00"), timezone="Europe/Berlin"))

    # 06:30 UTC is 07:30 in Berlin in winter (UTC+1).
    assert fleet.is_open(fleet.stations[0], utc_ms("2026-01-15T06:30:00"))
    assert not fleet.is_open(fleet.stations[0], utc_ms("2026-01-15T05:30:00"))


# --- invalid registries ------------------------------------------------------------


def test_minimal_registry_is_valid() -> None:
    fleet = parse_fleet(registry())

    assert [s.id for s in fleet.stations] == ["st-a", "st-b"]


def test_duplicate_station_id_is_named() -> None:
    message = registry_error(registry(station("st-a"), station("st-a")))

    assert "test.yaml" in message
    assert "duplicate station id 'st-a'" in message


def test_duplicate_device_id_names_station_and_device() -> None:
    devices = station()["devices"] + [{"id": "outlet-01", "kind": "charging_outlet"}]

    message = registry_error(registry(station("st-a"), station("st-b", devices=devices)))

    assert "stations[st-b]" in message
    assert "duplicate device id 'outlet-01'" in message


def edit(mutate: Any) -> dict[str, Any]:
    """A valid two-station registry with `mutate(second_station)` applied."""
    data = registry(station("st-a"), station("st-b"))
    mutate(data["stations"][1])
    return data


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda s: s["devices"][0].update(kind="toaster"),
            ["stations[st-b].devices[0].kind", "charging_outlet"],
            id="bad-kind",
        ),
        pytest.param(
            lambda s: s.update(lat=200),
            ["stations[st-b].lat", "less than or equal to 90"],
            id="lat",
        ),
        pytest.param(
            lambda s: s.update(hours="25:00-26:00"),
            ["stations[st-b].hours", "'25:00-26:00'"],
            id="hours",
        ),
        pytest.param(
            lambda s: s["devices"][0].update(capacity=4),
            ["stations[st-b].devices[0]", "capacity is only for occupancy_sensor"],
            id="capacity-on-outlet",
        ),
        pytest.param(
            lambda s: s["devices"][3].pop("capacity"),
            ["stations[st-b].devices[3]", "occupancy_sensor needs a capacity"],
            id="sensor-without-capacity",
        ),
        pytest.param(
            lambda s: s["devices"][0].update(target_temp_c=95),
            ["stations[st-b].devices[0]", "target_temp_c is only for water_heater"],
            id="setpoint-on-outlet",
        ),
        pytest.param(
            lambda s: s["devices"].append({"id": "gateway", "kind": "microwave"}),
            ["stations[st-b]", "'gateway' is reserved"],
            id="gateway-device",
        ),
        pytest.param(
            lambda s: s["devices"].append(
                {"id": "occupancy-2", "kind": "occupancy_sensor", "capacity": 4}
            ),
            ["stations[st-b]", "at most one occupancy_sensor"],
            id="two-sensors",
        ),
        pytest.param(
            lambda s: s.update(id="ST-B"), ["stations[ST-B].id", "pattern"], id="uppercase-id"
        ),
        pytest.param(
            lambda s: s.update(devices=[]),
            ["stations[st-b].devices", "at least 1"],
            id="no-devices",
        ),
        pytest.param(
            lambda s: s.update(setting="mall"), ["stations[st-b].setting"], id="bad-setting"
        ),
        pytest.param(
            lambda s: s.update(colour="red"),
            ["stations[st-b].colour", "Extra inputs are not permitted"],
            id="unknown-field",
        ),
        pytest.param(lambda s: s.pop("lon"), ["stations[st-b].lon", "Field required"], id="no-lon"),
    ],
)
def test_invalid_station_names_the_station_id_and_field(mutate: Any, expected: list[str]) -> None:
    message = registry_error(edit(mutate))

    for part in expected:
        assert part in message


def test_bad_timezone_is_named() -> None:
    message = registry_error(registry(timezone="Asia/Suzhou"))

    assert "timezone" in message
    assert "unknown IANA time zone 'Asia/Suzhou'" in message


def test_station_without_an_id_is_named_by_position() -> None:
    bad = station("st-b")
    del bad["id"]

    message = registry_error(registry(station("st-a"), bad))

    assert "stations[1].id: Field required" in message


def test_empty_document_is_a_registry_error() -> None:
    assert "valid dictionary" in registry_error(None)


def test_load_fleet_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(registry(), allow_unicode=True), encoding="utf-8")

    fleet = load_fleet(path)

    assert fleet.station("st-b") is not None
    assert fleet.station("st-b").name_zh == "测试驿站"  # type: ignore[union-attr]


def test_unreadable_file_is_a_registry_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(RegistryError, match="cannot read registry") as info:
        load_fleet(missing)

    assert str(missing) in str(info.value)


def test_directory_instead_of_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read registry"):
        load_fleet(tmp_path)


def test_invalid_yaml_is_a_registry_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("network: [unclosed\n", encoding="utf-8")

    with pytest.raises(RegistryError, match="not valid YAML") as info:
        load_fleet(path)

    assert str(path) in str(info.value)


def test_invalid_content_in_a_file_names_path_station_and_field(tmp_path: Path) -> None:
    data = copy.deepcopy(registry())
    data["stations"][1]["lat"] = 200
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    with pytest.raises(RegistryError) as info:
        load_fleet(path)

    assert str(path) in str(info.value)
    assert "stations[st-b].lat" in str(info.value)


def test_non_utf8_file_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes(yaml.safe_dump(registry(), allow_unicode=True).encode("gbk"))

    with pytest.raises(RegistryError, match=str(path)):
        load_fleet(path)


def test_json_registry_loads_the_same_fleet_as_its_yaml(tmp_path: Path) -> None:
    bundled = load_fleet()
    path = tmp_path / "fleet.json"
    path.write_text(fleet_json(bundled), encoding="utf-8")

    assert load_fleet(path) == bundled


def test_invalid_json_registry_names_path_station_and_field(tmp_path: Path) -> None:
    data = copy.deepcopy(registry())
    data["stations"][1]["lat"] = 200
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(RegistryError) as info:
        load_fleet(path)

    assert str(path) in str(info.value)
    assert "stations[st-b].lat" in str(info.value)


def test_malformed_json_registry_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"network": "x", ', encoding="utf-8")

    with pytest.raises(RegistryError, match="not valid JSON") as info:
        load_fleet(path)

    assert str(path) in str(info.value)


def test_registry_json_command_writes_a_loadable_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["registry", "json"]) == 0
    path = tmp_path / "fleet.json"
    path.write_text(capsys.readouterr().out, encoding="utf-8")

    assert load_fleet(path) == load_fleet()


# --- synthetic fleets --------------------------------------------------------------


def test_synthetic_fleet_of_100_stations() -> None:
    fleet = synthetic_fleet(100)

    assert len(fleet.stations) == 100
    assert fleet.device_count == 1400
    assert len({s.id for s in fleet.stations}) == 100
    assert len({(s.lat, s.lon) for s in fleet.stations}) == 100


def test_synthetic_fleet_outlet_count_is_configurable() -> None:
    fleet = synthetic_fleet(3, outlets=2)

    assert fleet.device_count == 3 * (2 + 4)
    assert all(len(s.devices_of(DeviceKind.CHARGING_OUTLET)) == 2 for s in fleet.stations)
