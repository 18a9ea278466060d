"""Helpers for the gateway tests: a fleet with a station id no other test uses, valid
device fields per kind, an MQTT recorder, an in-process collector, a steady feeder."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from collector.service import Collector
from collector.settings import CollectorSettings
from collector.stores.sqlite import SqliteStore
from gateway.service import Gateway
from testbed.services import wait_for
from warmnet.kinds import DeviceKind
from warmnet.messages import GatewayStatus, parse_gateway_status
from warmnet.registry import DeviceSpec, Fleet, load_fleet, parse_fleet


def unique_fleet(station_id: str, template: str = "wmq-01") -> Fleet:
    """The bundled fleet reduced to one station (a copy of `template`) named `station_id`."""
    data = load_fleet().model_dump(mode="json")
    data["stations"] = [s for s in data["stations"] if s["id"] == template]
    data["stations"][0]["id"] = station_id
    return parse_fleet(data)


def fields_for(spec: DeviceSpec, n: int) -> dict[str, Any]:
    """Valid telemetry fields (no ts/seq) for the device's kind, varying with n."""
    if spec.kind is DeviceKind.CHARGING_OUTLET:
        power = float(n % 700)
        return {
            "state": "charging" if power else "idle",
            "power_w": power,
            "voltage_v": 230.0,
            "current_a": round(power / 230, 3),
            "energy_wh": float(n % 1000),
            "temp_c": 25.0 + n % 20,
        }
    if spec.kind is DeviceKind.WATER_HEATER:
        return {
            "water_temp_c": 60.0 + n % 35,
            "target_temp_c": 95.0,
            "heating": n % 2 == 0,
            "level_pct": float(50 + n % 50),
            "power_w": 2000.0 if n % 2 == 0 else 0.0,
        }
    if spec.kind is DeviceKind.MICROWAVE:
        running = n % 3 == 0
        return {
            "state": "running" if running else "idle",
            "power_w": 800.0 if running else 0.0,
            "remaining_s": 60 if running else 0,
        }
    capacity = spec.capacity or 12
    return {"occupied": n % (capacity + 1), "capacity": capacity}


def plain_client(client_id: str, clean: bool = True) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=MQTTProtocolVersion.MQTTv311,
    )


class Recorder:
    """A plain paho subscriber keeping (topic, payload, retain) in arrival order."""

    def __init__(self, host: str, port: int, client_id: str, filters: Sequence[str]) -> None:
        self._lock = threading.Lock()
        self.messages: list[tuple[str, bytes, bool]] = []
        subscribed = threading.Event()
        self.client = plain_client(client_id)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        if not subscribed.wait(10):
            raise AssertionError("recorder got no SUBACK")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def payloads(self, suffix: str) -> list[tuple[str, dict[str, Any]]]:
        """(topic, JSON payload) of messages whose topic ends with `suffix`."""
        return [(t, json.loads(p)) for t, p, _ in self.snapshot() if t.endswith(suffix)]

    def statuses(self) -> list[GatewayStatus]:
        """Gateway status messages received, in arrival order."""
        return [parse_gateway_status(p) for t, p, _ in self.snapshot() if t.endswith("/status")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(host: str, port: int, topic: str, timeout: float = 5.0) -> dict[str, Any]:
    """The retained message on `topic`, as a fresh subscriber sees it."""
    rec = Recorder(host, port, f"retained-{time.monotonic_ns()}", [topic])
    try:
        got = wait_for(
            lambda: [p for t, p, r in rec.snapshot() if r], timeout, message=f"no retained {topic}"
        )
        result: dict[str, Any] = json.loads(got[0])
        return result
    finally:
        rec.close()


def clear_session(host: str, port: int, client_id: str) -> None:
    """Drop a persistent session (connect clean under the same id) so it does not
    queue later tests' traffic on the shared broker."""
    done = threading.Event()
    client = plain_client(client_id)
    client.on_connect = lambda *_a: done.set()
    try:
        client.connect(host, port, keepalive=10)
        client.loop_start()
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.contextmanager
def running_collector(
    mqtt_url: str, fleet: Fleet, data_dir: Path, client_id: str, **overrides: Any
) -> Iterator[Collector]:
    """A started collector on SQLite in `data_dir`, owning only `fleet`'s stations."""
    settings = CollectorSettings(
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        client_id=client_id,
        stations=",".join(s.id for s in fleet.stations),
        metrics_port=None,
        **overrides,
    )
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


def stored_rows(collector: Collector, station: str) -> list[dict[str, Any]]:
    """Every telemetry row the collector's SQLite store holds for `station`."""
    store = collector.store
    assert isinstance(store, SqliteStore)
    rows: list[dict[str, Any]] = []
    for kind in DeviceKind:
        rows += [dict(r, kind=kind.value) for r in store.select(kind.value, station)]
    return rows


class Feeder:
    """Submits readings round-robin over `devices` at `rate` per second from its own
    thread, ts = the gateway clock (strictly increasing per device). Records the seq
    each reading got."""

    def __init__(self, gateway: Gateway, devices: Sequence[DeviceSpec], rate: float) -> None:
        self.gateway = gateway
        self.devices = list(devices)
        self.rate = rate
        self.sent: list[tuple[str, int, int]] = []  # device, seq, ts
        self.refused = 0
        self._last_ts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        started = time.monotonic()
        i = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while i < due and not self._stop.is_set():
                self.submit_one(self.devices[i % len(self.devices)], i)
                i += 1
            self._stop.wait(0.005)  # pacing, not synchronisation

    def submit_one(self, spec: DeviceSpec, n: int) -> int | None:
        now = self.gateway.clock.now_ms()
        ts = max(now, self._last_ts.get(spec.id, 0) + 1)
        self._last_ts[spec.id] = ts
        seq = self.gateway.submit(spec.id, fields_for(spec, n), ts)
        if seq is None:
            self.refused += 1
        else:
            self.sent.append((spec.id, seq, ts))
        return seq
