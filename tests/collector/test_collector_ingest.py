"""Classifying incoming messages: accepted telemetry tagged from the registry, gateway
status updates, and rejections with a stable reason code."""

import json
from typing import Any

import pytest

from collector.ingest.classify import Accepted, AcceptedEvent, GatewayUpdate, Rejected, classify
from warmnet import topics
from warmnet.kinds import DeviceKind
from warmnet.messages import GatewayState, MicrowaveTelemetry
from warmnet.registry import Fleet, load_fleet

TS = 1_767_225_600_000

FIELDS: dict[DeviceKind, dict[str, Any]] = {
    DeviceKind.CHARGING_OUTLET: {
        "state": "charging",
        "power_w": 180.5,
        "voltage_v": 230.0,
        "current_a": 0.8,
        "energy_wh": 12.0,
        "temp_c": 31.0,
    },
    DeviceKind.WATER_HEATER: {
        "water_temp_c": 92.0,
        "target_temp_c": 95.0,
        "heating": True,
        "level_pct": 80.0,
        "power_w": 3000.0,
    },
    DeviceKind.MICROWAVE: {"state": "idle", "power_w": 0.0, "remaining_s": 0},
    DeviceKind.OCCUPANCY_SENSOR: {"occupied": 3, "capacity": 30},
}


def payload(kind: DeviceKind, **overrides: Any) -> bytes:
    return json.dumps({"ts": TS, "seq": 1, **FIELDS[kind], **overrides}).encode()


def status(state: str = "online", session: int = 1) -> bytes:
    return json.dumps({"state": state, "session": session, "ts": TS}).encode()


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet()


def rejected(outcome: object) -> Rejected:
    assert isinstance(outcome, Rejected), outcome
    return outcome


@pytest.mark.parametrize(
    ("device", "kind"),
    [
        ("outlet-01", DeviceKind.CHARGING_OUTLET),
        ("heater-1", DeviceKind.WATER_HEATER),
        ("microwave-1", DeviceKind.MICROWAVE),
        ("occupancy", DeviceKind.OCCUPANCY_SENSOR),
    ],
)
def test_valid_telemetry_is_accepted_as_a_point_of_its_kind(
    fleet: Fleet, device: str, kind: DeviceKind
) -> None:
    outcome = classify(topics.telemetry("wmq-01", device), payload(kind), fleet)

    assert isinstance(outcome, Accepted)
    assert outcome.point.measurement == kind.value
    assert (outcome.point.station, outcome.point.device) == ("wmq-01", device)
    assert outcome.point.ts_ms == TS
    assert outcome.reading.ts == TS


def test_point_is_tagged_with_the_area_from_the_registry(fleet: Fleet) -> None:
    by_area = {s.area: s for s in fleet.stations}
    assert len(by_area) > 1

    for area, st in by_area.items():
        outcome = classify(
            topics.telemetry(st.id, "outlet-01"), payload(DeviceKind.CHARGING_OUTLET), fleet
        )
        assert isinstance(outcome, Accepted)
        assert outcome.point.area == area


def test_accepted_reading_carries_the_fields(fleet: Fleet) -> None:
    outcome = classify(
        topics.telemetry("wmq-01", "microwave-1"),
        payload(DeviceKind.MICROWAVE, state="running", power_w=800.0, remaining_s=45),
        fleet,
    )

    assert isinstance(outcome, Accepted)
    assert isinstance(outcome.reading, MicrowaveTelemetry)
    assert outcome.reading.remaining_s == 45
    assert outcome.point.fields["state"] == "running"


def test_gateway_status_becomes_a_gateway_update(fleet: Fleet) -> None:
    outcome = classify(topics.gateway_status("wmq-03"), status("offline", session=7), fleet)

    assert isinstance(outcome, GatewayUpdate)
    assert outcome.station == "wmq-03"
    assert outcome.status.state is GatewayState.OFFLINE
    assert outcome.status.session == 7


@pytest.mark.parametrize(
    "topic",
    [
        "warm/v1/WMQ/x/telemetry",
        "foo/bar",
        "warm/v1/wmq-01/outlet-01/telemetry/extra",
        "warm/v1/wmq-01/+/telemetry",
        "warm/v1/wmq-01/gateway/telemetry",
        "",
    ],
)
def test_bad_topic_is_rejected(fleet: Fleet, topic: str) -> None:
    outcome = rejected(classify(topic, payload(DeviceKind.CHARGING_OUTLET), fleet))

    assert outcome.reason == "bad_topic"
    assert repr(topic) in outcome.detail


