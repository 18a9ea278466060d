"""Pure functions that turn registry stations and live summaries into response models,
and decide which stations meet a rider's needs now. No I/O, time passed in."""

import math

from api.schemas import (
    AvailabilityPublic,
    DevicePublic,
    KindCountsPublic,
    Need,
    StationDetail,
    StationNearby,
    StationPublic,
)
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import StationAvailability
from warmnet.registry import Fleet, Station

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Haversine great-circle distance, whole metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))))


def is_stale(summary: StationAvailability, now_ms: int, freshness_s: float) -> bool:
    """Stale if the collector says so, or if the summary itself is too old: a dead
    collector keeps its last retained summary on the broker forever."""
    return summary.stale or now_ms - summary.updated_at > freshness_s * 1000


def availability(
    summary: StationAvailability | None, now_ms: int, freshness_s: float
) -> AvailabilityPublic | None:
    if summary is None:
        return None
    return AvailabilityPublic(
        counts={
            kind: KindCountsPublic.model_validate(c.model_dump())
            for kind, c in summary.counts.items()
        },
        hot_water_ready=summary.hot_water_ready,
        seats_free=summary.seats_free,
        seats_total=summary.seats_total,
        online=summary.online,
        open_now=summary.open_now,
        stale=is_stale(summary, now_ms, freshness_s),
        updated_at=summary.updated_at,
        age_s=max(0, (now_ms - summary.updated_at) // 1000),
    )


def _base(fleet: Fleet, station: Station, now_ms: int) -> dict[str, object]:
    return {
        "id": station.id,
        "name_zh": station.name_zh,
        "name_en": station.name_en,
        "setting": station.setting,
        "area": station.area,
        "lat": station.lat,
        "lon": station.lon,
        "address_zh": station.address_zh,
        "address_en": station.address_en,
        "hours": station.hours,
        "open_now": fleet.is_open(station, now_ms),
    }


def station_public(
    fleet: Fleet,
    station: Station,
    summary: StationAvailability | None,
    now_ms: int,
    freshness_s: float,
) -> StationPublic:
    live = availability(summary, now_ms, freshness_s)
    return StationPublic.model_validate({**_base(fleet, station, now_ms), "availability": live})


def station_detail(
    fleet: Fleet,
    station: Station,
    summary: StationAvailability | None,
    now_ms: int,
    freshness_s: float,
) -> StationDetail:
    seen = {d.device: d for d in summary.devices} if summary is not None else {}
    devices = []
    # Registry order and registry kinds: the registry is the truth about what exists.
    for spec in station.devices:
        live = seen.get(spec.id)
        devices.append(
            DevicePublic(
                id=spec.id,
                kind=spec.kind,
                status=live.status if live is not None else DeviceStatus.UNKNOWN,
                observed_at=live.observed_at if live is not None else None,
            )
        )
    return StationDetail.model_validate(
        {
            **_base(fleet, station, now_ms),
            "availability": availability(summary, now_ms, freshness_s),
            "devices": devices,
        }
    )


def _available(summary: StationAvailability, kind: DeviceKind) -> int:
    counts = summary.counts.get(kind)
    return counts.available if counts is not None else 0


def has_need(summary: StationAvailability, need: Need) -> bool:
    if need is Need.CHARGING:
        return _available(summary, DeviceKind.CHARGING_OUTLET) > 0
    if need is Need.HOT_WATER:
        return summary.hot_water_ready
    if need is Need.MICROWAVE:
        return _available(summary, DeviceKind.MICROWAVE) > 0
    return (summary.seats_free or 0) > 0


def usable_now(
    fleet: Fleet,
    station: Station,
    summary: StationAvailability | None,
    needs: list[Need],
    now_ms: int,
    freshness_s: float,
) -> bool:
    """Would a rider sent there now find it open, live and with every need met?

    Conservative on purpose: closed by either the registry hours or the collector,
    gateway known offline, no summary or a stale one: not listed.
    """
    if summary is None or not fleet.is_open(station, now_ms) or not summary.open_now:
        return False
    if summary.online is False or is_stale(summary, now_ms, freshness_s):
        return False
    return all(has_need(summary, need) for need in needs)


def nearby(
    fleet: Fleet,
    summaries: dict[str, StationAvailability],
    lat: float,
    lon: float,
    needs: list[Need],
    now_ms: int,
    freshness_s: float,
    *,
    limit: int,
    max_km: float | None = None,
) -> list[StationNearby]:
    """Stations usable now for `needs`, nearest first (ties by id), at most `limit`."""
    found: list[tuple[int, str, Station]] = []
    for station in fleet.stations:
        summary = summaries.get(station.id)
        if not usable_now(fleet, station, summary, needs, now_ms, freshness_s):
            continue
        d = distance_m(lat, lon, station.lat, station.lon)
        if max_km is not None and d > max_km * 1000:
            continue
        found.append((d, station.id, station))
    found.sort(key=lambda t: (t[0], t[1]))
    return [
        StationNearby.model_validate(
            {
                **_base(fleet, station, now_ms),
                "availability": availability(summaries.get(station.id), now_ms, freshness_s),
                "distance_m": d,
            }
        )
        for d, _, station in found[:limit]
    ]
