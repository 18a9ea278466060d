"""Liveness and readiness (compose healthchecks wait on `/ready`)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import FeedDep, LiveDep
from api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    summary="Readiness: MQTT feed connected and live data received",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready; `reason` says why"}},
)
def ready(feed: FeedDep, live: LiveDep) -> JSONResponse:
    held = len(live)
    reason = None
    # Without a feed something else fills `live` (tests, embedding): data is enough.
    if feed is not None and not feed.connected:
        reason = "mqtt availability feed not connected"
    elif held == 0:
        reason = "no availability summary received yet"
    body = Readiness(status="not_ready" if reason else "ready", reason=reason, stations_live=held)
    return JSONResponse(body.model_dump(), status_code=503 if reason else 200)
