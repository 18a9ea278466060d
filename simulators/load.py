"""Load mode for benchmarks: N synthetic stations x M devices publishing R messages per
second in total, directly over MQTT (no gateways), QoS 1.

Payloads are valid telemetry of each device's kind, made by the behaviour models once
and pre-encoded: a message is `{"ts":...,"seq":...,` + the encoded fields of the
device, so the loop costs little more than paho's publish. `ts` is the wall clock and
`seq` counts per device, so every message is a distinct point. The registry is
`warmnet.registry.synthetic_fleet(N, outlets=M - 4)`; `warmnet.registry.write_fleet()` saves it for
the collector (WARMNET_REGISTRY). Bounded: at most `max_unacked` publishes in flight
(the loop waits beyond that and counts how often), a duration or a stop event.
"""

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle

import paho.mqtt.client as mqtt

from simulators.sink import parse_mqtt_url
from simulators.station import SimulatedStation
from warmnet import topics
from warmnet.kinds import DeviceKind
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet, synthetic_fleet
from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)

FIXED_DEVICES = 4  # synthetic stations have 2 heaters, a microwave and a sensor
VARIANTS = 32  # pre-encoded field sets per device kind
BATCH_S = 0.01


def load_fleet_for(stations: int, devices: int) -> Fleet:
    if stations < 1 or devices <= FIXED_DEVICES:
        raise ValueError(f"--stations >= 1 and --devices > {FIXED_DEVICES} (outlets + 4 others)")
    return synthetic_fleet(stations, outlets=devices - FIXED_DEVICES)


def _fragments(fleet: Fleet, seed: int) -> dict[DeviceKind, list[bytes]]:
    """`"field":value,...}` tails of valid payloads, a few per kind, from the models."""
    sim = SimulatedStation(fleet.stations[0], fleet.tz, seed, start_ms=1_767_225_600_000)
    out: dict[DeviceKind, list[bytes]] = {k: [] for k in DeviceKind}
    t = 1_767_225_600_000
    while any(len(v) < VARIANTS for v in out.values()):
        t += 60_000
        for r in sim.due(t):
            if len(out[r.kind]) < VARIANTS:
                out[r.kind].append(json.dumps(r.fields, separators=(",", ":")).encode()[1:])
    return out


@dataclass
class LoadStats:
    sent: int = 0
    acked: int = 0
    waits: int = 0  # times the loop waited for acknowledgements
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def run_load(
    url: MqttUrl | str,
    fleet: Fleet,
    rate: float,
    stop: threading.Event,
    *,
    duration_s: float | None = None,
    connections: int = 4,
    max_unacked: int = 20_000,
    seed: int = 7,
) -> LoadStats:
    """Publish round-robin over every device at `rate` msg/s until `duration_s` (real
    seconds) or `stop`; wait (bounded) for the last acknowledgements."""
    if rate <= 0:
        raise ValueError("--rate must be > 0")
    mqtt_url = parse_mqtt_url(url)
    plan = _Plan(
        devices=[(topics.telemetry(s.id, d.id), d.kind) for s in fleet.stations for d in s.devices],
        fragments=_fragments(fleet, seed),
        rate=rate,
        duration_s=duration_s,
        max_unacked=max_unacked,
    )
    stats = LoadStats()
    lock = threading.Lock()

    def on_publish(*_args: object) -> None:
        with lock:
            stats.acked += 1

    clients: list[mqtt.Client] = []
    try:
        for i in range(max(1, min(connections, len(fleet.stations)))):
            client = new_client(mqtt_url, f"sim-load-{seed}-{i}-{int(time.time())}")
            client.max_inflight_messages_set(1000)
            client.max_queued_messages_set(0)
            client.on_publish = on_publish
            connect(client, mqtt_url)
            clients.append(client)
        stats.seconds = _publish(plan, clients, stop, stats, lock)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            with lock:
                if stats.acked >= stats.sent:
                    break
            time.sleep(0.05)  # waiting for the broker's last PUBACKs, bounded
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
    log.info(
        "load finished",
        extra={"sent": stats.sent, "acked": stats.acked, "rate": round(stats.rate, 1)},
    )
    return stats


@dataclass(frozen=True)
class _Plan:
    devices: list[tuple[str, DeviceKind]]  # topic, kind
    fragments: dict[DeviceKind, list[bytes]]
    rate: float
    duration_s: float | None
    max_unacked: int


def _publish(
    plan: _Plan,
    clients: list[mqtt.Client],
    stop: threading.Event,
    stats: LoadStats,
    lock: threading.Lock,
) -> float:
    seqs = [0] * len(plan.devices)
    last_ts = [0] * len(plan.devices)  # ts strictly grows per device: distinct points
    order: Iterator[int] = cycle(range(len(plan.devices)))
    started = time.monotonic()
    last_log = started
    while not stop.is_set():
        now = time.monotonic()
        elapsed = now - started
        if plan.duration_s is not None and elapsed >= plan.duration_s:
            break
        with lock:
            unacked = stats.sent - stats.acked
        if unacked > plan.max_unacked:
            stats.waits += 1
            stop.wait(BATCH_S)
            continue
        wall = time.time_ns() // 1_000_000
        for _ in range(max(0, int(elapsed * plan.rate) - stats.sent)):
            i = next(order)
            topic, kind = plan.devices[i]
            variants = plan.fragments[kind]
            ts = last_ts[i] = max(wall, last_ts[i] + 1)
            payload = b'{"ts":%d,"seq":%d,' % (ts, seqs[i]) + variants[seqs[i] % len(variants)]
            clients[i % len(clients)].publish(topic, payload, qos=1)
            seqs[i] += 1
            stats.sent += 1
        if now - last_log >= 5.0:
            last_log = now
            log.info("load", extra={"sent": stats.sent, "rate": round(stats.sent / elapsed, 1)})
        stop.wait(BATCH_S)
    return time.monotonic() - started
