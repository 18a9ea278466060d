"""Payload models of the MQTT contract: telemetry per device kind, device events,
gateway status and station availability.

Payloads are UTF-8 JSON. Field names carry their unit. Models are strict: unknown
fields, wrong JSON types, NaN/inf and physically impossible values are rejected.
A telemetry payload is validated against the model of the device's kind from the
registry (`parse_telemetry(kind, raw)`), never against what the payload claims.
"""

from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warmnet.ids import Id
from warmnet.kinds import DeviceKind, DeviceStatus

# 2020-01-01 .. 2100-01-01 in epoch ms: anything outside is a broken clock, not data.
TS_MIN_MS = 1_577_836_800_000
TS_MAX_MS = 4_102_444_800_000
MAX_PAYLOAD_BYTES = 4096

EpochMs = Annotated[int, Field(ge=TS_MIN_MS, lt=TS_MAX_MS, description="epoch ms, UTC")]

M = TypeVar("M", bound=BaseModel)

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Reading(BaseModel):
    """Fields every device message carries."""

    model_config = _STRICT

    ts: EpochMs = Field(description="measurement time, epoch ms UTC")
    seq: int = Field(
        ge=0, lt=2**63, description="per-device sequence number assigned at the gateway"
    )
    historical: bool = Field(
        default=False,
        description="replayed from the gateway outbox after an outage: store, but never "
        "let it drive live availability or alert timers",
    )


class ChargingOutletTelemetry(Reading):
    state: Literal["idle", "charging", "fault"] = Field(description="outlet state")
    power_w: float = Field(ge=0, le=3500, description="active power, W")
    voltage_v: float = Field(ge=0, le=300, description="RMS voltage, V")
    current_a: float = Field(ge=0, le=16, description="RMS current, A")
    energy_wh: float = Field(ge=0, le=5000, description="energy of the current session, Wh")
    temp_c: float = Field(ge=-40, le=200, description="socket temperature (fire risk), degC")


class WaterHeaterTelemetry(Reading):
    water_temp_c: float = Field(ge=-20, le=130, description="water temperature, degC")
    target_temp_c: float = Field(ge=0, le=110, description="thermostat target, degC")
    heating: bool = Field(description="element is on")
    level_pct: float = Field(ge=0, le=100, description="tank fill level, %")
    power_w: float = Field(ge=0, le=12000, description="element power, W")
    fault_code: str | None = Field(
        default=None, pattern=r"^[A-Z0-9_]{1,16}$", description="controller fault code, if any"
    )


class MicrowaveTelemetry(Reading):
    state: Literal["idle", "running", "door_open", "fault"] = Field(description="oven state")
    power_w: float = Field(ge=0, le=3000, description="power draw, W")
    remaining_s: int = Field(ge=0, le=7200, description="time left on the running cycle, s")


class OccupancySensorTelemetry(Reading):
    occupied: int = Field(ge=0, le=1000, description="people in the room")
    capacity: int = Field(ge=1, le=1000, description="seats in the room")


Telemetry = (
    ChargingOutletTelemetry | WaterHeaterTelemetry | MicrowaveTelemetry | OccupancySensorTelemetry
)

TELEMETRY_MODELS: dict[DeviceKind, type[Telemetry]] = {
    DeviceKind.CHARGING_OUTLET: ChargingOutletTelemetry,
    DeviceKind.WATER_HEATER: WaterHeaterTelemetry,
    DeviceKind.MICROWAVE: MicrowaveTelemetry,
    DeviceKind.OCCUPANCY_SENSOR: OccupancySensorTelemetry,
}


