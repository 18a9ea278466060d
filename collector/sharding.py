"""Which stations a collector owns. Several collectors share a broker, each owning a
set of stations, so that a station's live state and alert timers stay on one process.

Either an explicit list, or a stable hash of the station id modulo the number of
collectors (CRC-32: the same on every machine and Python version, unlike `hash()`).
Ownership turns into per-station subscriptions, so a collector never receives (and
never has to acknowledge or ignore) another collector's messages.
"""

import zlib

from warmnet import topics
from warmnet.ids import check_id
from warmnet.registry import Fleet
from warmnet.topics import Channel


def shard_of(station: str, shard_count: int) -> int:
    return zlib.crc32(station.encode()) % shard_count


def owned_stations(
    fleet: Fleet, *, stations: str | None, shard_count: int, shard_index: int
) -> list[str] | None:
    """The station ids this collector owns, or None for all (unsharded)."""
    if stations is not None:
        ids = [check_id(s.strip(), "station id") for s in stations.split(",") if s.strip()]
        unknown = [s for s in ids if fleet.station(s) is None]
        if unknown:
            raise ValueError(f"stations not in the registry: {', '.join(unknown)}")
        return ids
    if shard_count == 1:
        return None
    return [s.id for s in fleet.stations if shard_of(s.id, shard_count) == shard_index]


def subscriptions(owned: list[str] | None) -> list[str]:
    """Topic filters for the collector: wildcards when unsharded (so that messages from
    unregistered stations are seen and dead-lettered), per station when sharded."""
    if owned is None:
        return [topics.ALL_TELEMETRY, topics.ALL_EVENTS, topics.ALL_GATEWAY_STATUS]
    return [
        topics.station_filter(s, channel)
        for s in owned
        for channel in (Channel.TELEMETRY, Channel.EVENT, Channel.GATEWAY_STATUS)
    ]
