"""The faults a scenario can inject: one pydantic model per fault type (with its
parameters), discriminated by `type`; and the value types scenario files share
(durations like `90s`, `10m`, `1h30m`)."""

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from warmnet.ids import Id
from warmnet.kinds import DeviceKind

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: Any) -> Any:
    """Seconds as a number, or a string like `90s`, `10m`, `1h30m`, `2h`."""
    if isinstance(value, bool):
        raise ValueError("a duration is seconds or a string like '90s', '10m', '1h30m'")
    if isinstance(value, str):
        m = _DURATION.match(value.replace(" ", ""))
        if not value.strip() or m is None or not any(m.groups()):
            raise ValueError(f"duration {value!r}: expected e.g. '90s', '10m', '1h30m' or seconds")
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        return h * 3600 + mi * 60 + s
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=7 * 86_400)]
Code = Annotated[str, Field(pattern=r"^[A-Z0-9_]{1,16}$")]
StationRef = Annotated[str, Field(pattern=r"^(all|[a-z0-9-]{1,32})$")]

_STRICT = ConfigDict(extra="forbid", frozen=True)


# --- faults ----------------------------------------------------------------------------


class _Params(BaseModel):
    model_config = _STRICT


class NoParams(_Params):
    pass


class DemandParams(_Params):
    factor: float = Field(default=1.6, gt=0, le=3, description="demand multiplier")


class ThermalRunawayParams(_Params):
    rate_c_per_min: float = Field(default=5.0, gt=0, le=30, description="socket heating, degC/min")
    trip_c: float = Field(
        default=90.0, ge=50, le=150, description="the outlet's own thermal cutoff (fault OVERTEMP)"
    )
    plug_in: bool = Field(default=True, description="an idle outlet starts the bad session now")


class ElementFailureParams(_Params):
    power_factor: float = Field(
        default=0.0, ge=0, lt=1, description="share of its power the element still delivers"
    )


class DeviceFaultParams(_Params):
    code: Code = Field(description="the controller's fault code, e.g. E3")
    detail: str | None = Field(default=None, max_length=200)


class StuckSensorParams(_Params):
    field: str | None = Field(default=None, description="default: the kind's main sensor")
    value: float | int | bool | None = Field(default=None, description="default: current value")


class ClockSkewParams(_Params):
    offset_s: float = Field(ge=-86_400, le=86_400, description="device clock minus true time")


class DuplicatesParams(_Params):
    duplicate_share: float = Field(default=0.2, ge=0, le=1, description="readings sent twice")
    late_share: float = Field(default=0.1, ge=0, le=1, description="readings replayed late")
    late_by_s: tuple[float, float] = Field(default=(30.0, 300.0), description="replay delay range")

    @field_validator("late_by_s")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError("late_by_s: [min, max] with 0 < min <= max")
        return v


class MalformedParams(_Params):
    per_min: float = Field(default=6.0, gt=0, le=600, description="garbage messages per minute")


# The field a stuck sensor freezes unless the scenario names one.
MAIN_SENSOR: dict[DeviceKind, str] = {
    DeviceKind.CHARGING_OUTLET: "temp_c",
    DeviceKind.WATER_HEATER: "water_temp_c",
    DeviceKind.MICROWAVE: "power_w",
    DeviceKind.OCCUPANCY_SENSOR: "occupied",
}


class _Fault(BaseModel):
    """When (offset from the scenario start), where, what, for how long."""

    model_config = _STRICT

    at: Duration
    station: StationRef = Field(description="a station id, or 'all' (station-level faults)")
    device: Id | None = None
    duration: Duration | None = Field(default=None, description="None: until the end")

    scope: ClassVar[Literal["device", "station"]] = "device"
    kinds: ClassVar[frozenset[DeviceKind] | None] = None  # device kinds it applies to
    gateway_level: ClassVar[bool] = False  # acts on delivery (needs real gateways)

    @model_validator(mode="after")
    def _target(self) -> "_Fault":
        if self.scope == "device":
            if self.device is None or self.station == "all":
                raise ValueError("needs one station and a device")
        elif self.device is not None and not isinstance(self, ClockSkew):
            raise ValueError("a station-level fault takes no device")
        if self.duration == 0:
            raise ValueError("duration 0: leave it out to last until the end")
        return self

    @property
    def type_name(self) -> str:
        value: str = getattr(self, "type")  # noqa: B009 (each subclass's Literal)
        return value


