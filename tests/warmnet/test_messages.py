"""The payload contract: every model round-trips through JSON, and `parse_telemetry`
refuses bad payloads with a stable reason code and a detail naming the field."""

import json
from typing import Any

import pytest
from pydantic import BaseModel

from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import (
    MAX_PAYLOAD_BYTES,
    TS_MAX_MS,
    TS_MIN_MS,
    ChargingOutletTelemetry,
    DeviceAvailability,
    DeviceEvent,
    EventType,
    GatewayState,
    GatewayStatus,
    InvalidPayloadError,
    KindCounts,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    StationAvailability,
    WaterHeaterTelemetry,
    dump_json,
    parse_availability,
    parse_event,
    parse_gateway_status,
    parse_telemetry,
)

TS = 1_767_225_600_000  # 2026-01-01T00:00Z
DROP = object()  # an override value that removes the field

VALID: dict[DeviceKind, dict[str, Any]] = {
    DeviceKind.CHARGING_OUTLET: {
        "state": "charging",
        "power_w": 180.5,
        "voltage_v": 229.8,
        "current_a": 0.79,
        "energy_wh": 12.25,
        "temp_c": 31.5,
    },
    DeviceKind.WATER_HEATER: {
        "water_temp_c": 91.5,
        "target_temp_c": 95.0,
        "heating": True,
        "level_pct": 80.0,
        "power_w": 3000.0,
        "fault_code": None,
    },
    DeviceKind.MICROWAVE: {"state": "running", "power_w": 800.0, "remaining_s": 90},
    DeviceKind.OCCUPANCY_SENSOR: {"occupied": 3, "capacity": 12},
}


def reading(kind: DeviceKind, **overrides: Any) -> dict[str, Any]:
    """A valid telemetry payload of `kind` as a dict; `field=DROP` removes a field."""
    data = {"ts": TS, "seq": 7, "historical": False, **VALID[kind], **overrides}
    return {k: v for k, v in data.items() if v is not DROP}


def payload(kind: DeviceKind, **overrides: Any) -> bytes:
    return json.dumps(reading(kind, **overrides)).encode()


def rejection(kind: DeviceKind, raw: bytes) -> InvalidPayloadError:
    with pytest.raises(InvalidPayloadError) as info:
        parse_telemetry(kind, raw)
    return info.value


# --- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_every_kind_of_telemetry_round_trips_through_json(kind: DeviceKind) -> None:
    parsed = parse_telemetry(kind, payload(kind))

    again = parse_telemetry(kind, dump_json(parsed))

    assert again == parsed
    assert again.model_dump() == reading(kind)


def test_telemetry_models_are_chosen_by_kind() -> None:
    assert isinstance(
        parse_telemetry(DeviceKind.CHARGING_OUTLET, payload(DeviceKind.CHARGING_OUTLET)),
        ChargingOutletTelemetry,
    )
    assert isinstance(
        parse_telemetry(DeviceKind.WATER_HEATER, payload(DeviceKind.WATER_HEATER)),
        WaterHeaterTelemetry,
    )
    assert isinstance(
        parse_telemetry(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE)), MicrowaveTelemetry
    )
    assert isinstance(
        parse_telemetry(DeviceKind.OCCUPANCY_SENSOR, payload(DeviceKind.OCCUPANCY_SENSOR)),
        OccupancySensorTelemetry,
    )


def test_heater_fault_code_round_trips() -> None:
    parsed = parse_telemetry(
        DeviceKind.WATER_HEATER, payload(DeviceKind.WATER_HEATER, fault_code="E_DRY_BURN")
    )

    assert parse_telemetry(DeviceKind.WATER_HEATER, dump_json(parsed)) == parsed
    assert parsed.fault_code == "E_DRY_BURN"


def test_historical_flag_survives_a_round_trip() -> None:
    parsed = parse_telemetry(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, historical=True))

    assert parse_telemetry(DeviceKind.MICROWAVE, dump_json(parsed)).historical is True


def test_historical_defaults_to_false_when_absent() -> None:
    parsed = parse_telemetry(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, historical=DROP))

    assert parsed.historical is False


