"""Publishes each station's availability (retained, `warm/v1/{station}/availability`):
what riders see changing, promptly; everything else, bounded.

QoS 0: a summary is superseded within seconds and republished by the refresh, so a
lost one costs nothing lasting, while QoS 1 made every summary wait for paho's
in-flight window and a PUBACK (bench-ingest: p50 3 s at 2,000 readings/s with QoS 1,
0.27 s with QoS 0). Summaries paho held when the connection dropped are lost: after
every reconnect each station published before is published again.

Every tick (`availability_interval_s`, 0.05 s by default) the stations live state marks
as changed are summarised (`availability.summary_dict`, plain dicts, ~10 us a station)
and compared with what was last published for them:
- a change a rider sees (a device status and so the counts, hot water, free seats,
  online, open now, stale) is published on this tick;
- a change only of times (`observed_at`, `newest_data_at`) waits for the refresh.

The refresh visits every station once per `availability_refresh_s` (10 s), spread
evenly over the ticks (never all stations at once), and publishes the station if it
has unpublished changes, if what riders see changed with time alone (data went stale,
opening hours, maintenance), or if its last summary is older than half the refresh
period (so `updated_at` keeps moving and consumers can tell a live collector from a
dead one). Maintenance silences that change are published on the next tick.

Bounded: at most one summary per station is on its way (a station whose previous
summary paho has not written yet waits, and then sends its newest state: the stale one
is never queued behind it), at most `max_outstanding` in all, and none while the
broker is gone (paho would queue them without limit; they are superseded anyway).
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol

from collector.availability.live import LiveState
from collector.availability.summary import Layout, Visible, encode, summary_dict, visible
from collector.metrics.counters import Metrics
from warmnet import topics
from warmnet.registry import Fleet, OpeningHours

log = logging.getLogger(__name__)

Silences = Mapping[str, frozenset[str | None]]  # station -> silenced devices (None: all)


class Handle(Protocol):
    def is_published(self) -> bool: ...


class Client(Protocol):
    """What the publisher needs of a paho client."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> Any: ...

    def is_connected(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Station:
    layout: Layout
    hours: OpeningHours
    topic: str


@dataclass(frozen=True, slots=True)
class _Sent:
    visible: Visible
    at_s: float  # monotonic


class AvailabilityPublisher:
    """Not thread-safe: one thread calls `tick` (and `flush` at the end)."""

    def __init__(
        self,
        fleet: Fleet,
        live: LiveState,
        client: Client,
        metrics: Metrics,
        *,
        freshness_s: float,
        refresh_s: float = 10.0,
        silences: Callable[[int], Silences] | None = None,
        max_outstanding: int = 2000,
    ) -> None:
        self._fleet = fleet
        self._live = live
        self._client = client
        self._metrics = metrics
        self._freshness_ms = int(freshness_s * 1000)
        self._refresh_s = refresh_s
        self._silences_fn = silences
        self._silences: Silences = {}
        self._max_outstanding = max_outstanding
        self._stations: dict[str, _Station] = {}
        self._order = [s.id for s in fleet.stations]  # the refresh walks this
        self._sweep_pos = 0
        self._sweep_at: float | None = None  # monotonic time the sweep has reached
        self._sent: dict[str, _Sent] = {}
        self._quiet: set[str] = set()  # unpublished changes riders do not see
        self._held: set[str] = set()  # to reconsider next tick (broker gone, one in flight)
        self._outstanding: dict[str, Handle] = {}
        self._reconnected = False  # set from paho's thread; the next tick resends all
        self._resend: set[str] = set()  # to publish again, whatever changed (reconnect)

    # -- the tick ------------------------------------------------------------------------

    def reconnected(self) -> None:
        """The broker connection is (re)established: what paho held may be lost."""
        self._reconnected = True

    def tick(self, now_ms: int, mono_s: float) -> int:
        """Publish what is due now; returns how many summaries were published."""
        changed = self._live.take_dirty()
        if not self._client.is_connected():
            self._held |= changed  # compute nothing until the broker is back
            return 0
        if self._reconnected:
            self._reconnected = False
            self._outstanding.clear()  # written before the drop, or gone with it
            self._resend |= self._sent.keys()
        if self._held:
            changed |= self._held
            self._held = set()
        changed |= self._silences_changed(now_ms)
        self._prune()
        local = datetime.fromtimestamp(now_ms / 1000, tz=self._fleet.tz).time()
        published = 0
        for station_id in list(self._resend):
            sent = self._consider(station_id, now_ms, mono_s, local, force=True)
            if sent or station_id not in self._held:  # deferred ones stay forced
                self._resend.discard(station_id)
            published += sent
        for station_id in changed - self._resend:
            published += self._consider(station_id, now_ms, mono_s, local, sweep=False)
        for station_id in self._sweep(mono_s):
            published += self._consider(station_id, now_ms, mono_s, local, sweep=True)
        return published

    def flush(self, now_ms: int, mono_s: float) -> list[Any]:
        """At shutdown: publish every station with anything unpublished, visible or
        not; returns the publish handles to wait on."""
        if self._reconnected:
            self._resend |= self._sent.keys()
        pending = self._live.take_dirty() | self._held | self._quiet | self._resend
        self._held, self._resend = set(), set()
        local = datetime.fromtimestamp(now_ms / 1000, tz=self._fleet.tz).time()
        infos = []
        for station_id in sorted(pending):
            station = self._station(station_id)
            if station is None:
                continue
            summary = self._summary(station, now_ms, local)
            infos.append(self._publish(station_id, station, summary, mono_s))
        return infos

    @property
    def outstanding(self) -> int:
        """Summaries handed to paho and not yet written to the broker connection."""
        return len(self._outstanding)

    # -- internals -----------------------------------------------------------------------

    def _consider(
        self,
        station_id: str,
        now_ms: int,
        mono_s: float,
        local: time,
        *,
        sweep: bool = False,
        force: bool = False,
    ) -> int:
        if station_id in self._outstanding or len(self._outstanding) >= self._max_outstanding:
            self._held.add(station_id)  # one in flight per station: send the newest later
            self._metrics.inc("availability_deferred")
            return 0
        station = self._station(station_id)
        if station is None:
            return 0
        summary = self._summary(station, now_ms, local)
        last = self._sent.get(station_id)
        if force or last is None or last.visible != visible(summary):
            pass  # riders see a difference (or may have missed the last one): now
        elif not sweep:
            self._quiet.add(station_id)  # only times changed: with the refresh
            return 0
        elif station_id not in self._quiet and mono_s - last.at_s < self._refresh_s / 2:
            return 0  # published recently, nothing new since
        self._publish(station_id, station, summary, mono_s)
        return 1

    def _summary(self, station: _Station, now_ms: int, local: time) -> dict[str, Any]:
        station_id = station.layout.station
        return summary_dict(
            station.layout,
            self._live.snapshot(station_id),
            now_ms=now_ms,
            freshness_ms=self._freshness_ms,
            open_now=station.hours.is_open(local),
            under_maintenance=self._silences.get(station_id, frozenset()),
        )

    def _publish(
        self, station_id: str, station: _Station, summary: dict[str, Any], mono_s: float
    ) -> Any:
        info = self._client.publish(station.topic, encode(summary), qos=0, retain=True)
        self._outstanding[station_id] = info
        self._sent[station_id] = _Sent(visible(summary), mono_s)
        self._quiet.discard(station_id)
        self._metrics.inc("availability_published")
        return info

    def _prune(self) -> None:
        """Forget summaries paho has written."""
        done = []
        for station_id, info in self._outstanding.items():
            try:
                if info.is_published():
                    done.append(station_id)
            except (ValueError, RuntimeError):  # paho gave up on it (or queued it
                done.append(station_id)  # while disconnected): do not wait on it
        for station_id in done:
            del self._outstanding[station_id]

    def _station(self, station_id: str) -> _Station | None:
        station = self._stations.get(station_id)
        if station is None:
            spec = self._fleet.station(station_id)
            if spec is None:
                return None
            station = _Station(Layout.of(spec), spec.opening_hours, topics.availability(spec.id))
            self._stations[station_id] = station
        return station

    def _sweep(self, mono_s: float) -> list[str]:
        """The next stations of the refresh, as many as are due by now: every station
        once per refresh period, evenly spread."""
        n = len(self._order)
        if self._sweep_at is None:
            self._sweep_at = mono_s
            return []
        per_station = self._refresh_s / n
        count = min(n, int((mono_s - self._sweep_at) / per_station))
        if count <= 0:
            return []
        self._sweep_at += count * per_station
        if mono_s - self._sweep_at > self._refresh_s:  # fell a round behind: catch up
            self._sweep_at = mono_s
        start = self._sweep_pos
        self._sweep_pos = (start + count) % n
        ids = [self._order[(start + i) % n] for i in range(count)]
        return [s for s in ids if self._live.has(s)]

    def _silences_changed(self, now_ms: int) -> set[str]:
        if self._silences_fn is None:
            return set()
        new = self._silences_fn(now_ms)
        old = self._silences
        if new is old:
            return set()
        self._silences = new
        return {s for s in old.keys() | new.keys() if old.get(s) != new.get(s)}
