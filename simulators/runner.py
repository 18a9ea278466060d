"""The simulation loop: stations produce due readings, a sink delivers them.

`run()` is the library entry point (injected clock and sink, for tests and the demo);
`run_from_settings()` is what `warmnet simulate` calls.
"""

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulators.sink import MqttSink, ReadingSink
from simulators.station import SimulatedStation
from warmnet.clock import Clock, SimulatedClock
from warmnet.registry import Fleet, load_fleet
from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)

SinkFactory = Callable[[Sequence[str]], ReadingSink]
"""Builds a ready sink for the given station ids; `run()` closes it when done."""

MAX_TICK_REAL_S = 0.5  # the loop wakes at least this often (real time) to check `stop`
MIN_TICK_REAL_S = 0.02  # ...and at most 50 times a second: due readings are batched


@dataclass
class RunStats:
    readings: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # report slots dropped because the loop fell far behind
    start_ms: int = 0
    end_ms: int = 0

    @property
    def simulated_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def select_stations(fleet: Fleet, spec: str) -> list[str]:
    """`all` or a comma-separated list of station ids (unknown ids are an error)."""
    if spec.strip().lower() == "all":
        return [s.id for s in fleet.stations]
    ids = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [i for i in ids if fleet.station(i) is None]
    if unknown or not ids:
        known = ", ".join(s.id for s in fleet.stations[:5])
        raise ValueError(
            f"unknown station(s) {', '.join(unknown) or '(none given)'}; "
            f"expected 'all' or ids like {known}, ..."
        )
    return list(dict.fromkeys(ids))


def mqtt_sink_factory(
    url: MqttUrl | str, clock: Clock | None = None, *, record: bool = False
) -> SinkFactory:
    def factory(station_ids: Sequence[str]) -> ReadingSink:
        sink = MqttSink(url, station_ids, clock=clock, record=record)
        sink.start()
        return sink

    return factory


def run(
    fleet: Fleet,
    station_ids: Sequence[str],
    sink: SinkFactory | MqttUrl | str,
    clock: Clock,
    *,
    seed: int,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
) -> RunStats:
    """Simulate `station_ids` from `clock.now_ms()` for `duration_s` simulated seconds
    (None: until `stop` is set), submitting every due reading to the sink, then close
    the sink. `sink` is a factory or an MQTT URL (then an `MqttSink` is used)."""
    stop = stop if stop is not None else threading.Event()
    factory = sink if callable(sink) else mqtt_sink_factory(sink, clock)
    specs = []
    for sid in station_ids:
        station = fleet.station(sid)
        if station is None:
            raise ValueError(f"unknown station {sid!r}")
        specs.append(station)
    out = factory(station_ids)  # connects first: simulated time starts once we can publish
    start_ms = clock.now_ms()
    end_ms = None if duration_s is None else start_ms + int(duration_s * 1000)
    stations = [SimulatedStation(st, fleet.tz, seed, start_ms=start_ms) for st in specs]
    # Sleep lengths are in clock seconds; a fast-forward clock says how fast it runs.
    speed = float(getattr(clock, "speed", 1.0))
    stats = RunStats(start_ms=start_ms, end_ms=start_ms)
    log.info(
        "simulation started",
        extra={"stations": len(stations), "seed": seed, "speed": speed, "duration_s": duration_s},
    )
    try:
        while not stop.is_set():
            now = clock.now_ms()
            horizon = now if end_ms is None else min(now, end_ms)
            for st in stations:
                for reading in st.due(horizon):
                    out.submit(reading)
                    stats.readings += 1
                    stats.by_kind[reading.kind.value] += 1
            stats.end_ms = horizon
            if end_ms is not None and now >= end_ms:
                break
            wake_ms = min(st.next_due_ms() for st in stations) if stations else now + 1000
            if end_ms is not None:
                wake_ms = min(wake_ms, end_ms)
            wait_s = (wake_ms - now) / 1000
            clock.sleep(min(max(wait_s, MIN_TICK_REAL_S * speed), MAX_TICK_REAL_S * speed))
    finally:
        stats.skipped = sum(st.skipped for st in stations)
        out.close()
    log.info(
        "simulation finished",
        extra={"readings": stats.readings, "simulated_s": stats.simulated_s},
    )
    return stats


def run_from_settings(
    stations: str,
    speed: float,
    seed: int,
    duration_s: float | None,
    mqtt_url: MqttUrl | str,
    registry_path: str | Path | None,
    stop_event: threading.Event,
    *,
    start_ms: int | None = None,
) -> RunStats:
    """Entry point for `warmnet simulate --stations all|ID,ID --speed 60 --seed 7
    --duration 300`: load the fleet (bundled one if `registry_path` is None), run the
    stations on a clock `speed` times faster than real time, starting now (or at
    `start_ms`, epoch ms), until `duration_s` simulated seconds passed or `stop_event`
    is set. Raises ValueError for unknown stations, RegistryError for a bad registry,
    warmnet.mqtt.ConnectError when the broker is unreachable."""
    fleet = load_fleet(registry_path)
    ids = select_stations(fleet, stations)
    clock = SimulatedClock(speed=speed, start_ms=start_ms)
    # `run` checks the stop event at least every 0.5 s of real time.
    return run(
        fleet,
        ids,
        mqtt_sink_factory(mqtt_url, clock),
        clock,
        seed=seed,
        duration_s=duration_s,
        stop=stop_event,
    )