def test_unknown_station_is_rejected(fleet: Fleet) -> None:
    outcome = rejected(
        classify(
            topics.telemetry("wmq-99", "outlet-01"), payload(DeviceKind.CHARGING_OUTLET), fleet
        )
    )

    assert outcome.reason == "unknown_station"
    assert "'wmq-99'" in outcome.detail


def test_gateway_status_of_unknown_station_is_rejected(fleet: Fleet) -> None:
    assert rejected(classify(topics.gateway_status("wmq-99"), status(), fleet)).reason == (
        "unknown_station"
    )


def test_unknown_device_is_rejected(fleet: Fleet) -> None:
    outcome = rejected(
        classify(
            topics.telemetry("wmq-02", "outlet-99"), payload(DeviceKind.CHARGING_OUTLET), fleet
        )
    )

    assert outcome.reason == "unknown_device"
    assert "'outlet-99'" in outcome.detail
    assert "'wmq-02'" in outcome.detail


@pytest.mark.parametrize(
    "topic",
    [
        topics.command("wmq-01", "outlet-01"),
        topics.availability("wmq-01"),
    ],
)
def test_topics_the_collector_does_not_ingest_are_rejected(fleet: Fleet, topic: str) -> None:
    outcome = rejected(classify(topic, payload(DeviceKind.CHARGING_OUTLET), fleet))

    assert outcome.reason == "unexpected_topic"
    assert topic in outcome.detail


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b'{"ts": ', "malformed_json", "payload"),
        (b"\xff\xfe\x00", "malformed_json", "payload"),
        (payload(DeviceKind.CHARGING_OUTLET, seq="1"), "schema", "seq"),
        (payload(DeviceKind.CHARGING_OUTLET, colour="red"), "schema", "colour"),
        (payload(DeviceKind.CHARGING_OUTLET, temp_c=900.0), "out_of_range", "temp_c"),
        (payload(DeviceKind.CHARGING_OUTLET, power_w=-5.0), "out_of_range", "power_w"),
        (payload(DeviceKind.CHARGING_OUTLET, ts=1_000), "out_of_range", "ts"),
        (b"{" + b" " * 5000 + b"}", "oversized", "bytes"),
    ],
)
def test_invalid_payloads_are_rejected_with_their_reason(
    fleet: Fleet, raw: bytes, reason: str, field: str
) -> None:
    outcome = rejected(classify(topics.telemetry("wmq-01", "outlet-01"), raw, fleet))

    assert outcome.reason == reason
    assert field in outcome.detail


def test_payload_of_another_kind_is_rejected_by_the_registry_kind(fleet: Fleet) -> None:
    # A perfectly valid outlet payload, published on a microwave's topic.
    outcome = rejected(
        classify(
            topics.telemetry("wmq-01", "microwave-1"), payload(DeviceKind.CHARGING_OUTLET), fleet
        )
    )

    assert outcome.reason == "schema"
    assert "remaining_s" in outcome.detail


def test_invalid_gateway_status_is_rejected(fleet: Fleet) -> None:
    outcome = rejected(classify(topics.gateway_status("wmq-01"), b"online", fleet))

    assert outcome.reason == "malformed_json"


def test_device_event_becomes_a_point_tagged_by_type(fleet: Fleet) -> None:
    raw = json.dumps(
        {"ts": TS, "seq": 4, "type": "fault_raised", "code": "OVERHEAT", "detail": "socket hot"}
    ).encode()
    outcome = classify(topics.event("wmq-01", "outlet-01"), raw, fleet)

    assert isinstance(outcome, AcceptedEvent)
    assert outcome.point.measurement == "event"
    assert outcome.point.tags == (("type", "fault_raised"),)
    assert outcome.point.fields == {
        "seq": 4,
        "historical": False,
        "code": "OVERHEAT",
        "detail": "socket hot",
    }


def test_invalid_event_is_rejected_with_reason(fleet: Fleet) -> None:
    raw = json.dumps({"ts": TS, "seq": 4, "type": "exploded"}).encode()
    outcome = rejected(classify(topics.event("wmq-01", "outlet-01"), raw, fleet))

    assert outcome.reason == "schema"
    assert "type" in outcome.detail
