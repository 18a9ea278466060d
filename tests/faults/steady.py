"""Helpers for the fault-injection tests: a steady-rate publisher with per-device
sequence numbers, and the comparison of what was published with what InfluxDB holds.

The publisher behaves like a gateway's outbox: QoS 1, a persistent session
(clean_session=False), so that paho re-sends every message the broker has not
PUBACKed after a reconnect; publishing while disconnected queues the message in
paho, which sends it once the connection is back. Every device has its own `seq`
0..n-1 and a unique `ts` per message.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from collector.service import Collector
from collector.settings import CollectorSettings
from testbed.services import InfluxServer, clear_session, wait_for
from warmnet import topics
from warmnet.kinds import DeviceKind
from warmnet.registry import Fleet

KINDS = [k.value for k in DeviceKind]


@dataclass(frozen=True, slots=True)
class Device:
    station: str
    device: str
    kind: DeviceKind
    capacity: int = 12


@dataclass(frozen=True, slots=True)
class Sent:
    station: str
    device: str
    seq: int
    ts: int


@dataclass(frozen=True, slots=True)
class Garbage:
    """A bad message and the reason the collector must dead-letter it with."""

    topic: str
    payload: bytes
    reason: str


def devices_of(
    fleet: Fleet, stations: Iterable[str], per_station: int | None = None
) -> list[Device]:
    out = []
    for sid in stations:
        station = fleet.station(sid)
        assert station is not None, sid
        specs = station.devices if per_station is None else station.devices[:per_station]
        out += [Device(sid, d.id, d.kind, d.capacity or 12) for d in specs]
    return out


def payload(dev: Device, seq: int, ts: int) -> dict[str, Any]:
    """A valid telemetry payload for the device's registered kind."""
    base: dict[str, Any] = {"ts": ts, "seq": seq}
    if dev.kind is DeviceKind.CHARGING_OUTLET:
        power = float(seq % 700)
        return {
            **base,
            "state": "charging" if power else "idle",
            "power_w": power,
            "voltage_v": 230.0,
            "current_a": round(power / 230, 3),
            "energy_wh": float(seq % 1000),
            "temp_c": 25.0 + seq % 20,
        }
    if dev.kind is DeviceKind.WATER_HEATER:
        return {
            **base,
            "water_temp_c": 60.0 + seq % 35,
            "target_temp_c": 95.0,
            "heating": seq % 2 == 0,
            "level_pct": float(50 + seq % 50),
            "power_w": 2000.0 if seq % 2 == 0 else 0.0,
        }
    if dev.kind is DeviceKind.MICROWAVE:
        running = seq % 3 == 0
        return {
            **base,
            "state": "running" if running else "idle",
            "power_w": 800.0 if running else 0.0,
            "remaining_s": 60 if running else 0,
        }
    return {**base, "occupied": seq % (dev.capacity + 1), "capacity": dev.capacity}


Decorate = Callable[[Device, int, dict[str, Any]], dict[str, Any]]