class Demand(_Fault):
    """A rush: demand of the station(s) times `factor` (more sessions, draws, riders)."""

    type: Literal["demand"]
    params: DemandParams = DemandParams()
    scope: ClassVar[Literal["device", "station"]] = "station"


class ThermalRunaway(_Fault):
    type: Literal["thermal_runaway"]
    params: ThermalRunawayParams = ThermalRunawayParams()
    kinds: ClassVar[frozenset[DeviceKind] | None] = frozenset({DeviceKind.CHARGING_OUTLET})


class ElementFailure(_Fault):
    type: Literal["element_failure"]
    params: ElementFailureParams = ElementFailureParams()
    kinds: ClassVar[frozenset[DeviceKind] | None] = frozenset({DeviceKind.WATER_HEATER})


class RefillFailure(_Fault):
    type: Literal["refill_failure"]
    params: NoParams = NoParams()
    kinds: ClassVar[frozenset[DeviceKind] | None] = frozenset({DeviceKind.WATER_HEATER})


class DeviceFault(_Fault):
    type: Literal["device_fault"]
    params: DeviceFaultParams


class StuckSensor(_Fault):
    type: Literal["stuck_sensor"]
    params: StuckSensorParams = StuckSensorParams()


class DeviceSilent(_Fault):
    type: Literal["device_silent"]
    params: NoParams = NoParams()


class Partition(_Fault):
    """The station's uplink is cut (the broker sees the connection drop)."""

    type: Literal["partition"]
    params: NoParams = NoParams()
    scope: ClassVar[Literal["device", "station"]] = "station"
    gateway_level: ClassVar[bool] = True


class GatewayCrash(_Fault):
    """The gateway process dies (no `stopped`), and restarts after `duration`."""

    type: Literal["gateway_crash"]
    params: NoParams = NoParams()
    scope: ClassVar[Literal["device", "station"]] = "station"
    gateway_level: ClassVar[bool] = True

    @model_validator(mode="after")
    def _downtime(self) -> "GatewayCrash":
        if self.duration is None:
            raise ValueError("gateway_crash needs a duration (the downtime)")
        return self


class ClockSkew(_Fault):
    """Device clocks (the station's, or one device's) off by `offset_s`."""

    type: Literal["clock_skew"]
    params: ClockSkewParams
    scope: ClassVar[Literal["device", "station"]] = "station"
    gateway_level: ClassVar[bool] = True


class Duplicates(_Fault):
    """A misbehaving device/gateway: copies of accepted readings published again, some
    at once (duplicates), some minutes later (out of order)."""

    type: Literal["duplicates"]
    params: DuplicatesParams = DuplicatesParams()
    scope: ClassVar[Literal["device", "station"]] = "station"
    gateway_level: ClassVar[bool] = True


class Malformed(_Fault):
    """Garbage on the station's topics: bad JSON, wrong types, out of range, unknown
    devices, oversized payloads."""

    type: Literal["malformed"]
    params: MalformedParams = MalformedParams()
    scope: ClassVar[Literal["device", "station"]] = "station"
    gateway_level: ClassVar[bool] = True


Fault = Annotated[
    Demand
    | ThermalRunaway
    | ElementFailure
    | RefillFailure
    | DeviceFault
    | StuckSensor
    | DeviceSilent
    | Partition
    | GatewayCrash
    | ClockSkew
    | Duplicates
    | Malformed,
    Field(discriminator="type"),
]
