"""The simulator's stations through real gateways: one in-process `Gateway` per
station, each with its own data directory (`DATA_DIR/STATION/`), and the
gateway-level faults of scenarios applied around them:

- partition: `UplinkSwitch` closes the uplink's socket under paho (the broker sees the
  connection drop and publishes the last will) and refuses reconnects until restored;
  the gateway keeps buffering in its outbox and replays on its own.
- gateway crash: the uplink is cut first (so no `stopped` can go out), then the
  `Gateway` object is stopped and, after the downtime, a new one is started on the
  same data directory. Devices keep their readings meanwhile (like the local MQTT
  radios' persistent session) and deliver them to the new gateway.
- clock skew: device timestamps shifted before `Gateway.submit`.
- duplicates, late copies, garbage: a separate MQTT client (`sim-raw-STATION`) publishes
  them directly, as a misbehaving device or gateway would.

`GatewayFleet` has the shape of `simulators.sink.ReadingSink` (plus `submit_event`,
`apply`, `tick`): `simulators.runner.run_through_gateways` drives it.
"""

import contextlib
import heapq
import logging
import socket
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from gateway import (
    ClientFactory,
    DeviceControl,
    Gateway,
    GatewaySettings,
    SqliteOutbox,
    make_client,
)
from simulators.fault_types import ClockSkew, Duplicates, GatewayCrash, Malformed, Partition
from simulators.faults import Window
from simulators.misbehave import DuplicatePolicy, encode_telemetry, garbage
from simulators.sink import parse_mqtt_url
from simulators.station import Event, Reading
from warmnet import topics
from warmnet.clock import Clock
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet, Station
from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)

MS = 1000
HELD_MAX = 100_000  # readings devices keep while their gateway is down, per station
CRASH_WAIT_S = 5.0  # real seconds to see the uplink go down before stopping the gateway


class UplinkSwitch:
    """The network between one gateway and the broker, with an off switch. Pass
    `factory` as the gateway's client factory."""

    def __init__(self, base: ClientFactory = make_client) -> None:
        self.base = base
        self._cut = threading.Event()
        self._clients: weakref.WeakSet[mqtt.Client] = weakref.WeakSet()

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    def factory(self, url: MqttUrl, client_id: str) -> mqtt.Client:
        client = self.base(url, client_id)
        connect_through = client.connect
        switch = self

        def guarded_connect(host: str, port: int = 1883, keepalive: int = 60) -> Any:
            if switch.is_cut:
                raise ConnectionRefusedError("network partition (simulated)")
            return connect_through(host, port, keepalive)

        client.connect = guarded_connect  # type: ignore[method-assign,assignment]
        self._clients.add(client)
        return client

    def cut(self) -> None:
        """Drop every live connection without a DISCONNECT; refuse new ones."""
        self._cut.set()
        for client in list(self._clients):
            sock = client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self._cut.clear()


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    """How the simulator runs its gateways (times are real seconds unless noted)."""

    mqtt_url: MqttUrl | str
    data_dir: Path
    outbox: Literal["sqlite", "memory"] = "sqlite"
    freshness_s: float = 120.0  # simulated seconds, as the gateway measures on its clock
    heartbeat_s: float = 5.0
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 2.0

    def settings(self, station: str) -> GatewaySettings:
        # Everything that matters is explicit: the WARMNET_* environment of the
        # simulator (a client id, a local broker) must not leak into 36 gateways.
        return GatewaySettings(
            station=station,
            mqtt_url=parse_mqtt_url(self.mqtt_url),
            data_dir=self.data_dir,
            outbox=self.outbox,
            client_id=f"gw-{station}",
            local_mqtt_url=None,
            freshness_s=self.freshness_s,
            heartbeat_s=self.heartbeat_s,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
        )


class _Station:
    def __init__(self, station: Station, settings: GatewaySettings) -> None:
        self.station = station
        self.settings = settings
        self.switch = UplinkSwitch()
        self.gateway: Gateway | None = None
        self.down = False
        self.held: deque[Reading | Event] = deque(maxlen=HELD_MAX)
        self.skew_ms: dict[str | None, int] = {}
        self.duplicates: DuplicatePolicy | None = None
        self.malformed: list[Window] = []

    def skew(self, device: str) -> int:
        return self.skew_ms.get(device, self.skew_ms.get(None, 0))


