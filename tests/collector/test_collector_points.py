"""Points and their InfluxDB line-protocol encoding."""

import pytest

from collector.ingest.points import FieldValue, Point, encode, from_event, from_telemetry, line
from warmnet.kinds import DeviceKind
from warmnet.messages import (
    ChargingOutletTelemetry,
    DeviceEvent,
    EventType,
    MicrowaveTelemetry,
    WaterHeaterTelemetry,
)

TS = 1_767_225_600_123


def point(**fields: FieldValue) -> Point:
    return Point("microwave", "wmq-01", "microwave-1", "panmen", TS, fields or {"power_w": 1.5})


def field_set(text: str) -> str:
    """The field-set part of a line whose measurement and tags contain no spaces."""
    _series, fields, _ts = text.split(" ")
    return fields


def test_line_has_measurement_sorted_tags_fields_and_ms_timestamp() -> None:
    assert line(point(power_w=800.0)) == (
        "microwave,area=panmen,device=microwave-1,station=wmq-01 power_w=800.0 1767225600123"
    )


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0.0, "0.0"),
        (1.0, "1.0"),
        (180.5, "180.5"),
        (-3.25, "-3.25"),
        (0, "0i"),
        (42, "42i"),
        (True, "true"),
        (False, "false"),
        ("idle", '"idle"'),
    ],
)
def test_field_values_are_typed(value: FieldValue, encoded: str) -> None:
    assert field_set(line(point(x=value))) == f"x={encoded}"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("two\nlines", r'"two\nlines"'),
        ("a,b=c d", '"a,b=c d"'),  # no escaping needed inside quotes
    ],
)
def test_string_fields_are_quoted_and_escaped(value: str, encoded: str) -> None:
    text = line(point(note=value))

    assert f"note={encoded} " in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        ("a\\b", r"a\\b"),
    ],
)
def test_tag_values_and_field_keys_are_escaped(raw: str, escaped: str) -> None:
    p = Point("charging_outlet", raw, raw, raw, TS, {raw: 1})

    assert line(p) == (
        f"charging_outlet,area={escaped},device={escaped},station={escaped} {escaped}=1i {TS}"
    )


def test_measurement_escapes_commas_and_spaces_but_not_equals() -> None:
    p = Point("a b,c=d", "s", "d", "a", TS, {"f": 1})

    assert line(p).startswith(r"a\ b\,c=d,area=a,")


def test_encode_joins_lines_with_newlines() -> None:
    a, b = point(power_w=1.0), point(power_w=2.0)

    assert encode([a, b]) == f"{line(a)}\n{line(b)}".encode()
    assert encode([]) == b""


def test_from_telemetry_keeps_fields_but_not_ts() -> None:
    reading = ChargingOutletTelemetry(
        ts=TS,
        seq=9,
        state="charging",
        power_w=180.5,
        voltage_v=230.0,
        current_a=0.8,
        energy_wh=0.0,
        temp_c=31.0,
    )

    p = from_telemetry(DeviceKind.CHARGING_OUTLET, "wmq-01", "outlet-01", "panmen", reading)

    assert p.measurement == "charging_outlet"
    assert (p.station, p.device, p.area, p.ts_ms) == ("wmq-01", "outlet-01", "panmen", TS)
    assert "ts" not in p.fields
    assert p.fields == {
        "seq": 9,
        "historical": False,
        "state": "charging",
        "power_w": 180.5,
        "voltage_v": 230.0,
        "current_a": 0.8,
        "energy_wh": 0.0,
        "temp_c": 31.0,
    }
    assert line(p) == (
        "charging_outlet,area=panmen,device=outlet-01,station=wmq-01 seq=9i,historical=false,"
        'state="charging",power_w=180.5,voltage_v=230.0,current_a=0.8,energy_wh=0.0,temp_c=31.0 '
        f"{TS}"
    )


def test_none_fields_are_omitted() -> None:
    reading = WaterHeaterTelemetry(
        ts=TS,
        seq=1,
        water_temp_c=90.0,
        target_temp_c=95.0,
        heating=True,
        level_pct=50.0,
        power_w=3000.0,
        fault_code=None,
    )

    p = from_telemetry(DeviceKind.WATER_HEATER, "wmq-01", "heater-1", "panmen", reading)

    assert "fault_code" not in p.fields
    assert "fault_code" not in line(p)
    assert "heating=true" in line(p)


def test_whole_number_float_fields_stay_floats() -> None:
    # A float field written once as 0i would conflict with its float type in InfluxDB.
    reading = MicrowaveTelemetry(ts=TS, seq=1, state="idle", power_w=0, remaining_s=0)

    text = line(from_telemetry(DeviceKind.MICROWAVE, "wmq-01", "microwave-1", "panmen", reading))

    assert "power_w=0.0," in text
    assert "remaining_s=0i " in text


def test_key_identifies_a_redelivered_point() -> None:
    a = point(power_w=1.0)
    b = point(power_w=2.0)

    assert a.key == b.key == ("microwave", "wmq-01", "microwave-1", (), TS)


def test_events_carry_their_type_as_a_tag() -> None:
    event = DeviceEvent(ts=TS, seq=9, type=EventType.FAULT_RAISED, code="OVERHEAT")
    text = line(from_event("wmq-01", "outlet-01", "panmen", event))

    assert text == (
        f"event,area=panmen,device=outlet-01,station=wmq-01,type=fault_raised "
        f'seq=9i,historical=false,code="OVERHEAT" {TS}'
    )