class SteadyPublisher:
    """Publishes round-robin over `devices` at `rate` messages per second from its own
    thread until stopped. With `garbage`, every `garbage_every`-th message is the next
    bad message of the list instead (it takes no seq)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        devices: Sequence[Device],
        rate: float,
        *,
        garbage: Sequence[Garbage] = (),
        garbage_every: int = 20,
        decorate: Decorate | None = None,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.devices = list(devices)
        self.rate = rate
        self.garbage = list(garbage)
        self.garbage_every = garbage_every
        self.decorate = decorate
        self.base_ts = int(time.time() * 1000)
        self.sent: list[Sent] = []  # every good message, in publish order
        self.garbage_sent: Counter[str] = Counter()  # expected dead letters per reason
        self.decorated: list[Sent] = []  # good messages that `decorate` changed
        self.total = 0  # messages handed to paho (good and bad)
        self._acked = 0
        self._lock = threading.Lock()
        self._seq: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,  # a gateway's outbox: what the broker has not acked is re-sent
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        self.connected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, rc, _p: (
            None if rc.is_failure else self.connected.set()
        )
        self.client.on_disconnect = lambda *_a: self.connected.clear()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> SteadyPublisher:
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        wait_for(self.connected.is_set, timeout=10, message="publisher got no CONNACK")
        self._thread = threading.Thread(target=self._run, name="steady-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing new messages (paho keeps re-sending unacked ones)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def close(self) -> None:
        self.stop()
        self.client.loop_stop()
        self.client.disconnect()
        clear_session(self.host, self.port, self.client_id)

    # -- progress -----------------------------------------------------------------------

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def wait_sent(self, n: int, timeout: float = 30) -> None:
        """Wait until at least `n` good messages were published."""
        wait_for(lambda: len(self.sent) >= n, timeout=timeout, message=f"fewer than {n} sent")

    def wait_acked(self, timeout: float = 60) -> None:
        """Wait until the broker acknowledged every message handed to paho."""
        wait_for(
            lambda: self.acked >= self.total,
            timeout=timeout,
            message=lambda: f"broker acked {self.acked} of {self.total} messages",
        )

    def expected(self) -> set[tuple[str, str, int, int]]:
        return {(s.station, s.device, s.ts, s.seq) for s in self.sent}

    # -- the publishing thread ----------------------------------------------------------

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            self._acked += 1

    def _run(self) -> None:
        started = time.monotonic()
        i = 0
        garbage_i = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while i < due and not self._stop.is_set():
                i += 1
                if self.garbage and i % self.garbage_every == 0:
                    bad = self.garbage[garbage_i % len(self.garbage)]
                    garbage_i += 1
                    self.client.publish(bad.topic, bad.payload, qos=1)
                    self.garbage_sent[bad.reason] += 1
                else:
                    self._publish_good(self.devices[i % len(self.devices)])
                self.total += 1
            self._stop.wait(0.005)  # pacing, not synchronisation

    def _publish_good(self, dev: Device) -> None:
        key = (dev.station, dev.device)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        ts = self.base_ts + seq
        body = payload(dev, seq, ts)
        sent = Sent(dev.station, dev.device, seq, ts)
        if self.decorate is not None:
            changed = self.decorate(dev, seq, body)
            if changed != body:
                self.decorated.append(sent)
            body = changed
        self.client.publish(
            topics.telemetry(dev.station, dev.device), json.dumps(body).encode(), qos=1
        )
        self.sent.append(sent)


# -- what InfluxDB holds ---------------------------------------------------------------


@dataclass
class Stored:
    rows: list[tuple[str, str, int, int]] = field(default_factory=list)  # station, device, ts, seq

    @property
    def keys(self) -> set[tuple[str, str, int, int]]:
        return set(self.rows)


def stored_points(influxdb: InfluxServer, db: str) -> Stored:
    """Every telemetry point in `db` as (station, device, ts, seq)."""
    out = Stored()
    for kind in KINDS:
        for r in influxdb.rows(f'SELECT seq FROM "{kind}" GROUP BY station, device', db):
            out.rows.append((r["station"], r["device"], r["time"], r["seq"]))
    return out


def check_exactly_once(
    label: str,
    expected: set[tuple[str, str, int, int]],
    stored: Stored,
    *,
    collector_stored: int | None = None,
    rejected: int | None = None,
) -> None:
    """Print the counts and assert every expected point is stored exactly once per
    (station, device, ts), with nothing else."""
    keys = stored.keys
    per_ts = Counter((s, d, ts) for s, d, ts, _ in stored.rows)
    twice = {k: n for k, n in per_ts.items() if n > 1}
    missing = expected - keys
    extra = keys - expected
    collapsed = "n/a" if collector_stored is None else str(collector_stored - len(stored.rows))
    print(
        f"\n[{label}] published={len(expected)} stored_rows={len(stored.rows)} "
        f"collector_stored={collector_stored if collector_stored is not None else 'n/a'} "
        f"duplicates_collapsed={collapsed} rejected={rejected if rejected is not None else 'n/a'} "
        f"missing={len(missing)} unexpected={len(extra)}"
    )
    assert not twice, f"points stored more than once per (station, device, ts): {list(twice)[:5]}"
    assert not missing, f"{len(missing)} published points missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected points stored, e.g. {sorted(extra)[:5]}"
    assert len(stored.rows) == len(expected)


# -- an in-process collector ---------------------------------------------------------


@contextlib.contextmanager
def running_collector(settings: CollectorSettings, fleet: Fleet) -> Iterator[Collector]:
    """A started collector; stopped, and its broker session removed, even on failure."""
    collector = Collector(settings, fleet)
    try:
        collector.start()
        yield collector
    finally:
        try:
            collector.stop()
        finally:
            url = settings.mqtt_url
            clear_session(url.host or "127.0.0.1", url.port or 1883, settings.session_client_id)


@contextlib.contextmanager
def publishing(publisher: SteadyPublisher) -> Iterator[SteadyPublisher]:
    try:
        yield publisher.start()
    finally:
        publisher.close()
