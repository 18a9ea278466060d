"""Plain values the alert engine takes and gives: inputs, alert keys, transitions.

Inputs are what the collector hands over after validation; transitions are what the
alert store, the notifier and the command publisher act on. No behaviour lives here.
"""

from dataclasses import dataclass
from enum import StrEnum

from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName, DeviceEvent, GatewayStatus, Telemetry
from warmnet.severity import Severity

# A value an alert carries for crews: a temperature, a state, a fault code, a count.
# (int listed apart from float so that counts survive a JSON round trip as ints.)
Value = bool | int | float | str | None


class Subject(StrEnum):
    """What one alert stands for: a single device, or a whole station."""

    DEVICE = "device"
    STATION = "station"


@dataclass(frozen=True, slots=True, order=True)
class AlertKey:
    """One alert at a time per key: a re-trigger updates it, never duplicates it."""

    rule: str
    station: str
    device: str | None = None  # None: the subject is the station

    def __str__(self) -> str:
        return f"{self.rule}:{self.station}/{self.device or '*'}"


# --- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelemetryInput:
    """A validated reading of a registered device."""

    station: str
    device: str
    kind: DeviceKind
    reading: Telemetry
    historical: bool = False  # also taken from `reading.historical`


@dataclass(frozen=True, slots=True)
class EventInput:
    station: str
    device: str
    event: DeviceEvent


@dataclass(frozen=True, slots=True)
class GatewayInput:
    station: str
    status: GatewayStatus


@dataclass(frozen=True, slots=True)
class RiderReportInput:
    """A report from the rider app ("no hot water", "smells of burning")."""

    station: str
    category: str
    ts_ms: int
    device: str | None = None  # when the rider picked a device
    report_id: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes: silence, offline gateways, latched faults, expiry.

    The time is `evaluate(..., now_ms)`; `stations` limits the work to the stations
    this collector owns (None: every station of the fleet).
    """

    stations: frozenset[str] | None = None


Input = TelemetryInput | EventInput | GatewayInput | RiderReportInput | Tick


# --- outputs --------------------------------------------------------------------------


class TransitionKind(StrEnum):
    FIRE = "fire"  # a new alert
    UPDATE = "update"  # still firing: new value / last seen (throttled)
    RESOLVE = "resolve"  # cleared and stayed clear
    REOPEN = "reopen"  # re-fired soon after it resolved: same alert id
    SUPPRESS = "suppress"  # hidden: its station is offline and one station alert stands
    UNSUPPRESS = "unsuppress"  # the station is back but this alert still holds
    ACTION = "action"  # a command for the device (e.g. cut_power)


@dataclass(frozen=True, slots=True)
class Transition:
    kind: TransitionKind
    alert_id: str  # stable for one alert, kept when it is reopened
    key: AlertKey
    severity: Severity
    at_ms: int  # data time (or evaluation time for time-based rules)
    value: Value = None
    detail: str = ""  # short English explanation for logs and crews
    command: CommandName | None = None  # ACTION only; the target is key.device
