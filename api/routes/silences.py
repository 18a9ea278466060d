"""Silences (planned maintenance): a crew member silences a station or a device;
operators list and end them."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.access import CrewDep, OperatorDep
from api.crew_schemas import MAX_SILENCE_S, SilenceCreate, SilencePublic
from api.deps import AlertsDep, ClockDep, FleetDep
from api.schemas import ErrorBody
from warmnet.ids import ID_PATTERN

router = APIRouter(prefix="/silences", tags=["silences"])

_AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


@router.post(
    "",
    status_code=201,
    summary="Silence a station or one device (crew)",
    responses={**_AUTH, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def create_silence(
    who: CrewDep, body: SilenceCreate, alerts: AlertsDep, fleet: FleetDep, clock: ClockDep
) -> SilencePublic:
    station = fleet.station(body.station)
    if station is None:
        raise HTTPException(status_code=404, detail=f"unknown station {body.station!r}")
    if body.device is not None and fleet.device(body.station, body.device) is None:
        raise HTTPException(
            status_code=422,
            detail=f"device {body.device!r} is not a device of station {body.station!r}",
        )
    now = clock.now_ms()
    start = body.starts_ms if body.starts_ms is not None else now
    if (body.duration_s is None) == (body.until_ms is None):
        raise HTTPException(status_code=422, detail="give exactly one of duration_s or until_ms")
    until = body.until_ms if body.until_ms is not None else start + (body.duration_s or 0) * 1000
    if start < now - 60_000 or start > now + MAX_SILENCE_S * 1000:
        raise HTTPException(status_code=422, detail="starts_ms must be from now to 7 days ahead")
    if until <= max(start, now):
        raise HTTPException(status_code=422, detail="the silence must end after it starts and now")
    if until - start > MAX_SILENCE_S * 1000:
        raise HTTPException(
            status_code=422, detail=f"a silence lasts at most {MAX_SILENCE_S // 86_400} days"
        )
    silence = alerts.silence(body.station, body.device, until, who.name, body.note, starts_ms=start)
    return SilencePublic.of(silence, now)


@router.get("", summary="Silences running or to come (operator)", responses=_AUTH)
def list_silences(
    who: OperatorDep,
    alerts: AlertsDep,
    clock: ClockDep,
    include_ended: Annotated[bool, Query(description="also ended and expired ones")] = False,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SilencePublic]:
    now = clock.now_ms()
    found = alerts.list_silences(include_inactive=include_ended, station=station, limit=limit)
    return [SilencePublic.of(s, now) for s in found]


@router.delete(
    "/{silence_id}",
    summary="End a silence now (operator)",
    responses={**_AUTH, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def end_silence(
    who: OperatorDep,
    silence_id: Annotated[int, Path(ge=1)],
    alerts: AlertsDep,
    clock: ClockDep,
) -> SilencePublic:
    return SilencePublic.of(alerts.end_silence(silence_id, who.name), clock.now_ms())
