"""Request and response models of the crew API (alerts, silences) and of rider reports.
Every field described; times are epoch ms UTC (`_at`, `_ms`)."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from alertstore import (
    REPORT_CATEGORIES,
    Action,
    AlertRecord,
    HistoryEntry,
    RiderReport,
    Silence,
    Status,
)
from warmnet.ids import Id
from warmnet.severity import Severity

Scalar = bool | int | float | str | None
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- alerts ---------------------------------------------------------------------------


class AlertPublic(_Model):
    id: str = Field(description="alert id: rule:station/device@fired_ms (device '*': station)")
    rule: str = Field(description="rule id (collector/rules.yaml)")
    station: str = Field(description="station id")
    device: str | None = Field(description="device id; null for a station alert")
    severity: Severity = Field(description="critical | major | minor | warning | info")
    status: Status = Field(description="firing | acknowledged | resolved")
    title_zh: str = Field(description="what it is, in Chinese")
    title_en: str = Field(description="what it is, in English")
    value: Scalar = Field(description="the value behind it: temperature, state, code, count")
    detail: str = Field(description="short explanation from the engine")
    fired_at: int = Field(description="when it fired")
    updated_at: int = Field(description="last change (engine or crew)")
    acknowledged_at: int | None = Field(description="when a crew member acknowledged it")
    acknowledged_by: str | None = Field(description="who acknowledged it")
    assignee: str | None = Field(description="who it is assigned to")
    resolved_at: int | None = Field(description="when it was resolved")
    resolved_by: str | None = Field(description="who resolved it ('system': it cleared)")
    resolve_note: str | None = Field(description="what was done (crew) or why it cleared")
    reopen_count: int = Field(description="times it fired again after being resolved")
    silenced: bool = Field(description="its subject is under a silence: nobody is notified")
    suppressed: bool = Field(description="hidden by the engine while its station is offline")

    @classmethod
    def of(cls, a: AlertRecord) -> "AlertPublic":
        return cls.model_validate({f: getattr(a, f) for f in cls.model_fields})


class HistoryPublic(_Model):
    seq: int = Field(description="order of the step (store-wide)")
    at_ms: int = Field(description="when")
    action: Action = Field(description="fire | reopen | resolve | acknowledge | assign | ...")
    who: str = Field(description="'system' for the engine, else the token's name")
    status: Status = Field(description="status after this step")
    note: str | None = Field(description="the crew member's note")
    value: Scalar = Field(description="value at this step (engine steps)")
    detail: str = Field(description="engine explanation, or 'assigned to ...'")

    @classmethod
    def of(cls, h: HistoryEntry) -> "HistoryPublic":
        return cls.model_validate({f: getattr(h, f) for f in cls.model_fields})


class TelemetryPointPublic(_Model):
    ts: int = Field(description="data time")
    kind: str = Field(description="device kind (measurement)")
    device: str = Field(description="device id")
    fields: dict[str, bool | int | float | str] = Field(
        description="measured fields, units in names"
    )


class TelemetryPublic(_Model):
    source: str = Field(description="influxdb | sqlite")
    since_ms: int = Field(description="window start (exclusive)")
    until_ms: int = Field(description="window end: now, or when the alert was resolved")
    points: list[TelemetryPointPublic] = Field(description="newest first")
    error: str | None = Field(default=None, description="why there are no points, if it failed")


class AlertDetailPublic(AlertPublic):
    history: list[HistoryPublic] = Field(description="every lifecycle step, oldest first")
    telemetry: TelemetryPublic | None = Field(
        description="the subject's recent data; null when no time-series source is configured"
    )


class AckRequest(_Model):
    note: str | None = Field(default=None, max_length=1000, description="optional note")


class AssignRequest(_Model):
    assignee: Name | None = Field(description="who takes it; null to unassign")


class ResolveRequest(_Model):
    note: Note = Field(description="what was done (required)")


# --- silences -------------------------------------------------------------------------

MAX_SILENCE_S = 7 * 86_400


class SilenceCreate(_Model):
    station: Id = Field(description="station id")
    device: Id | None = Field(default=None, description="one device; null: the whole station")
    duration_s: int | None = Field(
        default=None, ge=60, le=MAX_SILENCE_S, description="from now (or starts_ms)"
    )
    until_ms: int | None = Field(default=None, description="end, epoch ms (instead of duration)")
    starts_ms: int | None = Field(default=None, description="start, epoch ms; default now")
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = (
        Field(description="why (planned maintenance, what is done)")
    )


class SilencePublic(_Model):
    id: int = Field(description="silence id")
    station: str = Field(description="station id")
    device: str | None = Field(description="device id; null: the whole station")
    starts_at: int = Field(description="start")
    until_ms: int = Field(description="planned end")
    created_by: str = Field(description="who silenced")
    note: str = Field(description="why")
    ended_at: int | None = Field(description="ended early at")
    ended_by: str | None = Field(description="who ended it early")
    active: bool = Field(description="in effect now")

    @classmethod
    def of(cls, s: Silence, now_ms: int) -> "SilencePublic":
        fields = {f: getattr(s, f) for f in cls.model_fields if f != "active"}
        return cls.model_validate({**fields, "active": s.active(now_ms)})


# --- rider reports --------------------------------------------------------------------


def _category(value: str) -> str:
    if value not in REPORT_CATEGORIES:
        raise ValueError(f"unknown category; one of: {', '.join(REPORT_CATEGORIES)}")
    return value


Category = Annotated[
    str, AfterValidator(_category), Field(json_schema_extra={"enum": list(REPORT_CATEGORIES)})
]


class ReportCreate(_Model):
    category: Category = Field(description="what is wrong")
    device: Id | None = Field(default=None, description="the device, if the rider picked one")
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        default="", description="a few words (at most 200 characters)"
    )


class ReportAccepted(_Model):
    id: int = Field(description="report id")
    station: str = Field(description="station id")
    device: str | None = Field(description="device id, if given")
    category: str = Field(description="category")
    received_at: int = Field(description="when it was received")


class ReportPublic(_Model):
    id: int = Field(description="report id")
    station: str = Field(description="station id")
    device: str | None = Field(description="device id, if given")
    category: str = Field(description="category")
    text: str = Field(description="the rider's words")
    client: str = Field(description="short pseudonymous client key (same rider, same key)")
    at_ms: int = Field(description="when it was received")

    @classmethod
    def of(cls, r: RiderReport) -> "ReportPublic":
        return cls(
            id=r.id,
            station=r.station,
            device=r.device,
            category=r.category,
            text=r.text,
            client=r.client_key_hash[:12],
            at_ms=r.at_ms,
        )
