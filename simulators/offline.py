"""Scenarios without a broker: the messages the collector would receive, and when.

`OfflinePlayer` runs a scenario's stations on simulated time as fast as the CPU goes
and yields `Delivery` items — (arrival time, topic, payload bytes, retain) exactly as
on the wire — with the gateway behaviour emulated: `seq` per device and channel, the
retained status protocol (`online` with a session, the last will `offline` when the
uplink drops), store-and-forward through a partition (replayed messages older than
the freshness limit flagged `historical`), a crash (devices keep their readings until
the gateway is back), clock skew (a device ts further than 5 min off is replaced),
duplicates, late copies and garbage. Alert-quality tests feed the deliveries to the
collector's own classification and alert engine with `at_ms` as "now":

    player = OfflinePlayer(load_scenario("outlet-thermal-runaway", fleet), fleet)
    for d in player.run():
        outcome = classify(d.topic, d.payload, fleet)   # collector.ingest.classify
        ...                                             # evaluate(rules, ..., d.at_ms)
        player.command("wmq-01", "outlet-03", CommandName.CUT_POWER)  # an alert action

Deterministic: the same scenario and seed give the same deliveries (commands included,
as long as they are issued at the same points).
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from simulators.fault_types import ClockSkew, Duplicates, GatewayCrash, Malformed, Partition
from simulators.faults import Window, gateway_windows, max_demand_factor, schedule_device_faults
from simulators.misbehave import DuplicatePolicy, encode_telemetry, garbage
from simulators.scenario import Scenario
from simulators.station import Event, Reading, SimulatedStation
from warmnet import topics
from warmnet.messages import (
    CommandName,
    DeviceCommand,
    DeviceEvent,
    EventType,
    GatewayState,
    GatewayStatus,
    dump_json,
)
from warmnet.registry import Fleet, Station

MS = 1000
# The gateway's defaults (gateway/settings.py), mirrored: what "the gateway" does here.
FRESHNESS_MS = 120_000
MAX_SKEW_MS = 300_000


@dataclass(frozen=True, slots=True, order=True)
class Delivery:
    """One MQTT message as the collector would receive it at `at_ms`."""

    at_ms: int
    order: int
    topic: str = field(compare=False)
    payload: bytes = field(compare=False)
    retain: bool = field(default=False, compare=False)


class _Clock:
    """The player's simulated time, as the stations' command clock."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("the offline player's clock does not sleep")


class _Gateway:
    """One station's gateway, emulated: numbering, status sessions, outages."""

    def __init__(self, player: "OfflinePlayer", station: Station, start_ms: int) -> None:
        self.player = player
        self.station = station
        self.seq: dict[tuple[str, str], int] = {}
        self.session = start_ms
        self.partitioned = False
        self.down = False
        self.backlog: list[tuple[int, str, bytes]] = []  # accepted while partitioned
        self.held: list[Reading | Event] = []  # kept by devices while the gateway is down
        self.skew: dict[str | None, int] = {}  # device (None: all) -> offset ms
        self.duplicates: DuplicatePolicy | None = None

    def status(self, state: GatewayState, at_ms: int) -> None:
        body = GatewayStatus(state=state, session=self.session, ts=at_ms)
        self.player.deliver(at_ms, topics.gateway_status(self.station.id), dump_json(body), True)

    def connect(self, at_ms: int) -> None:
        self.session = max(at_ms, self.session + 1)
        self.status(GatewayState.ONLINE, at_ms)

    def drop(self, at_ms: int) -> None:
        """The uplink is gone: the broker publishes the last will (ts = session start)."""
        body = GatewayStatus(state=GatewayState.OFFLINE, session=self.session, ts=self.session)
        self.player.deliver(at_ms, topics.gateway_status(self.station.id), dump_json(body), True)

    def accept(self, item: Reading | Event, now_ms: int) -> None:
        if self.down:
            self.held.append(item)
            return
        ts = item.ts_ms + self.skew.get(item.device, self.skew.get(None, 0))
        if abs(ts - now_ms) > MAX_SKEW_MS:
            ts = now_ms  # an implausible device clock: the gateway stamps its own
        if isinstance(item, Reading):
            channel, topic = "telemetry", topics.telemetry(item.station, item.device)
        else:
            channel, topic = "event", topics.event(item.station, item.device)
        seq = self.seq.get((item.device, channel), 0)
        self.seq[(item.device, channel)] = seq + 1
        if isinstance(item, Reading):
            payload = encode_telemetry(ts, seq, item.fields)
        else:
            event = DeviceEvent(ts=ts, seq=seq, type=item.type, code=item.code, detail=item.detail)
            payload = dump_json(event)
        if self.partitioned:
            self.backlog.append((now_ms, topic, payload))
            return
        self.player.deliver(now_ms, topic, payload)
        if self.duplicates is not None and isinstance(item, Reading):
            again, late_ms = self.duplicates.decide()
            if again:
                self.player.deliver(now_ms, topic, payload)
            if late_ms is not None:
                self.player.deliver(now_ms + late_ms, topic, payload)

    def replay(self, now_ms: int) -> None:
        for accepted_ms, topic, payload in self.backlog:
            if now_ms - accepted_ms > FRESHNESS_MS:
                payload = payload[:-1] + b',"historical":true}'
            self.player.deliver(now_ms, topic, payload)
        self.backlog.clear()
        held, self.held = self.held, []
        for item in held:
            self.accept(item, now_ms)


