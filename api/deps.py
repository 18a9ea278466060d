"""Request dependencies as `Annotated` aliases: routes declare what they need
(`fleet: FleetDep`) and the app factory decides what it is."""

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from alertstore import AlertStore
from api.auth import TokenTable
from api.live import AvailabilityFeed, LiveAvailability
from api.settings import ApiSettings
from api.telemetry import RecentTelemetry
from warmnet.clock import Clock
from warmnet.registry import Fleet


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Everything the routes share, built once by `create_app`."""

    settings: ApiSettings
    fleet: Fleet
    live: LiveAvailability
    clock: Clock
    feed: AvailabilityFeed | None
    tokens: TokenTable = field(default_factory=TokenTable)
    alerts: AlertStore | None = None  # None: crew and report endpoints answer 503
    telemetry: RecentTelemetry | None = None  # None: alert details carry no telemetry
    client_key_salt: bytes = b""


def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def get_settings(ctx: Annotated[ApiContext, Depends(get_context)]) -> ApiSettings:
    return ctx.settings


def get_fleet(ctx: Annotated[ApiContext, Depends(get_context)]) -> Fleet:
    return ctx.fleet


def get_live(ctx: Annotated[ApiContext, Depends(get_context)]) -> LiveAvailability:
    return ctx.live


def get_clock(ctx: Annotated[ApiContext, Depends(get_context)]) -> Clock:
    return ctx.clock


def get_feed(ctx: Annotated[ApiContext, Depends(get_context)]) -> AvailabilityFeed | None:
    return ctx.feed


def get_alerts(ctx: Annotated[ApiContext, Depends(get_context)]) -> AlertStore:
    if ctx.alerts is None:
        raise HTTPException(status_code=503, detail="alert store not configured")
    return ctx.alerts


def get_telemetry(ctx: Annotated[ApiContext, Depends(get_context)]) -> RecentTelemetry | None:
    return ctx.telemetry


ContextDep = Annotated[ApiContext, Depends(get_context)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
FleetDep = Annotated[Fleet, Depends(get_fleet)]
LiveDep = Annotated[LiveAvailability, Depends(get_live)]
ClockDep = Annotated[Clock, Depends(get_clock)]
FeedDep = Annotated[AvailabilityFeed | None, Depends(get_feed)]
AlertsDep = Annotated[AlertStore, Depends(get_alerts)]
TelemetryDep = Annotated[RecentTelemetry | None, Depends(get_telemetry)]
