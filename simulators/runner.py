"""The simulation loop: stations produce due readings and events, a sink delivers them,
a scenario's faults happen on time.

- `run()`: the library entry point (injected clock and sink: tests, the demo).
- `run_through_gateways()`: one in-process gateway per station (`GatewayFleet`),
  gateway-level faults included; what `warmnet simulate` does.
- `drive()`: the loop itself, for callers that build stations and sink themselves.
- `run_from_settings()`: the CLI's entry point.
"""

import heapq
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from simulators.fault_types import Duplicates, Malformed
from simulators.faults import Window, gateway_windows, max_demand_factor, schedule_device_faults
from simulators.scenario import Scenario, load_scenario
from simulators.sink import MqttSink, ReadingSink
from simulators.station import Event, Reading, SimulatedStation
from warmnet.clock import Clock, SimulatedClock, clock_from_env
from warmnet.registry import Fleet, load_fleet
from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)

SinkFactory = Callable[[Sequence[str]], ReadingSink]
"""Builds a ready sink for the given station ids; `run()` closes it when done."""

MAX_TICK_REAL_S = 0.5  # the loop wakes at least this often (real time) to check `stop`
MIN_TICK_REAL_S = 0.02  # ...and at most 50 times a second: due readings are batched


@runtime_checkable
class EventSink(Protocol):
    def submit_event(self, event: Event) -> None: ...


@runtime_checkable
class FaultSink(Protocol):
    """A sink that can apply gateway-level faults (partition, crash, ...)."""

    def apply(self, window: Window, begins: bool, now_ms: int) -> None: ...

    def tick(self, now_ms: int) -> None: ...


@dataclass
class RunStats:
    readings: int = 0
    events: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # report slots dropped because the loop fell far behind
    silenced: int = 0  # reports of devices a scenario made silent
    start_ms: int = 0
    end_ms: int = 0
    scenario: str | None = None
    delivery: Counter[str] = field(default_factory=Counter)  # the sink's own counters

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


def make_stations(
    fleet: Fleet,
    station_ids: Sequence[str],
    seed: int,
    clock: Clock | None = None,
    scenario: Scenario | None = None,
) -> list[SimulatedStation]:
    """Simulated stations (not started yet: `drive` starts them)."""
    out = []
    for sid in station_ids:
        station = fleet.station(sid)
        if station is None:
            raise ValueError(f"unknown station {sid!r}")
        factor = max_demand_factor(scenario, sid)
        out.append(SimulatedStation(station, fleet.tz, seed, clock=clock, max_demand_factor=factor))
    return out


def scenario_shift_ms(scenario: Scenario, start_ms: int, tz: tzinfo) -> int:
    """How far to move the models' local time so the run starts at the scenario's
    time of day (the data keep their real timestamps)."""
    local = datetime.fromtimestamp(start_ms / 1000, tz=tz)
    target = datetime.combine(local.date(), scenario.start, tzinfo=tz)
    return int(target.timestamp() * 1000) - start_ms


def run(
    fleet: Fleet,
    station_ids: Sequence[str],
    sink: SinkFactory | MqttUrl | str,
    clock: Clock,
    *,
    seed: int,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    scenario: Scenario | None = None,
) -> RunStats:
    """Simulate `station_ids` from `clock.now_ms()` for `duration_s` simulated seconds
    (None: until `stop` is set), submitting every due reading (and event, if the sink
    takes them) to the sink, then close the sink. `sink` is a factory or an MQTT URL
    (then an `MqttSink` is used)."""
    stations = make_stations(fleet, station_ids, seed, clock, scenario)
    factory = sink if callable(sink) else mqtt_sink_factory(sink, clock)
    out = factory(station_ids)  # connects first: simulated time starts once we can publish
    return drive(stations, out, clock, duration_s=duration_s, stop=stop, scenario=scenario)


def drive(
    stations: Sequence[SimulatedStation],
    out: ReadingSink,
    clock: Clock,
    *,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    scenario: Scenario | None = None,
) -> RunStats:
    """The loop: start the stations at `clock.now_ms()` with the scenario's faults
    scheduled, deliver until `duration_s` or `stop`, close `out`."""
    stop = stop if stop is not None else threading.Event()
    stats = RunStats(scenario=scenario.name if scenario else None)
    try:
        start_ms = clock.now_ms()
        stats.start_ms = stats.end_ms = start_ms
        edges: list[tuple[int, int, bool, Window]] = []
        for st in stations:
            if scenario is not None:
                st.shift_ms = scenario_shift_ms(scenario, start_ms, st.tz)
            st.start(start_ms)
            if scenario is not None:
                schedule_device_faults(scenario, st, start_ms)
        if scenario is not None:
            windows = gateway_windows(scenario, [st.id for st in stations], start_ms)
            if windows and not isinstance(out, FaultSink):
                raise ValueError(f"scenario {scenario.name} needs gateways (gateway-level faults)")
            for i, w in enumerate(windows):
                edges.append((w.start_ms, 2 * i, True, w))
                if w.end_ms is not None:
                    edges.append((w.end_ms, 2 * i + 1, False, w))
            heapq.heapify(edges)
        _loop(stations, out, clock, stats, edges, duration_s, stop)
    finally:
        stats.skipped = sum(st.skipped for st in stations)
        stats.silenced = sum(st.silenced for st in stations)
        out.close()
        counts = getattr(out, "counts", None)
        if isinstance(counts, Counter):
            stats.delivery.update(counts)
    log.info(
        "simulation finished",
        extra={
            "readings": stats.readings,
            "events": stats.events,
            "simulated_s": stats.simulated_s,
        },
    )
    return stats


