"""Rider reports: `POST /stations/{id}/reports` is public (rate-limited per client);
operators read them with `GET /reports`. The collector feeds them to the engine.

Client key: a keyed hash (HMAC-SHA-256) of the `X-Client-Id` header when the app sends
one, else of the client IP address; no IP address or id is stored. Reports per IP are
capped separately (higher: riders behind one carrier NAT share an address), so a
client rotating its id still meets a limit.
"""

import hashlib
import hmac
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from alertstore import ReportLimits
from api.access import OperatorDep
from api.crew_schemas import ReportAccepted, ReportCreate, ReportPublic
from api.deps import AlertsDep, ClockDep, ContextDep, FleetDep, SettingsDep
from api.schemas import ErrorBody
from warmnet.ids import ID_PATTERN

router = APIRouter(tags=["reports"])

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")


def client_keys(request: Request, salt: bytes) -> tuple[str, str]:
    """(client key, IP key): keyed hashes, never the raw values."""
    ip = request.client.host if request.client is not None else "unknown"
    ip_key = hmac.new(salt, f"ip:{ip}".encode(), hashlib.sha256).hexdigest()
    client_id = request.headers.get("x-client-id", "")
    if CLIENT_ID_RE.fullmatch(client_id):
        return hmac.new(salt, f"id:{client_id}".encode(), hashlib.sha256).hexdigest(), ip_key
    return ip_key, ip_key


@router.post(
    "/stations/{station_id}/reports",
    status_code=201,
    summary="Report a problem at a station (public, rate-limited)",
    responses={
        404: {"model": ErrorBody, "description": "unknown station"},
        422: {"description": "invalid report, or a device of another station"},
        429: {"description": "too many reports from this client; see Retry-After"},
    },
)
def add_report(
    station_id: Annotated[str, Path(pattern=ID_PATTERN)],
    body: ReportCreate,
    request: Request,
    ctx: ContextDep,
    alerts: AlertsDep,
    fleet: FleetDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> ReportAccepted:
    if fleet.station(station_id) is None:
        raise HTTPException(status_code=404, detail=f"unknown station {station_id!r}")
    if body.device is not None and fleet.device(station_id, body.device) is None:
        raise HTTPException(
            status_code=422,
            detail=f"device {body.device!r} is not a device of station {station_id!r}",
        )
    client_key, ip_key = client_keys(request, ctx.client_key_salt)
    limits = ReportLimits(
        per_client=settings.report_limit,
        per_ip=settings.report_ip_limit,
        window_ms=int(settings.report_window_s * 1000),
    )
    now = clock.now_ms()
    report_id = alerts.add_report(
        station_id, body.device, body.category, body.text, client_key, now,
        ip_key_hash=ip_key, limits=limits,
    )  # fmt: skip
    return ReportAccepted(
        id=report_id,
        station=station_id,
        device=body.device,
        category=body.category,
        received_at=now,
    )


@router.get(
    "/reports",
    summary="Rider reports, newest first (operator)",
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
def list_reports(
    who: OperatorDep,
    alerts: AlertsDep,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[int | None, Query(ge=0, description="received at or after, epoch ms")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[ReportPublic]:
    found = alerts.list_reports(station=station, since_ms=since, limit=limit, offset=offset)
    return [ReportPublic.of(r) for r in found]
