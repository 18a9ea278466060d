"""The FastAPI app factory: `create_app(settings, fleet, live, ...)`."""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI

from alertstore import AlertStore
from api import errors
from api.deps import ApiContext
from api.live import AvailabilityFeed, LiveAvailability
from api.routes import alerts as alert_routes
from api.routes import health, reports, silences, stations, web
from api.settings import ApiSettings
from api.telemetry import RecentTelemetry
from warmnet.clock import Clock, SystemClock
from warmnet.registry import Fleet


def create_app(
    settings: ApiSettings,
    fleet: Fleet,
    live: LiveAvailability,
    *,
    feed: AvailabilityFeed | None = None,
    clock: Clock | None = None,
    alerts: AlertStore | None = None,
    telemetry: RecentTelemetry | None = None,
) -> FastAPI:
    """Build the app. `feed`, if given, is started and stopped with the app (lifespan)
    and drives `/ready`; `clock` defaults to wall time. `alerts` (the shared alert
    store) enables the crew and rider-report endpoints (503 without it); `telemetry`
    adds recent data to alert details. The caller owns and closes both."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if feed is not None:
            feed.start()  # blocks until CONNACK (bounded); a refusal fails startup
        try:
            yield
        finally:
            if feed is not None:
                feed.stop()

    app = FastAPI(
        title="warmnet",
        version=_version(),
        description=f"Live availability of the {fleet.name_en} ({fleet.name_zh}).",
        docs_url="/docs",
        lifespan=lifespan,
    )
    salt = settings.client_key_salt
    app.state.ctx = ApiContext(
        settings=settings,
        fleet=fleet,
        live=live,
        clock=clock or SystemClock(),
        feed=feed,
        tokens=settings.tokens,
        alerts=alerts,
        telemetry=telemetry,
        client_key_salt=(
            salt.get_secret_value().encode() if salt is not None else secrets.token_bytes(32)
        ),
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(stations.router)
    app.include_router(reports.router)
    app.include_router(alert_routes.router)
    app.include_router(silences.router)
    app.include_router(web.router)
    return app


def _version() -> str:
    # From the installed distribution: `warmnet/__init__.py` is not always executed
    # (an editable install may map the package as a namespace).
    try:
        return metadata.version("warmnet")
    except metadata.PackageNotFoundError:
        return "0+unknown"
