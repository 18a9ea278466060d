"""Response models of the API (one family per resource), decoupled from the MQTT
contract so the public JSON can evolve on its own. Every field is described; units
are in the names."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warmnet.kinds import DeviceKind, DeviceStatus


class Need(StrEnum):
    """What a rider is looking for right now."""

    CHARGING = "charging"
    HOT_WATER = "hot_water"
    MICROWAVE = "microwave"
    SEAT = "seat"


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KindCountsPublic(_Public):
    available: int = Field(description="devices of this kind free to use now")
    in_use: int = Field(description="devices busy (charging, running)")
    out_of_order: int = Field(description="devices reporting a fault")
    offline: int = Field(description="devices known to be unreachable")
    unknown: int = Field(description="devices without fresh data")


class AvailabilityPublic(_Public):
    """The station's live summary as published by the collector, checked for age here."""

    counts: dict[DeviceKind, KindCountsPublic] = Field(
        description="device counts per kind and status"
    )
    hot_water_ready: bool = Field(description="at least one heater has hot water")
    seats_free: int | None = Field(description="free seats; null when occupancy is not current")
    seats_total: int = Field(description="seats in the room")
    online: bool | None = Field(description="station gateway online; null until known")
    open_now: bool = Field(description="within opening hours, as the collector saw it")
    stale: bool = Field(
        description="data too old to trust: the collector said so, or the summary itself "
        "is older than the API's freshness limit"
    )
    updated_at: int = Field(description="when the collector computed this summary, epoch ms UTC")
    age_s: int = Field(description="seconds since updated_at")


class StationBase(_Public):
    id: str = Field(description="station id")
    name_zh: str = Field(description="name in Chinese")
    name_en: str = Field(description="name in English")
    setting: Literal["commercial", "community", "park"] = Field(description="where it is")
    area: str = Field(description="area (crew routing tag)")
    lat: float = Field(description="latitude, WGS-84 degrees")
    lon: float = Field(description="longitude, WGS-84 degrees")
    address_zh: str = Field(description="address in Chinese")
    address_en: str = Field(description="address in English")
    hours: str = Field(description="opening hours, local time: '24h' or 'HH:MM-HH:MM'")
    open_now: bool = Field(description="within opening hours now, from the registry")


class StationPublic(StationBase):
    availability: AvailabilityPublic | None = Field(
        description="live summary; null when none has been received yet"
    )


class StationNearby(StationPublic):
    distance_m: int = Field(description="great-circle distance from the query point, metres")


class DevicePublic(_Public):
    id: str = Field(description="device id")
    kind: DeviceKind = Field(description="device kind (from the registry)")
    status: DeviceStatus = Field(
        description="available | in_use | out_of_order | offline | unknown"
    )
    observed_at: int | None = Field(
        description="ts of the data behind status, epoch ms UTC; null when unknown"
    )


class StationDetail(StationPublic):
    devices: list[DevicePublic] = Field(description="every registered device, registry order")


class Health(_Public):
    status: Literal["ok"] = Field(description="the process is alive")


class Readiness(_Public):
    status: Literal["ready", "not_ready"] = Field(description="ready to serve live data")
    reason: str | None = Field(default=None, description="why not ready")
    stations_live: int = Field(description="stations with a live summary held")


class ErrorBody(_Public):
    detail: str = Field(description="what went wrong")