def test_whole_number_json_is_accepted_for_float_fields() -> None:
    # Devices commonly send `"power_w": 0`; it must not be a schema error.
    parsed = parse_telemetry(
        DeviceKind.CHARGING_OUTLET, payload(DeviceKind.CHARGING_OUTLET, power_w=0, temp_c=25)
    )

    assert parsed.power_w == 0.0
    assert isinstance(parsed.power_w, float)


@pytest.mark.parametrize(
    "event",
    [
        DeviceEvent(ts=TS, seq=1, type=EventType.FAULT_RAISED, code="E_OVERTEMP"),
        DeviceEvent(ts=TS, seq=2, type=EventType.FAULT_CLEARED, code="E_OVERTEMP"),
        DeviceEvent(ts=TS, seq=3, type=EventType.SESSION_STARTED),
        DeviceEvent(ts=TS, seq=4, type=EventType.DOOR_OPENED, detail="门未关好 door ajar"),
        DeviceEvent(ts=TS, seq=5, type=EventType.COMMAND_RESULT, code="OK", historical=True),
    ],
    ids=lambda e: e.type.value,
)
def test_device_event_round_trips(event: DeviceEvent) -> None:
    assert parse_event(dump_json(event)) == event


@pytest.mark.parametrize("state", list(GatewayState))
def test_gateway_status_round_trips(state: GatewayState) -> None:
    status = GatewayStatus(state=state, session=42, ts=TS)

    assert parse_gateway_status(dump_json(status)) == status


def test_gateway_status_payload_uses_plain_state_names() -> None:
    status = GatewayStatus(state=GatewayState.OFFLINE, session=3, ts=TS)

    assert json.loads(dump_json(status)) == {
        "state": "offline",
        "session": 3,
        "ts": TS,
        "outbox_depth": None,
        "uplink_reconnects": None,
        "clock_skew_ms": None,
    }


def test_station_availability_round_trips() -> None:
    counts = {kind: KindCounts() for kind in DeviceKind}
    counts[DeviceKind.CHARGING_OUTLET] = KindCounts(available=1, in_use=1)
    counts[DeviceKind.WATER_HEATER] = KindCounts(out_of_order=1)
    counts[DeviceKind.MICROWAVE] = KindCounts(offline=1)
    counts[DeviceKind.OCCUPANCY_SENSOR] = KindCounts(unknown=1)
    summary = StationAvailability(
        station="wmq-01",
        updated_at=TS + 5_000,
        newest_data_at=TS,
        stale=False,
        online=True,
        open_now=True,
        hot_water_ready=False,
        seats_total=12,
        seats_free=None,
        counts=counts,
        devices=[
            DeviceAvailability(
                device="outlet-01",
                kind=DeviceKind.CHARGING_OUTLET,
                status=DeviceStatus.AVAILABLE,
                observed_at=TS,
            ),
            DeviceAvailability(
                device="occupancy",
                kind=DeviceKind.OCCUPANCY_SENSOR,
                status=DeviceStatus.UNKNOWN,
                observed_at=None,
            ),
        ],
    )

    raw = dump_json(summary)

    assert parse_availability(raw) == summary
    # None fields are kept in the payload: apps see an explicit schema.
    assert json.loads(raw)["seats_free"] is None
    assert json.loads(raw)["devices"][1]["observed_at"] is None


def test_availability_of_a_large_station_fits_its_own_limit() -> None:
    # A summary lists every device, so it outgrows the 4 KiB device-payload limit.
    devices = [
        DeviceAvailability(
            device=f"outlet-{n:02d}",
            kind=DeviceKind.CHARGING_OUTLET,
            status=DeviceStatus.IN_USE,
            observed_at=TS,
        )
        for n in range(60)
    ]
    summary = StationAvailability(
        station="s00001",
        updated_at=TS,
        newest_data_at=TS,
        stale=False,
        online=True,
        open_now=True,
        hot_water_ready=True,
        seats_total=0,
        seats_free=None,
        counts={DeviceKind.CHARGING_OUTLET: KindCounts(in_use=60)},
        devices=devices,
    )
    raw = dump_json(summary)
    assert len(raw) > MAX_PAYLOAD_BYTES

    assert parse_availability(raw) == summary