class InvalidPayloadError(ValueError):
    """A payload that must not be stored. `reason` is a short stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
)


def parse_telemetry(kind: DeviceKind, raw: bytes) -> Telemetry:
    """Validate a raw telemetry payload against the model of `kind`.

    Raises InvalidPayloadError with reason `oversized`, `malformed_json`,
    `out_of_range` or `schema` and a readable detail.
    """
    return _parse(TELEMETRY_MODELS[kind], raw)


def _parse(model: type[M], raw: bytes, limit: int = MAX_PAYLOAD_BYTES) -> M:
    if len(raw) > limit:
        raise InvalidPayloadError("oversized", f"{len(raw)} bytes > {limit}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidPayloadError(_reason(exc), _describe(exc)) from None


def _reason(exc: ValidationError) -> str:
    types = {e["type"] for e in exc.errors()}
    if "json_invalid" in types or "json_type" in types:
        return "malformed_json"
    if types <= _RANGE_ERRORS:
        return "out_of_range"
    return "schema"


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class EventType(StrEnum):
    FAULT_RAISED = "fault_raised"
    FAULT_CLEARED = "fault_cleared"
    SESSION_STARTED = "session_started"
    SESSION_STOPPED = "session_stopped"
    DOOR_OPENED = "door_opened"
    DOOR_CLOSED = "door_closed"
    COMMAND_RESULT = "command_result"


class DeviceEvent(Reading):
    """A discrete event on `warm/v1/{station}/{device}/event`."""

    type: EventType = Field(description="what happened")
    code: str | None = Field(
        default=None, pattern=r"^[A-Z0-9_]{1,16}$", description="fault or result code"
    )
    detail: str | None = Field(default=None, max_length=200, description="human-readable note")
    command_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="for command_result: the id of the command it answers",
    )


def parse_event(raw: bytes) -> DeviceEvent:
    return _parse(DeviceEvent, raw)


class GatewayState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # the last will
    STOPPED = "stopped"  # clean shutdown


class GatewayStatus(BaseModel):
    """Retained on `warm/v1/{station}/gateway/status`.

    `session` grows with every gateway (re)connect, so a stale last will of an earlier
    session cannot mark a reconnected gateway offline.
    """

    model_config = _STRICT

    state: GatewayState = Field(description="online | offline (last will) | stopped")
    session: int = Field(ge=0, description="connection session number, grows on reconnect")
    ts: EpochMs = Field(description="when the session started (for the will) or the change")
    # Heartbeat: the gateway republishes `online` periodically with these filled in.
    outbox_depth: int | None = Field(
        default=None, ge=0, description="messages waiting in the gateway's on-disk outbox"
    )
    uplink_reconnects: int | None = Field(
        default=None, ge=0, description="uplink reconnects since the gateway process started"
    )
    clock_skew_ms: int | None = Field(
        default=None, description="largest |device clock - gateway clock| seen recently, ms"
    )


class SessionStatus(Protocol):
    """What `supersedes` needs of a held status (a GatewayStatus, or a consumer's memo)."""

    @property
    def state(self) -> GatewayState: ...
    @property
    def session(self) -> int: ...
    @property
    def ts(self) -> int: ...


def supersedes(new: GatewayStatus, held: SessionStatus | None) -> bool:
    """The status protocol, in one place for every consumer: take `new` unless it
    belongs to an older session (a stale last will must not mark a reconnected gateway
    offline). Within one session the will (stamped at session start) follows `online`,
    `online` never follows offline/stopped (a retained replay racing the will), and for
    the same state the newer ts wins."""
    if held is None or new.session > held.session:
        return True
    if new.session < held.session:
        return False
    if held.state is not GatewayState.ONLINE and new.state is GatewayState.ONLINE:
        return False
    return not (new.state is held.state and new.ts < held.ts)


def parse_gateway_status(raw: bytes) -> GatewayStatus:
    return _parse(GatewayStatus, raw)


class CommandName(StrEnum):
    CUT_POWER = "cut_power"  # e.g. an overheating charging outlet
    RESTORE_POWER = "restore_power"
    RESET = "reset"  # clear a fault / reboot the device controller


class DeviceCommand(BaseModel):
    """Downlink on `warm/v1/{station}/{device}/command` (QoS 1). The gateway executes it
    on the device and reports a `command_result` event carrying the command id."""

    model_config = _STRICT

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="command id, echoed back")
    ts: EpochMs = Field(description="when the command was issued")
    command: CommandName = Field(description="what to do")
    reason: str | None = Field(default=None, max_length=200, description="why, for the log")


def parse_command(raw: bytes) -> DeviceCommand:
    return _parse(DeviceCommand, raw)


class DeviceAvailability(BaseModel):
    """One device as riders see it."""

    model_config = _STRICT

    device: Id
    kind: DeviceKind
    status: DeviceStatus
    observed_at: int | None = Field(description="ts of the data behind `status`, epoch ms")


class KindCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    available: int = 0
    in_use: int = 0
    out_of_order: int = 0
    offline: int = 0
    unknown: int = 0

    def add(self, status: DeviceStatus) -> None:
        setattr(self, status.value, getattr(self, status.value) + 1)


class StationAvailability(BaseModel):
    """Retained on `warm/v1/{station}/availability`, published by the collector."""

    model_config = ConfigDict(extra="forbid", strict=True)

    station: Id
    updated_at: int = Field(description="when this summary was computed, epoch ms")
    newest_data_at: int | None = Field(description="ts of the newest live data, epoch ms")
    stale: bool = Field(description="newest data older than the freshness limit")
    online: bool | None = Field(description="gateway online; None until a status was seen")
    open_now: bool = Field(description="within opening hours now")
    hot_water_ready: bool = Field(description="at least one heater has hot water now")
    seats_total: int = Field(ge=0)
    seats_free: int | None = Field(description="None when the occupancy sensor is not current")
    counts: dict[DeviceKind, KindCounts] = Field(description="device counts per kind and status")
    devices: list[DeviceAvailability]


# A summary lists every device of a station: larger than a device payload.
MAX_AVAILABILITY_BYTES = 256 * 1024


def parse_availability(raw: bytes) -> StationAvailability:
    return _parse(StationAvailability, raw, limit=MAX_AVAILABILITY_BYTES)


def dump_json(model: BaseModel) -> bytes:
    """Compact JSON payload for MQTT (None fields kept: the schema is explicit)."""
    return model.model_dump_json().encode()


def as_dict(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
