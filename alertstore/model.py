"""Plain values the alert store takes and gives. No behaviour, no I/O.

These are the store's own types: the collector adapts the engine's transitions to
`EngineRecord`, the API turns `AlertRecord` and friends into response models.
"""

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from warmnet.severity import Severity

# What an alert carries for crews: a temperature, a state, a fault code, a count.
Value = bool | int | float | str | None

ManualKind = Literal["resolve", "acknowledge"]
DEFAULT_ALERT_DB = Path("var/alerts.sqlite")  # WARMNET_ALERT_DB, collector and API alike
SYSTEM = "system"  # `who` of automatic (engine) transitions


class Status(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EngineKind(StrEnum):
    """Engine transitions the store records (same values as the engine's kinds;
    `action` is not one: device commands are not alert state)."""

    FIRE = "fire"
    UPDATE = "update"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"


class Action(StrEnum):
    """What a history row records."""

    FIRE = "fire"
    REOPEN = "reopen"
    RESOLVE = "resolve"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"


# Rider report categories. collector/rules.yaml's rider_report rules refer to these
# (tests/alertstore check that every one is routed to a rule and no rule waits for
# a category the API never accepts).
REPORT_CATEGORIES: tuple[str, ...] = (
    "smoke",
    "burning_smell",
    "sparks",
    "no_hot_water",
    "outlet_broken",
    "microwave_broken",
    "seats_broken",
    "dirty",
    "other",
)


# --- errors ---------------------------------------------------------------------------


class AlertStoreError(Exception):
    """Base of the store's errors."""


class NotFoundError(AlertStoreError, LookupError):
    """No alert (or silence) with that id."""


class InvalidTransitionError(AlertStoreError):
    """A crew action that the alert's current status does not allow."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(AlertStoreError):
    """Too many rider reports from one client; retry after `retry_after_ms`."""

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class StoreUnavailableError(AlertStoreError):
    """The database could not be used (locked past busy_timeout, disk full, I/O)."""


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineRecord:
    """One engine transition, as the collector hands it over."""

    kind: EngineKind | str
    alert_id: str  # stable for one alert, kept across a reopen
    rule: str
    station: str
    device: str | None  # None: the station is the subject
    severity: Severity | str
    at_ms: int
    value: Value = None
    detail: str = ""
    title_zh: str = ""
    title_en: str = ""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record_engine` did: `applied` False for a replay or a no-op (update of
    a resolved alert, ...); `silenced` True when a silence covers the subject (record
    it, notify nobody)."""

    alert_id: str
    applied: bool
    silenced: bool
    status: Status | None  # None: unknown alert, nothing recorded


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    rule: str
    station: str
    device: str | None
    severity: Severity
    status: Status
    title_zh: str
    title_en: str
    value: Value
    detail: str
    fired_at: int
    updated_at: int
    acknowledged_at: int | None
    acknowledged_by: str | None
    assignee: str | None
    resolved_at: int | None
    resolved_by: str | None
    resolve_note: str | None
    reopen_count: int
    silenced: bool  # a silence covered the subject at the last engine or silence change
    suppressed: bool  # hidden by the engine: its station is down, one station alert stands


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    seq: int  # global, increasing: also the cursor of `pending_manual`
    alert_id: str
    at_ms: int
    action: Action
    who: str  # "system" for the engine, else the crew member's name
    status: Status  # after this step
    note: str | None = None
    value: Value = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlertDetail:
    alert: AlertRecord
    history: tuple[HistoryEntry, ...]  # oldest first


@dataclass(frozen=True, slots=True)
class ManualAction:
    """A crew action the engine must learn about (`apply_manual`)."""

    seq: int  # pass the last one seen as `after_seq` next time
    alert_id: str
    action: ManualKind  # what collector.alerts.apply_manual takes
    rule: str
    station: str
    device: str | None
    at_ms: int
    who: str


@dataclass(frozen=True, slots=True)
class Silence:
    """Planned maintenance: while active, riders see the subject out of order and its
    alerts are recorded as silenced (no notifications)."""

    id: int
    station: str
    device: str | None  # None: the whole station
    starts_at: int
    until_ms: int
    created_by: str
    note: str
    ended_at: int | None = None
    ended_by: str | None = None

    def active(self, now_ms: int) -> bool:
        return self.ended_at is None and self.starts_at <= now_ms < self.until_ms

    def covers(self, station: str, device: str | None) -> bool:
        """A station silence covers the station and all its devices."""
        return self.station == station and (self.device is None or self.device == device)


@dataclass(frozen=True, slots=True)
class RiderReport:
    id: int  # increasing: the cursor of `take_reports`
    station: str
    device: str | None
    category: str
    text: str
    client_key_hash: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ReportLimits:
    """At most `per_client` reports per client key, and `per_ip` per IP key (riders
    behind one carrier NAT share an IP), within `window_ms`."""

    per_client: int = 5
    per_ip: int | None = 30
    window_ms: int = 600_000
