"""Classifying one incoming MQTT message: valid telemetry (a point to store and a
reading for live state), a device event (a point), a gateway status, or a rejection
with a reason code.

Pure: no I/O. Telemetry is validated against the model of the device's kind from the
registry, never against what the payload claims.
"""

from dataclasses import dataclass

from collector.ingest.points import Point, from_event, from_telemetry
from warmnet.messages import (
    DeviceEvent,
    GatewayStatus,
    InvalidPayloadError,
    Telemetry,
    parse_event,
    parse_gateway_status,
    parse_telemetry,
)
from warmnet.registry import Fleet
from warmnet.topics import Channel, TopicError, parse


@dataclass(frozen=True, slots=True)
class Accepted:
    point: Point
    reading: Telemetry


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    point: Point
    event: DeviceEvent


@dataclass(frozen=True, slots=True)
class GatewayUpdate:
    station: str
    status: GatewayStatus


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str  # stable code, counted per reason
    detail: str


Outcome = Accepted | AcceptedEvent | GatewayUpdate | Rejected


def classify(topic: str, payload: bytes, fleet: Fleet) -> Outcome:
    try:
        t = parse(topic)
    except TopicError as exc:
        return Rejected("bad_topic", str(exc))
    station = fleet.station(t.station)
    if station is None:
        return Rejected("unknown_station", f"station {t.station!r} is not in the registry")
    try:
        if t.channel is Channel.GATEWAY_STATUS:
            return GatewayUpdate(t.station, parse_gateway_status(payload))
        if t.channel not in (Channel.TELEMETRY, Channel.EVENT) or t.device is None:
            return Rejected("unexpected_topic", f"collector does not ingest {topic!r}")
        spec = fleet.device(t.station, t.device)
        if spec is None:
            return Rejected(
                "unknown_device", f"device {t.device!r} is not registered at {t.station!r}"
            )
        if t.channel is Channel.EVENT:
            event = parse_event(payload)
            return AcceptedEvent(from_event(t.station, t.device, station.area, event), event)
        reading = parse_telemetry(spec.kind, payload)
    except InvalidPayloadError as exc:
        return Rejected(exc.reason, exc.detail)
    return Accepted(from_telemetry(spec.kind, t.station, t.device, station.area, reading), reading)