class GatewayFleet:
    """Routes readings and events to each station's gateway; applies gateway faults."""

    def __init__(
        self,
        fleet: Fleet,
        station_ids: Sequence[str],
        options: GatewayOptions,
        *,
        clock: Clock,
        controls: Mapping[str, DeviceControl],
        seed: int = 7,
        record: bool = False,
    ) -> None:
        self.fleet = fleet
        self.options = options
        self.clock = clock
        self.controls = controls
        self.seed = seed
        self.counts: Counter[str] = Counter()
        self.accepted: list[tuple[str, int]] | None = [] if record else None  # (topic, seq)
        self._stations: dict[str, _Station] = {}
        for sid in station_ids:
            station = fleet.station(sid)
            if station is None:
                raise ValueError(f"unknown station {sid!r}")
            self._stations[sid] = _Station(station, options.settings(sid))
        self._raw: mqtt.Client | None = None
        self._raw_pending: deque[mqtt.MQTTMessageInfo] = deque()
        self._late: list[tuple[int, int, str, bytes]] = []  # (due ms, order, topic, payload)
        self._garbage_sent: dict[Window, int] = {}

    @property
    def gateways(self) -> dict[str, Gateway]:
        return {sid: s.gateway for sid, s in self._stations.items() if s.gateway is not None}

    def start(self, *, raw_client: bool = False) -> None:
        """Start every gateway (they connect in the background); with `raw_client`,
        connect the misbehaving publisher too."""
        started = time.monotonic()
        try:
            # Opening 2 SQLite files per gateway is mostly waiting for the disk: in parallel.
            with ThreadPoolExecutor(max_workers=8) as pool:
                made = [(s, pool.submit(self._new_gateway, s)) for s in self._stations.values()]
            errors = [e for _, f in made if (e := f.exception()) is not None]
            for s, f in made:
                s.gateway = f.result() if f.exception() is None else None
            if errors:
                raise errors[0]
            for s in self._stations.values():
                assert s.gateway is not None
                s.gateway.start()
            if raw_client:
                url = parse_mqtt_url(self.options.mqtt_url)
                client = new_client(url, f"sim-raw-{self.seed}-{int(time.time())}")
                client.max_inflight_messages_set(1000)
                client.max_queued_messages_set(0)
                connect(client, url)
                self._raw = client
        except Exception:
            self.close()
            raise
        log.info(
            "simulated gateways started",
            extra={
                "stations": len(self._stations),
                "data_dir": str(self.options.data_dir),
                "outbox": self.options.outbox,
                "start_s": round(time.monotonic() - started, 2),
            },
        )

    def _new_gateway(self, s: _Station) -> Gateway:
        outbox = None
        if s.settings.outbox == "sqlite":
            # NORMAL in WAL mode: survives a process crash (what scenarios simulate), not
            # a power cut; FULL would fsync every reading (too slow at 36 x 60x speed).
            path = s.settings.station_dir / "outbox.sqlite"
            outbox = SqliteOutbox(path, s.settings.outbox_max_bytes, synchronous="NORMAL")
        return Gateway(
            s.settings,
            self.fleet,
            control=self.controls.get(s.station.id),
            clock=self.clock,
            outbox=outbox,
            client_factory=s.switch.factory,
        )

    # -- readings and events

    def submit(self, reading: Reading) -> None:
        s = self._stations[reading.station]
        if s.down or s.gateway is None:
            self._hold(s, reading)
            return
        ts = reading.ts_ms + s.skew(reading.device)
        seq = s.gateway.submit(reading.device, reading.fields, ts)
        if seq is None:
            self.counts["not_enqueued"] += 1
            return
        self.counts["accepted"] += 1
        topic = topics.telemetry(reading.station, reading.device)
        if self.accepted is not None:
            self.accepted.append((topic, seq))
        if s.duplicates is not None and self._raw is not None:
            again, late_ms = s.duplicates.decide()
            if again or late_ms is not None:
                payload = encode_telemetry(ts, seq, reading.fields)
                if again:
                    self._publish_raw(topic, payload, "duplicates")
                if late_ms is not None:
                    due = self.clock.now_ms() + late_ms
                    heapq.heappush(self._late, (due, len(self._late), topic, payload))

    def submit_event(self, event: Event) -> None:
        s = self._stations[event.station]
        if s.down or s.gateway is None:
            self._hold(s, event)
            return
        seq = s.gateway.submit_event(
            event.device,
            event.type,
            code=event.code,
            detail=event.detail,
            device_ts_ms=event.ts_ms + s.skew(event.device),
        )
        self.counts["events" if seq is not None else "events_not_enqueued"] += 1

    def _hold(self, s: _Station, item: Reading | Event) -> None:
        if len(s.held) == s.held.maxlen:
            self.counts["held_dropped"] += 1
        s.held.append(item)
        self.counts["held"] += 1

    def _publish_raw(self, topic: str, payload: bytes, what: str) -> None:
        assert self._raw is not None
        self._raw_pending.append(self._raw.publish(topic, payload, qos=1))
        while self._raw_pending and self._raw_pending[0].is_published():
            self._raw_pending.popleft()
        self.counts[what] += 1

    # -- gateway-level faults

    def apply(self, window: Window, begins: bool, now_ms: int) -> None:
        s = self._stations[window.station]
        f = window.fault
        if isinstance(f, Partition):
            if begins:
                s.switch.cut()
            else:
                s.switch.restore()
        elif isinstance(f, GatewayCrash):
            if begins:
                self._crash(s)
            else:
                self._restart(s)
        elif isinstance(f, ClockSkew):
            if begins:
                s.skew_ms[f.device] = int(f.params.offset_s * MS)
            else:
                s.skew_ms.pop(f.device, None)
        elif isinstance(f, Duplicates):
            key = f"{self.seed}:{window.station}"
            s.duplicates = DuplicatePolicy(f.params, key) if begins else None
        elif isinstance(f, Malformed) and begins:
            s.malformed.append(window)
        log.info(
            "gateway fault",
            extra={
                "station": window.station,
                "fault": f.type_name,
                "phase": "begins" if begins else "ends",
                "at_ms": now_ms,
            },
        )

    def _crash(self, s: _Station) -> None:
        gateway = s.gateway
        s.switch.cut()  # the broker sees the connection drop: last will `offline`
        s.down = True
        if gateway is None:
            return
        deadline = time.monotonic() + CRASH_WAIT_S
        while gateway.online and time.monotonic() < deadline:
            time.sleep(0.01)  # the uplink thread notices the dead socket within ms
        gateway.stop(timeout=CRASH_WAIT_S)  # offline: no `stopped` can go out
        s.gateway = None

    def _restart(self, s: _Station) -> None:
        s.switch.restore()
        s.gateway = self._new_gateway(s)
        s.gateway.start()
        s.down = False
        held = list(s.held)
        s.held.clear()
        for item in held:  # the devices deliver what they kept
            if isinstance(item, Reading):
                self.submit(item)
            else:
                self.submit_event(item)

    def tick(self, now_ms: int) -> None:
        """Publish the late copies and the garbage that are due."""
        while self._late and self._late[0][0] <= now_ms:
            _, _, topic, payload = heapq.heappop(self._late)
            self._publish_raw(topic, payload, "late")
        for s in self._stations.values():
            for w in s.malformed:
                self._garbage(s, w, now_ms)

    def _garbage(self, s: _Station, w: Window, now_ms: int) -> None:
        f = w.fault
        assert isinstance(f, Malformed)
        if self._raw is None or now_ms < w.start_ms:
            return
        period = int(60_000 / f.params.per_min)
        last = now_ms if w.end_ms is None else min(now_ms, w.end_ms - 1)
        due = (last - w.start_ms) // period + 1
        key = w
        for n in range(self._garbage_sent.get(key, 0), due):
            g = garbage(s.station, n, now_ms)
            self._publish_raw(g.topic, g.payload, "garbage")
        self._garbage_sent[key] = max(due, self._garbage_sent.get(key, 0))

    # -- end

    def close(self, drain_timeout: float = 10.0) -> None:
        """Give connected gateways (bounded) time to send what their outbox holds, then
        stop every gateway cleanly (`stopped`) and flush the raw publisher. What a
        gateway could not send stays in its outbox for the next run."""
        started = time.monotonic()
        reconnect_s = self.options.reconnect_max_s + 1.0

        def waiting() -> bool:
            """Connected gateways (or ones that may reconnect soon) with messages left."""
            patience = time.monotonic() - started < reconnect_s
            return any(
                s.gateway.outbox.stats().depth > 0 and (s.gateway.online or patience)
                for s in self._stations.values()
                if s.gateway is not None and not s.switch.is_cut
            )

        while time.monotonic() - started < drain_timeout and waiting():
            time.sleep(0.05)  # the uplink threads drain the outboxes; bounded wait
        for s in self._stations.values():
            s.switch.restore()
            if s.gateway is not None:
                s.gateway.stop()
                s.gateway = None
            if s.held:
                self.counts["held_lost"] += len(s.held)
                log.warning(
                    "readings kept by devices never delivered (gateway still down)",
                    extra={"station": s.station.id, "held": len(s.held)},
                )
        raw, self._raw = self._raw, None
        if raw is not None:
            deadline = time.monotonic() + 10.0
            for info in self._raw_pending:  # QoS 1: wait (bounded) for the broker's PUBACKs
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            unacked = sum(not info.is_published() for info in self._raw_pending)
            if unacked:
                log.error("raw publishes not acknowledged", extra={"unacknowledged": unacked})
            raw.disconnect()
            raw.loop_stop()
        log.info("simulated gateways stopped", extra=dict(self.counts))


class GatewayDevices:
    """One station's simulated devices feeding an existing gateway (`warmnet gateway`):
    readings and events; closing it leaves the gateway to its owner."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.counts: Counter[str] = Counter()

    def submit(self, reading: Reading) -> None:
        seq = self.gateway.submit(reading.device, reading.fields, reading.ts_ms)
        self.counts["accepted" if seq is not None else "not_enqueued"] += 1

    def submit_event(self, event: Event) -> None:
        seq = self.gateway.submit_event(
            event.device, event.type, code=event.code, detail=event.detail, device_ts_ms=event.ts_ms
        )
        self.counts["events" if seq is not None else "events_not_enqueued"] += 1

    def close(self) -> None:
        pass