# --- rejections --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ts": 1767225600000, "seq": ',
        b"not json at all",
        b"",
        b"{'ts': 1}",
    ],
    ids=["truncated", "text", "empty", "single-quotes"],
)
def test_broken_json_is_malformed_json(raw: bytes) -> None:
    err = rejection(DeviceKind.CHARGING_OUTLET, raw)

    assert err.reason == "malformed_json"
    assert "Invalid JSON" in err.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{}",
        # Latin-1 'é' inside a string value: not UTF-8.
        b'{"ts": 1767225600000, "seq": 1, "state": "idl\xe9"}',
    ],
    ids=["binary", "latin-1"],
)
def test_non_utf8_bytes_are_malformed_json(raw: bytes) -> None:
    assert rejection(DeviceKind.CHARGING_OUTLET, raw).reason == "malformed_json"


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (DeviceKind.CHARGING_OUTLET, "seq", "12"),
        (DeviceKind.CHARGING_OUTLET, "ts", "1767225600000"),
        (DeviceKind.CHARGING_OUTLET, "ts", 1_767_225_600_000.0),
        (DeviceKind.MICROWAVE, "remaining_s", 12.5),
        (DeviceKind.OCCUPANCY_SENSOR, "occupied", "3"),
        (DeviceKind.WATER_HEATER, "heating", 1),
        (DeviceKind.WATER_HEATER, "heating", "true"),
        (DeviceKind.CHARGING_OUTLET, "historical", 0),
        (DeviceKind.CHARGING_OUTLET, "power_w", "180"),
        (DeviceKind.CHARGING_OUTLET, "state", "IDLE"),
        (DeviceKind.CHARGING_OUTLET, "state", None),
        (DeviceKind.WATER_HEATER, "fault_code", "e dry"),
    ],
)
def test_wrong_types_are_schema_errors_naming_the_field(
    kind: DeviceKind, field: str, value: Any
) -> None:
    err = rejection(kind, payload(kind, **{field: value}))

    assert err.reason == "schema"
    assert err.detail.startswith(f"{field}: ")


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_missing_field_is_a_schema_error_naming_it(kind: DeviceKind) -> None:
    field = next(iter(VALID[kind]))

    err = rejection(kind, payload(kind, **{field: DROP}))

    assert err.reason == "schema"
    assert err.detail == f"{field}: Field required"


@pytest.mark.parametrize("field", ["ts", "seq"])
def test_missing_common_field_is_a_schema_error(field: str) -> None:
    err = rejection(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, **{field: DROP}))

    assert err.reason == "schema"
    assert err.detail == f"{field}: Field required"


def test_unknown_extra_field_is_a_schema_error_naming_it() -> None:
    err = rejection(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, wattage=800))

    assert err.reason == "schema"
    assert "wattage" in err.detail
    assert "Extra inputs are not permitted" in err.detail


@pytest.mark.parametrize("raw", [b"[1, 2]", b"null", b"42", b'"idle"'])
def test_json_that_is_not_an_object_is_a_schema_error(raw: bytes) -> None:
    err = rejection(DeviceKind.CHARGING_OUTLET, raw)

    assert err.reason == "schema"
    assert "object" in err.detail


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_out_of_range(token: str) -> None:
    raw = payload(DeviceKind.CHARGING_OUTLET, power_w=12345.5).replace(b"12345.5", token.encode())

    err = rejection(DeviceKind.CHARGING_OUTLET, raw)

    assert err.reason == "out_of_range"
    assert err.detail.startswith("power_w: ")


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (DeviceKind.CHARGING_OUTLET, "power_w", -1.0),
        (DeviceKind.CHARGING_OUTLET, "temp_c", 250.0),
        (DeviceKind.CHARGING_OUTLET, "current_a", 40.0),
        (DeviceKind.WATER_HEATER, "water_temp_c", 131.0),
        (DeviceKind.WATER_HEATER, "level_pct", 100.5),
        (DeviceKind.MICROWAVE, "remaining_s", -5),
        (DeviceKind.OCCUPANCY_SENSOR, "occupied", -1),
        (DeviceKind.OCCUPANCY_SENSOR, "capacity", 0),
        (DeviceKind.MICROWAVE, "seq", -1),
        (DeviceKind.MICROWAVE, "ts", TS_MIN_MS - 1),  # 2019-12-31T23:59:59.999Z
        (DeviceKind.MICROWAVE, "ts", 1_500_000_000),  # epoch *seconds*: 1970
        (DeviceKind.MICROWAVE, "ts", TS_MAX_MS),  # year 2100
        (DeviceKind.MICROWAVE, "ts", 1_767_225_600_000_000),  # epoch *microseconds*
    ],
)
def test_physically_impossible_values_are_out_of_range(
    kind: DeviceKind, field: str, value: float
) -> None:
    err = rejection(kind, payload(kind, **{field: value}))

    assert err.reason == "out_of_range"
    assert err.detail.startswith(f"{field}: ")


