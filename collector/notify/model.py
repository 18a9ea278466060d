"""What the notifier sends: one `Notification` per alert event, built by the caller.

The notifier knows nothing of the alert engine: the collector (or the API, for crew
actions) fills a `Notification` with everything a crew member needs to read on a
phone, and `Notifier.submit()` takes it from there.
"""

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from warmnet.severity import Severity

# A value an alert carries for crews: a temperature, a state, a fault code, a count.
Value = bool | int | float | str | None


class Event(StrEnum):
    """What happened to the alert."""

    FIRED = "fired"  # a new alert
    UPDATED = "updated"  # still firing, new value (noise: rate-limited per subject)
    ACKNOWLEDGED = "acknowledged"  # a crew member took it
    RESOLVED = "resolved"  # cleared (by itself, or by a crew member: who/note)
    REOPENED = "reopened"  # fired again soon after it resolved: same alert id


@dataclass(frozen=True, slots=True)
class Notification:
    event: Event
    alert_id: str  # stable for one alert, kept when it is reopened
    rule: str
    severity: Severity
    station: str  # station id
    station_name_zh: str
    station_name_en: str
    area: str  # crew routing tag of the station
    device: str | None  # None: the alert is about the whole station
    title_zh: str  # what is wrong, for crews (the rule's description)
    title_en: str
    at_ms: int  # when it happened, epoch ms UTC
    value: Value = None
    detail: str = ""  # short English explanation from the rule engine
    who: str | None = None  # crew actions (acknowledged / resolved by hand)
    note: str | None = None
    silenced: bool = False  # a silenced alert is never notified
    repeats: int = 0  # updates of this subject coalesced into this one (set by the notifier)

    @property
    def subject(self) -> tuple[str, str, str | None]:
        """What rate limiting counts per: (rule, station, device)."""
        return (self.rule, self.station, self.device)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able fields (enums as their string values)."""
        data = asdict(self)
        data["event"] = self.event.value
        data["severity"] = self.severity.value
        return data