class OfflinePlayer:
    """A scenario on simulated time, no network (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        fleet: Fleet,
        *,
        seed: int | None = None,
        start_ms: int | None = None,
        step_s: float = 1.0,
    ) -> None:
        scenario.check(fleet)
        self.scenario = scenario
        self.fleet = fleet
        self.seed = scenario.seed if seed is None else seed
        local = datetime.combine(scenario.date, scenario.start, tzinfo=fleet.tz)
        self.start_ms = int(local.timestamp() * MS) if start_ms is None else start_ms
        self.end_ms = self.start_ms + int(scenario.duration * MS)
        self.step_ms = max(1, int(step_s * MS))
        self.clock = _Clock(self.start_ms)
        self._started = False
        self._queue: list[Delivery] = []
        self._order = 0
        self.stations: dict[str, SimulatedStation] = {}
        self.gateways: dict[str, _Gateway] = {}
        for sid in scenario.station_ids(fleet):
            spec = fleet.station(sid)
            assert spec is not None  # checked above
            st = SimulatedStation(
                spec,
                fleet.tz,
                self.seed,
                clock=self.clock,
                max_demand_factor=max_demand_factor(scenario, sid),
            )
            st.start(self.start_ms)
            schedule_device_faults(scenario, st, self.start_ms)
            self.stations[sid] = st
            self.gateways[sid] = _Gateway(self, spec, self.start_ms)
        self._windows = gateway_windows(scenario, self.stations, self.start_ms)
        self._edges: list[tuple[int, int, bool, Window]] = []  # (at, order, begins, window)
        self._due = {sid: self.start_ms for sid in self.stations}
        for i, w in enumerate(self._windows):
            heapq.heappush(self._edges, (w.start_ms, 2 * i, True, w))
            if w.end_ms is not None:
                heapq.heappush(self._edges, (w.end_ms, 2 * i + 1, False, w))
        self._garbage: dict[int, int] = {}  # window index -> messages so far

    @property
    def now_ms(self) -> int:
        return self.clock.now

    def deliver(self, at_ms: int, topic: str, payload: bytes, retain: bool = False) -> None:
        self._order += 1
        heapq.heappush(self._queue, Delivery(at_ms, self._order, topic, payload, retain))

    def command(self, station: str, device: str, name: CommandName) -> tuple[bool, str]:
        """Execute a downlink command now, answered with a `command_result` event; a
        station whose gateway is unreachable never gets it."""
        gw = self.gateways[station]
        if gw.partitioned or gw.down:
            return False, "station gateway unreachable: command not delivered"
        command = DeviceCommand(
            id=f"offline-{self._order + 1}", ts=self.now_ms, command=name, reason="offline"
        )
        ok, detail = self.stations[station].execute(device, command)
        seq = gw.seq.get((device, "event"), 0)
        gw.seq[(device, "event")] = seq + 1
        result = DeviceEvent(
            ts=self.now_ms,
            seq=seq,
            type=EventType.COMMAND_RESULT,
            code="OK" if ok else "FAILED",
            detail=detail[:200],
            command_id=command.id,
        )
        self.deliver(self.now_ms, topics.event(station, device), dump_json(result))
        return ok, detail

    def run(self, until_ms: int | None = None) -> Iterator[Delivery]:
        """Deliveries in arrival order until the scenario's end (or `until_ms`)."""
        end = self.end_ms if until_ms is None else until_ms
        if not self._started:
            self._started = True
            for gw in self.gateways.values():
                gw.status(GatewayState.ONLINE, self.start_ms)
        while self.now_ms <= end:
            t = self.now_ms
            while self._edges and self._edges[0][0] <= t:
                _, _, begins, window = heapq.heappop(self._edges)
                self._edge(window, begins, t)
            self._garbage_due(t)
            for sid, st in self.stations.items():
                if self._due[sid] > t:
                    continue
                items: list[Reading | Event] = [*st.due(t), *st.take_events()]
                gw = self.gateways[sid]
                for item in sorted(items, key=lambda x: x.ts_ms):
                    gw.accept(item, t)
                self._due[sid] = st.next_due_ms()
            while self._queue and self._queue[0].at_ms <= t:
                yield heapq.heappop(self._queue)
            self.clock.now = self._next_time(t, end)

    def _next_time(self, t: int, end: int) -> int:
        candidates = list(self._due.values())
        if self._edges:
            candidates.append(self._edges[0][0])
        if self._queue:
            candidates.append(self._queue[0].at_ms)
        candidates += [self._next_garbage_ms(w, t) for w in self._windows]
        nxt = max(t + self.step_ms, min(candidates, default=end + 1))
        # Land on the step grid, so that commands issued between steps act in order.
        nxt = t + -(-(nxt - t) // self.step_ms) * self.step_ms
        return nxt if nxt <= end or t >= end else end

    def _edge(self, w: Window, begins: bool, t: int) -> None:
        gw = self.gateways[w.station]
        f = w.fault
        if isinstance(f, Partition | GatewayCrash):
            if begins:
                gw.drop(t)
                gw.partitioned = isinstance(f, Partition)
                gw.down = isinstance(f, GatewayCrash)
            else:
                gw.partitioned = gw.down = False
                gw.connect(t)
                gw.replay(t)
        elif isinstance(f, ClockSkew):
            if begins:
                gw.skew[f.device] = int(f.params.offset_s * MS)
            else:
                gw.skew.pop(f.device, None)
        elif isinstance(f, Duplicates):
            key = f"{self.seed}:{w.station}"
            gw.duplicates = DuplicatePolicy(f.params, key) if begins else None

    def _next_garbage_ms(self, w: Window, t: int) -> int:
        if not isinstance(w.fault, Malformed):
            return 2**62
        period = int(60_000 / w.fault.params.per_min)
        n = max(0, -(-(t + 1 - w.start_ms) // period))
        at = w.start_ms + n * period
        return at if w.active(at) else 2**62

    def _garbage_due(self, t: int) -> None:
        for i, w in enumerate(self._windows):
            if not isinstance(w.fault, Malformed) or t < w.start_ms:
                continue
            period = int(60_000 / w.fault.params.per_min)
            last = min(t, w.end_ms - 1 if w.end_ms is not None else t)
            due = (last - w.start_ms) // period + 1
            done = self._garbage.get(i, 0)
            station = self.gateways[w.station].station
            for n in range(done, due):
                g = garbage(station, n, t)
                self.deliver(t, g.topic, g.payload)
            self._garbage[i] = max(done, due)