@pytest.mark.parametrize("ts", [TS_MIN_MS, TS_MAX_MS - 1])
def test_ts_bounds_are_inclusive_of_the_valid_range(ts: int) -> None:
    assert parse_telemetry(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, ts=ts)).ts == ts


def test_mixed_range_and_schema_errors_count_as_schema() -> None:
    err = rejection(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, power_w=-1.0, extra=1))

    assert err.reason == "schema"
    assert "power_w" in err.detail
    assert "extra" in err.detail


def test_detail_lists_at_most_five_errors() -> None:
    bad = {field: "x" for field in VALID[DeviceKind.CHARGING_OUTLET]} | {"ts": "x", "seq": "x"}

    err = rejection(DeviceKind.CHARGING_OUTLET, payload(DeviceKind.CHARGING_OUTLET, **bad))

    assert err.detail.count(";") == 4


def test_payload_is_validated_against_the_registry_kind_not_its_content() -> None:
    # An outlet's payload published on a microwave's topic.
    err = rejection(DeviceKind.MICROWAVE, payload(DeviceKind.CHARGING_OUTLET, state="idle"))

    assert err.reason == "schema"
    assert "remaining_s: Field required" in err.detail
    assert "voltage_v: Extra inputs are not permitted" in err.detail


def test_oversized_payload_is_refused_before_parsing() -> None:
    raw = b"{" + b" " * MAX_PAYLOAD_BYTES + b"}"

    err = rejection(DeviceKind.CHARGING_OUTLET, raw)

    assert err.reason == "oversized"
    assert str(len(raw)) in err.detail


def test_payload_of_exactly_the_limit_is_parsed() -> None:
    raw = payload(DeviceKind.MICROWAVE)
    raw = raw[:-1] + b" " * (MAX_PAYLOAD_BYTES - len(raw)) + b"}"
    assert len(raw) == MAX_PAYLOAD_BYTES

    assert parse_telemetry(DeviceKind.MICROWAVE, raw).remaining_s == 90


def test_error_message_carries_reason_and_detail() -> None:
    err = rejection(DeviceKind.MICROWAVE, payload(DeviceKind.MICROWAVE, power_w=-1.0))

    assert str(err) == f"out_of_range: {err.detail}"


def js(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("parse", "raw", "reason"),
    [
        (parse_gateway_status, js(state="sleeping", session=1, ts=TS), "schema"),
        (parse_gateway_status, js(state="online", session=-1, ts=TS), "out_of_range"),
        (parse_gateway_status, js(state="online", session=1), "schema"),
        (parse_gateway_status, js(state="online", session=1, ts=TS, seq=1), "schema"),
        (parse_gateway_status, b"online", "malformed_json"),
        (parse_event, js(ts=TS, seq=1, type="exploded"), "schema"),
        (parse_event, js(ts=TS, seq=1, type="fault_raised", code="bad code"), "schema"),
        (parse_event, js(ts=TS, seq=1, type="door_opened", detail="x" * 201), "schema"),
    ],
)
def test_gateway_status_and_events_are_validated_too(parse: Any, raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayloadError) as info:
        parse(raw)

    assert info.value.reason == reason


@pytest.mark.parametrize(
    "model",
    [ChargingOutletTelemetry, WaterHeaterTelemetry, MicrowaveTelemetry, OccupancySensorTelemetry],
)
def test_every_field_is_described(model: type[BaseModel]) -> None:
    undocumented = [name for name, f in model.model_fields.items() if not f.description]

    assert undocumented == []
