"""Stations: the list, nearby stations meeting a rider's needs, one station in detail."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api import views
from api.deps import ClockDep, FleetDep, LiveDep, SettingsDep
from api.schemas import ErrorBody, Need, StationDetail, StationNearby, StationPublic
from warmnet.ids import ID_PATTERN

router = APIRouter(prefix="/stations", tags=["stations"])


@router.get("", summary="All stations, registry order, with their live summary")
def list_stations(
    fleet: FleetDep, live: LiveDep, clock: ClockDep, settings: SettingsDep
) -> list[StationPublic]:
    now_ms = clock.now_ms()
    summaries = live.all()
    return [
        views.station_public(fleet, s, summaries.get(s.id), now_ms, settings.freshness_s)
        for s in fleet.stations
    ]


# Declared before `/{station_id}`: otherwise "nearby" would be taken for an id.
@router.get("/nearby", summary="Open stations meeting every need now, nearest first")
def nearby_stations(
    fleet: FleetDep,
    live: LiveDep,
    clock: ClockDep,
    settings: SettingsDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="rider latitude, WGS-84 degrees")],
    lon: Annotated[float, Query(ge=-180, le=180, description="rider longitude, WGS-84 degrees")],
    need: Annotated[
        list[Need],
        Query(description="repeat for several; a station must meet all of them"),
    ] = [],  # noqa: B006 - FastAPI copies query defaults per request
    limit: Annotated[int, Query(ge=1, le=100, description="at most this many stations")] = 10,
    max_km: Annotated[
        float | None, Query(gt=0, le=20_000, description="only stations within this distance")
    ] = None,
) -> list[StationNearby]:
    return views.nearby(
        fleet,
        live.all(),
        lat,
        lon,
        need,
        clock.now_ms(),
        settings.freshness_s,
        limit=limit,
        max_km=max_km,
    )


@router.get(
    "/{station_id}",
    summary="One station with every device's status",
    responses={404: {"model": ErrorBody, "description": "no such station"}},
)
def get_station(
    station_id: Annotated[str, Path(pattern=ID_PATTERN, description="station id, [a-z0-9-]{1,32}")],
    fleet: FleetDep,
    live: LiveDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> StationDetail:
    station = fleet.station(station_id)
    if station is None:
        raise HTTPException(status_code=404, detail=f"unknown station {station_id!r}")
    return views.station_detail(
        fleet, station, live.get(station_id), clock.now_ms(), settings.freshness_s
    )
