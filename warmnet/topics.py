"""MQTT topic builders and parsers (`warm/v1/...`).

Builders validate ids so that a topic can never contain '/', '+' or '#' from an id.
The parser is strict: anything that is not a known warmnet topic is rejected with
the reason, so the collector can dead-letter it.
"""

from dataclasses import dataclass
from enum import StrEnum

from warmnet.ids import InvalidIdError, check_id

ROOT = "warm/v1"


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    COMMAND = "command"
    GATEWAY_STATUS = "gateway/status"
    AVAILABILITY = "availability"


class TopicError(ValueError):
    """A topic that is not a warmnet topic."""


@dataclass(frozen=True, slots=True)
class Topic:
    station: str
    channel: Channel
    device: str | None = None

    def __str__(self) -> str:
        if self.device is not None:
            return f"{ROOT}/{self.station}/{self.device}/{self.channel}"
        return f"{ROOT}/{self.station}/{self.channel}"


def telemetry(station: str, device: str) -> str:
    return _device_topic(station, device, Channel.TELEMETRY)


def event(station: str, device: str) -> str:
    return _device_topic(station, device, Channel.EVENT)


def command(station: str, device: str) -> str:
    return _device_topic(station, device, Channel.COMMAND)


def gateway_status(station: str) -> str:
    return f"{ROOT}/{check_id(station, 'station id')}/{Channel.GATEWAY_STATUS}"


def availability(station: str) -> str:
    return f"{ROOT}/{check_id(station, 'station id')}/{Channel.AVAILABILITY}"


def _device_topic(station: str, device: str, channel: Channel) -> str:
    if device == "gateway":
        raise InvalidIdError("device id 'gateway' is reserved for the station gateway")
    return f"{ROOT}/{check_id(station, 'station id')}/{check_id(device, 'device id')}/{channel}"


# Subscription filters.
ALL_TELEMETRY = f"{ROOT}/+/+/{Channel.TELEMETRY}"
ALL_EVENTS = f"{ROOT}/+/+/{Channel.EVENT}"
ALL_GATEWAY_STATUS = f"{ROOT}/+/{Channel.GATEWAY_STATUS}"
ALL_AVAILABILITY = f"{ROOT}/+/{Channel.AVAILABILITY}"


def station_filter(station: str, channel: Channel) -> str:
    """Subscription filter for one station's channel (used by station-sharded collectors)."""
    station = check_id(station, "station id")
    if channel in (Channel.GATEWAY_STATUS, Channel.AVAILABILITY):
        return f"{ROOT}/{station}/{channel}"
    return f"{ROOT}/{station}/+/{channel}"


def parse(topic: str) -> Topic:
    """Parse a warmnet topic; raise TopicError with the reason if it is not one."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise TopicError(f"not a {ROOT} topic: {topic!r}")
    rest = parts[2:]
    try:
        station = check_id(rest[0], "station id")
        if rest[1:] == ["availability"]:
            return Topic(station, Channel.AVAILABILITY)
        if rest[1:] == ["gateway", "status"]:
            return Topic(station, Channel.GATEWAY_STATUS)
        if len(rest) == 3 and rest[2] in ("telemetry", "event", "command"):
            device = check_id(rest[1], "device id")
            if device == "gateway":
                raise TopicError(f"device id 'gateway' is reserved: {topic!r}")
            return Topic(station, Channel(rest[2]), device)
    except InvalidIdError as exc:
        raise TopicError(f"{exc} in topic {topic!r}") from exc
    raise TopicError(f"unknown warmnet topic shape: {topic!r}")
