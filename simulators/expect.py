"""What a scenario expects the system to do (`expect:`): alerts by rule id and
subject with a deadline, allowed alerts, commands, availability, gateway heartbeats,
data completeness. Checked by the alert-quality tests, not by the simulator."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.fault_types import Duration
from warmnet.ids import Id
from warmnet.kinds import DeviceStatus
from warmnet.messages import CommandName

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ExpectedAlert(BaseModel):
    """An alert that must fire: by rule id and subject, not before `after`, at the
    latest at `by` (offsets from the scenario start), resolved by `resolved_by`."""

    model_config = _STRICT

    rule: RuleId
    station: Id
    device: Id | None = Field(default=None, description="None: a station alert")
    after: Duration = 0
    by: Duration
    resolved_by: Duration | None = None

    @model_validator(mode="after")
    def _order(self) -> "ExpectedAlert":
        if self.by < self.after:
            raise ValueError("by must not be before after")
        if self.resolved_by is not None and self.resolved_by < self.by:
            raise ValueError("resolved_by must not be before by")
        return self


class AlertMatch(BaseModel):
    """Alerts that may fire (or not): `station`/`device` None match any."""

    model_config = _STRICT

    rule: RuleId
    station: Id | None = None
    device: Id | None = None


class ExpectedCommand(BaseModel):
    """A downlink command the system must send (and the device execute) by `by`."""

    model_config = _STRICT

    station: Id
    device: Id
    command: CommandName
    by: Duration


class ExpectedAvailability(BaseModel):
    """What riders see of a station (or one device) at offset `at`."""

    model_config = _STRICT

    at: Duration
    station: Id
    online: bool | None = None
    hot_water_ready: bool | None = None
    device: Id | None = None
    status: DeviceStatus | None = None

    @model_validator(mode="after")
    def _device_status(self) -> "ExpectedAvailability":
        if (self.device is None) != (self.status is None):
            raise ValueError("device and status go together")
        if self.online is None and self.hot_water_ready is None and self.status is None:
            raise ValueError("expects nothing: give online, hot_water_ready or device+status")
        return self


class ExpectedData(BaseModel):
    model_config = _STRICT

    complete: bool = Field(
        default=True, description="every reading a gateway accepted is stored: nothing lost"
    )
    unique: bool = Field(default=True, description="a redelivered reading is stored once")
    dead_letters_min: int = Field(default=0, ge=0, description="refused messages, at least")
    dead_letter_reasons: tuple[str, ...] = Field(
        default=(), description="reasons that must each appear among the dead letters"
    )


class ExpectedGateway(BaseModel):
    """The station's gateway status (heartbeat) at some point during the run."""

    model_config = _STRICT

    station: Id
    clock_skew_ms_min: int | None = Field(default=None, ge=0)
    reconnects_min: int | None = Field(default=None, ge=0)


class Expect(BaseModel):
    model_config = _STRICT

    alerts: tuple[ExpectedAlert, ...] = ()
    allowed: tuple[AlertMatch, ...] = Field(default=(), description="may fire, need not")
    other_alerts: Literal["none", "any"] = Field(
        default="none", description="none: any alert not listed above is a failure"
    )
    commands: tuple[ExpectedCommand, ...] = ()
    availability: tuple[ExpectedAvailability, ...] = ()
    data: ExpectedData = ExpectedData()
    gateways: tuple[ExpectedGateway, ...] = ()