def _loop(
    stations: Sequence[SimulatedStation],
    out: ReadingSink,
    clock: Clock,
    stats: RunStats,
    edges: list[tuple[int, int, bool, Window]],
    duration_s: float | None,
    stop: threading.Event,
) -> None:
    end_ms = None if duration_s is None else stats.start_ms + int(duration_s * 1000)
    events_to = out.submit_event if isinstance(out, EventSink) else None
    faults_to = out if isinstance(out, FaultSink) else None
    # Sleep lengths are in clock seconds; a fast-forward clock says how fast it runs.
    speed = float(getattr(clock, "speed", 1.0))
    log.info(
        "simulation started",
        extra={
            "stations": len(stations),
            "scenario": stats.scenario,
            "speed": speed,
            "duration_s": duration_s,
        },
    )

    def step(until: int) -> None:
        for st in stations:
            items: list[Reading | Event] = [*st.due(until), *st.take_events()]
            items.sort(key=lambda x: x.ts_ms)
            for item in items:
                if isinstance(item, Reading):
                    out.submit(item)
                    stats.readings += 1
                    stats.by_kind[item.kind.value] += 1
                elif events_to is not None:
                    events_to(item)
                    stats.events += 1
                else:
                    stats.delivery["events_not_delivered"] += 1

    while not stop.is_set():
        now = clock.now_ms()
        horizon = now if end_ms is None else min(now, end_ms)
        while edges and edges[0][0] <= horizon and faults_to is not None:
            at, _, begins, window = heapq.heappop(edges)
            step(at - 1)
            faults_to.apply(window, begins, at)
        step(horizon)
        if faults_to is not None:
            faults_to.tick(horizon)
        stats.end_ms = horizon
        if end_ms is not None and now >= end_ms:
            break
        wake_ms = min((st.next_due_ms() for st in stations), default=now + 1000)
        if edges:
            wake_ms = min(wake_ms, edges[0][0])
        if end_ms is not None:
            wake_ms = min(wake_ms, end_ms)
        wait_s = (wake_ms - now) / 1000
        clock.sleep(min(max(wait_s, MIN_TICK_REAL_S * speed), MAX_TICK_REAL_S * speed))


def needs_raw_client(scenario: Scenario | None) -> bool:
    """Does the scenario publish beside the gateways (duplicates, garbage)?"""
    return scenario is not None and any(
        isinstance(f, Duplicates | Malformed) for f in scenario.faults
    )


def run_through_gateways(
    fleet: Fleet,
    station_ids: Sequence[str],
    mqtt_url: MqttUrl | str,
    data_dir: Path,
    clock: Clock,
    *,
    seed: int,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    scenario: Scenario | None = None,
    outbox: Literal["sqlite", "memory"] = "sqlite",
) -> RunStats:
    """One started `Gateway` per station (data in `data_dir/STATION/`), the stations as
    their devices (and `DeviceControl`), the scenario's faults around them."""
    from simulators.gateways import GatewayFleet, GatewayOptions

    stations = make_stations(fleet, station_ids, seed, clock, scenario)
    speed = float(getattr(clock, "speed", 1.0))
    options = GatewayOptions(
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        outbox=outbox,
        # Tolerate ~5 s of real delivery latency before calling data historical.
        freshness_s=max(120.0, 5.0 * speed),
    )
    gateways = GatewayFleet(
        fleet, station_ids, options, clock=clock, controls={s.id: s for s in stations}, seed=seed
    )
    gateways.start(raw_client=needs_raw_client(scenario))
    return drive(stations, gateways, clock, duration_s=duration_s, stop=stop, scenario=scenario)


def run_from_settings(
    stations: str | None,
    speed: float | None,
    seed: int | None,
    duration_s: float | None,
    mqtt_url: MqttUrl | str,
    registry_path: str | Path | None,
    stop_event: threading.Event,
    *,
    scenario: str | None = None,
    keep_running: bool = False,
    data_dir: Path = Path("var/sim"),
    outbox: Literal["sqlite", "memory"] = "sqlite",
    start_ms: int | None = None,
) -> RunStats:
    """Entry point for `warmnet simulate --stations all|ID,ID [--scenario NAME]
    --speed 60 --seed 7 --duration 300`: load the fleet (bundled one if
    `registry_path` is None) and the scenario, run the stations through gateways on a
    clock `speed` times faster than real time, starting now (or at `start_ms`), until
    `duration_s` simulated seconds (default: the scenario's duration, else forever;
    `keep_running`: forever after the scenario) or `stop_event`. Raises ValueError for
    unknown stations, RegistryError / ScenarioError for bad files."""
    fleet = load_fleet(registry_path)
    plan = load_scenario(scenario, fleet) if scenario else None
    if plan is not None:
        ids = plan.station_ids(fleet) if stations is None else select_stations(fleet, stations)
        missing = {f.station for f in plan.faults if f.station != "all"} - set(ids)
        if missing:
            raise ValueError(f"scenario {plan.name} targets {', '.join(sorted(missing))}")
        speed = plan.speed if speed is None else speed
        seed = plan.seed if seed is None else seed
        if duration_s is None and not keep_running:
            duration_s = plan.duration
    else:
        ids = select_stations(fleet, stations or "all")
    shared = clock_from_env()  # the demo's clock, shared with the collector and the API
    clock = (
        shared
        if isinstance(shared, SimulatedClock) and start_ms is None
        else SimulatedClock(speed=speed or 1.0, start_ms=start_ms)
    )
    return run_through_gateways(
        fleet,
        ids,
        mqtt_url,
        data_dir,
        clock,
        seed=7 if seed is None else seed,
        duration_s=duration_s,
        stop=stop_event,
        scenario=plan,
        outbox=outbox,
    )
