"""Alerts for crews: list, detail (history and recent telemetry), acknowledge, assign,
resolve. Every route needs a crew (or operator) token; the token's name is `who`."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from alertstore import AlertRecord, Status
from api.access import CrewDep
from api.crew_schemas import (
    AckRequest,
    AlertDetailPublic,
    AlertPublic,
    AssignRequest,
    HistoryPublic,
    ResolveRequest,
    TelemetryPointPublic,
    TelemetryPublic,
)
from api.deps import AlertsDep, ClockDep, FleetDep, TelemetryDep
from api.schemas import ErrorBody
from api.telemetry import RecentTelemetry, TelemetryError
from warmnet.ids import ID_PATTERN
from warmnet.kinds import DeviceKind
from warmnet.registry import Fleet
from warmnet.severity import Severity

log = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])

TELEMETRY_WINDOW_MS = 30 * 60_000
TELEMETRY_LIMIT = 50

AlertId = Annotated[
    str, Path(min_length=1, max_length=200, description="alert id, e.g. rule:station/device@ms")
]
_AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
_ACTION: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}


@router.get("", summary="Alerts, most recently changed first", responses=_AUTH)
def list_alerts(
    who: CrewDep,
    alerts: AlertsDep,
    status: Annotated[list[Status] | None, Query(description="any of these")] = None,
    severity: Annotated[list[Severity] | None, Query(description="any of these")] = None,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[int | None, Query(ge=0, description="changed at or after, epoch ms")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[AlertPublic]:
    found = alerts.list_alerts(
        status=status, severity=severity, station=station, since_ms=since, limit=limit,
        offset=offset,
    )  # fmt: skip
    return [AlertPublic.of(a) for a in found]


@router.get(
    "/{alert_id:path}",
    summary="One alert: history and the subject's recent telemetry",
    responses={**_AUTH, 404: {"model": ErrorBody}},
)
def get_alert(
    who: CrewDep,
    alert_id: AlertId,
    alerts: AlertsDep,
    fleet: FleetDep,
    clock: ClockDep,
    telemetry: TelemetryDep,
) -> AlertDetailPublic:
    detail = alerts.get(alert_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no alert {alert_id!r}")
    a = detail.alert
    return AlertDetailPublic.model_validate(
        {
            **AlertPublic.of(a).model_dump(),
            "history": [HistoryPublic.of(h) for h in detail.history],
            "telemetry": _telemetry(telemetry, fleet, a, clock.now_ms()),
        }
    )


def _telemetry(
    source: RecentTelemetry | None, fleet: Fleet, a: AlertRecord, now_ms: int
) -> TelemetryPublic | None:
    if source is None:
        return None
    until = a.resolved_at if a.status is Status.RESOLVED and a.resolved_at else now_ms
    since = until - TELEMETRY_WINDOW_MS
    out = TelemetryPublic(source=source.source, since_ms=since, until_ms=until, points=[])
    kinds: list[DeviceKind] = []
    if a.device is not None:
        spec = fleet.device(a.station, a.device)
        if spec is not None:
            kinds = [spec.kind]
    else:
        station = fleet.station(a.station)
        if station is not None:
            kinds = sorted({d.kind for d in station.devices})
    if not kinds:
        out.error = "subject not in the registry"
        return out
    try:
        points = source.recent(a.station, a.device, kinds, since, until, TELEMETRY_LIMIT)
    except TelemetryError as exc:
        log.warning("recent telemetry failed", extra={"alert": a.id, "error": str(exc)})
        out.error = str(exc)
        return out
    out.points = [
        TelemetryPointPublic(ts=p.ts, kind=p.measurement, device=p.device, fields=p.fields)
        for p in points
    ]
    return out


@router.post("/{alert_id:path}/ack", summary="Acknowledge: someone is on it", responses=_ACTION)
def acknowledge(
    who: CrewDep, alert_id: AlertId, alerts: AlertsDep, body: AckRequest | None = None
) -> AlertPublic:
    note = body.note if body is not None else None
    return AlertPublic.of(alerts.acknowledge(alert_id, who.name, note))


@router.post("/{alert_id:path}/assign", summary="Assign to a crew member", responses=_ACTION)
def assign(who: CrewDep, alert_id: AlertId, body: AssignRequest, alerts: AlertsDep) -> AlertPublic:
    return AlertPublic.of(alerts.assign(alert_id, who.name, body.assignee))


@router.post("/{alert_id:path}/resolve", summary="Resolve, saying what was done", responses=_ACTION)
def resolve(
    who: CrewDep, alert_id: AlertId, body: ResolveRequest, alerts: AlertsDep
) -> AlertPublic:
    return AlertPublic.of(alerts.resolve(alert_id, who.name, body.note))
