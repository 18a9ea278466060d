"""Load generation for the ingest benchmark, and the client processes it runs.

Payloads are realistic, valid telemetry for a fleet (one model per device kind, values
in range, `seq` per device, a unique `ts` per (device, seq)), encoded before anything
is timed. The client processes are separate Python processes so that they do not
share a GIL with what they measure:

    python bench/loadgen.py publish --url URL --file CHUNK     # as fast as possible
    python bench/loadgen.py count --url URL --client-id ID -n N [--prepare] [--work W]
    python bench/loadgen.py paced --url URL --file MSGS --rate R --sample-every K
    python bench/loadgen.py watch --url URL --keys KEYS        # availability arrivals

Each prints `ready` once set up, waits for a line on stdin (`go`), does its job and
prints one JSON line with its result. Only paho-mqtt and the standard library are
imported here, so the processes start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pickle
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

TELEMETRY_FILTER = "warm/v1/+/+/telemetry"

# Nominal report interval per kind (as in warmnet.registry.DEFAULT_INTERVAL_S), ms.
INTERVAL_MS = {
    "charging_outlet": 10_000,
    "water_heater": 15_000,
    "microwave": 10_000,
    "occupancy_sensor": 30_000,
}
MAX_INTERVAL_MS = max(INTERVAL_MS.values())

DeviceRef = tuple[str, str, str]  # station id, device id, kind
Message = tuple[str, bytes]  # topic, payload


def telemetry_topic(station: str, device: str) -> str:
    return f"warm/v1/{station}/{device}/telemetry"


# --------------------------------------------------------------------------- payloads


def profile(index: int) -> float:
    """A stable number in [0, 1) per device: what state it is in across its readings
    (a device that is charging keeps charging; a broken one stays broken)."""
    return ((index + 1) * 2654435761 % 2**32) / 2**32


def reading(kind: str, seq: int, ts: int, p: float, rng: random.Random) -> dict[str, Any]:
    """Reading `seq` of a device of `kind` in state `p` (see `profile`): plausible and
    valid (see warmnet.messages); values drift a little from one reading to the next,
    as real ones do, so that no alert rule fires on noise."""
    out: dict[str, Any] = {"ts": ts, "seq": seq}

    def jitter(value: float, spread: float, digits: int = 1) -> float:
        return round(value + rng.uniform(-spread, spread), digits)

    if kind == "charging_outlet":
        voltage = jitter(226 + 8 * p, 1.0)
        if p < 0.45:  # charging: 150-750 W, warming slowly, energy growing per reading
            power = jitter(150 + 600 * p / 0.45, 5.0)
            out |= {
                "state": "charging",
                "power_w": power,
                "voltage_v": voltage,
                "current_a": round(power / voltage, 3),
                "energy_wh": round(40 + 600 * p + seq * power * 10 / 3600, 1),
                "temp_c": jitter(30 + 10 * p, 0.1),
            }
        else:
            out |= {
                "state": "fault" if p > 0.998 else "idle",
                "power_w": jitter(0.8, 0.4, 2),
                "voltage_v": voltage,
                "current_a": 0.0,
                "energy_wh": 0.0,
                "temp_c": jitter(22 + 4 * p, 0.1),
            }
    elif kind == "water_heater":
        heating = p < 0.3  # reheating after a draw; the rest hold temperature
        out |= {
            "water_temp_c": jitter(78 + 30 * p if heating else 94.0, 0.2),
            "target_temp_c": 95.0,
            "heating": heating,
            "level_pct": jitter(35 + 60 * p, 0.5),
            "power_w": 3000.0 if heating else 0.0,
        }
        if p > 0.999:
            out["fault_code"] = "E3_DRY"
    elif kind == "microwave":
        running = p < 0.25
        out |= {
            "state": "running" if running else ("door_open" if p > 0.97 else "idle"),
            "power_w": jitter(800.0, 20.0) if running else 0.0,
            "remaining_s": max(1, int(300 * p / 0.25) - seq * 10) if running else 0,
        }
    elif kind == "occupancy_sensor":
        out |= {"occupied": min(12, max(0, int(12 * p) + rng.randint(-1, 1))), "capacity": 12}
    else:
        raise ValueError(f"unknown device kind {kind!r}")
    return out


def encode(kind: str, seq: int, ts: int, p: float, rng: random.Random) -> bytes:
    return json.dumps(reading(kind, seq, ts, p, rng), separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class DrainSet:
    """`n` messages to pre-load: rounds over every device in a shuffled order, then a
    barrier block of one occupancy reading per station with ts >= `barrier_ts`.

    Within one subscriber's stream the barrier comes last, so once all
    `barrier_count` barrier points are stored, everything before them was received."""

    messages: list[Message]
    barrier_ts: int
    barrier_count: int
    per_kind: dict[str, int]

    @property
    def n(self) -> int:
        return len(self.messages)


def drain_set(devices: Sequence[DeviceRef], n: int, *, seed: int, now_ms: int) -> DrainSet:
    sensors = [d for d in devices if d[2] == "occupancy_sensor"]
    regular = n - len(sensors)
    if regular <= 0:
        raise ValueError(f"n={n} must exceed the barrier block of {len(sensors)} messages")
    rng = random.Random(seed)
    order = list(range(len(devices)))
    rng.shuffle(order)
    rounds = -(-regular // len(devices))
    t0 = now_ms - (rounds + 2) * MAX_INTERVAL_MS  # all in the recent past
    barrier_ts = t0 + rounds * MAX_INTERVAL_MS
    next_seq = [0] * len(devices)
    messages: list[Message] = []
    per_kind: dict[str, int] = {}

    def add(index: int, ts: int) -> None:
        station, device, kind = devices[index]
        seq = next_seq[index]
        next_seq[index] += 1
        payload = encode(kind, seq, ts, profile(index), rng)
        messages.append((telemetry_topic(station, device), payload))
        per_kind[kind] = per_kind.get(kind, 0) + 1

    for i in range(regular):
        index = order[i % len(devices)]
        seq = next_seq[index]
        # Unique per (device, seq); jitter keeps devices from sharing one instant.
        add(index, t0 + seq * INTERVAL_MS[devices[index][2]] + index % 997)
    for index, ref in enumerate(devices):
        if ref[2] == "occupancy_sensor":
            add(index, barrier_ts + index % 997)
    return DrainSet(messages, barrier_ts, len(sensors), per_kind)


@dataclass(frozen=True, slots=True)
class PacedSet:
    """Messages for a paced run: message k is due `k / rate` s after the start; each
    device at most once (so `(station, device, ts)` names one message)."""

    messages: list[Message]
    keys: list[tuple[str, str, int]]  # station, device, ts of message k


def paced_set(
    devices: Sequence[DeviceRef], n: int, *, rate: float, start_ms: int, seed: int
) -> PacedSet:
    if n > len(devices):
        raise ValueError(f"{n} messages but only {len(devices)} devices")
    rng = random.Random(seed)
    order = rng.sample(range(len(devices)), n)
    messages: list[Message] = []
    keys: list[tuple[str, str, int]] = []
    for k, index in enumerate(order):
        station, device, kind = devices[index]
        ts = start_ms + int(k * 1000 / rate)
        payload = encode(kind, 1, ts, profile(index), rng)
        messages.append((telemetry_topic(station, device), payload))
        keys.append((station, device, ts))
    return PacedSet(messages, keys)


def write_messages(path: Path, messages: Sequence[Message]) -> None:
    with path.open("wb") as f:
        pickle.dump(list(messages), f, protocol=pickle.HIGHEST_PROTOCOL)


def read_messages(path: Path) -> list[Message]:
    with path.open("rb") as f:
        messages: list[Message] = pickle.load(f)
    return messages


# --------------------------------------------------------------------------- clients


def _client(client_id: str, *, persistent: bool, inflight: int = 65535) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    return client


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


def _connect(client: mqtt.Client, url: str, timeout: float = 10.0) -> float:
    """Connect, start the network thread, wait for a successful CONNACK; return the
    perf_counter time at which it arrived."""
    connected = threading.Event()
    at: list[float] = []
    refused: list[str] = []

    def on_connect(
        _c: mqtt.Client, _u: object, _f: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        at.append(time.perf_counter())
        if rc.is_failure:
            refused.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    client.connect(*_host_port(url), keepalive=60)
    client.loop_start()
    if not connected.wait(timeout) or refused:
        raise SystemExit(f"broker refused or did not answer: {refused or 'timeout'}")
    return at[0]


def _await_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")


def _result(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


class RawPublisher:
    """A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket, for pre-loading the
    broker fast: packets are built before the clock starts and written in large
    chunks, with at most `window` unacknowledged (paho manages ~4k msg/s per process
    here, and scans its whole outgoing table on every PUBACK: quadratic without a
    window)."""

    def __init__(self, url: str, client_id: str, *, window: int = 20_000) -> None:
        if not 0 < window < 65535:
            raise ValueError("window must be within 1..65534 (packet ids are 16 bit)")
        self.window = window
        self._sock = socket.create_connection(_host_port(url), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        # protocol "MQTT" level 4, clean session, keepalive 60 s
        variable = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
        self._sock.sendall(b"\x10" + _varint(len(variable)) + variable)
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise SystemExit(f"broker refused the publisher: CONNACK {connack.hex()}")
        self._sock.settimeout(None)
        self._acked = 0
        self._sent = 0
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._reader = threading.Thread(target=self._read_acks, daemon=True)

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("broker closed the connection")
            data += chunk
        return data

    @staticmethod
    def packets(messages: Sequence[Message]) -> list[bytes]:
        """PUBLISH packets, QoS 1, packet ids 1..65535 in turn."""
        out = []
        for i, (topic, payload) in enumerate(messages):
            t = topic.encode()
            body = struct.pack("!H", len(t)) + t + struct.pack("!H", i % 65535 + 1) + payload
            out.append(b"\x32" + _varint(len(body)) + body)
        return out

    def _read_acks(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self._sock.recv(1 << 16)
                if not chunk:
                    return
                buf += chunk
                whole = len(buf) - len(buf) % 4  # PUBACK: 0x40 0x02 id id
                if whole:
                    if buf[0] != 0x40:
                        raise RuntimeError(f"unexpected packet from broker: {buf[:8].hex()}")
                    with self._cond:
                        self._acked += whole // 4
                        self._cond.notify_all()
                    buf = buf[whole:]
        except (OSError, RuntimeError) as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def start(self) -> None:
        """Start reading PUBACKs (before the first `send`)."""
        self._reader.start()

    def wait_acked(self, at_least: int, deadline: float) -> None:
        """Until at least `at_least` packets are acknowledged."""
        with self._cond:
            while self._acked < at_least and self._error is None:
                if not self._cond.wait(max(0.0, deadline - time.perf_counter())):
                    raise SystemExit(f"{self._acked}/{self._sent} PUBACKs in time")
            if self._error is not None:
                raise SystemExit(f"publisher failed: {self._error!r}")

    def send(self, packets: Sequence[bytes], deadline: float) -> None:
        """Write `packets`, first waiting until the window has room for them."""
        self.wait_acked(self._sent + len(packets) - self.window, deadline)
        self._sock.sendall(b"".join(packets))
        self._sent += len(packets)

    def publish_all(self, packets: Sequence[bytes], timeout: float) -> None:
        """Send every packet; return once all are acknowledged."""
        self.start()
        deadline = time.perf_counter() + timeout
        step = max(1, min(1000, self.window // 4))
        for i in range(0, len(packets), step):
            self.send(packets[i : i + step], deadline)
        self.wait_acked(len(packets), deadline)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
        self._sock.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def cmd_publish(args: argparse.Namespace) -> None:
    """Publish a chunk of pre-encoded messages (QoS 1) as fast as the broker takes
    them; done when every PUBACK is in."""
    packets = RawPublisher.packets(read_messages(Path(args.file)))
    publisher = RawPublisher(args.url, args.client_id, window=args.window)
    _await_go()
    t0 = time.perf_counter()
    publisher.publish_all(packets, args.timeout)
    elapsed = time.perf_counter() - t0
    publisher.close()
    _result({"n": len(packets), "elapsed_s": elapsed})


def cmd_count(args: argparse.Namespace) -> None:
    """The raw ceiling: a paho subscriber that only counts. `--prepare` creates the
    persistent session (QoS 1 subscription) and leaves; otherwise it reconnects to
    that session and times the drain of `-n` queued messages (paho acks each one).

    `--work` adds what no collector can skip, for reference: `ack` acknowledges each
    message from the callback with paho's manual acknowledgement (as the collector
    must, after storing), `ack+json` also decodes the payload with `json.loads`."""
    client = _client(args.client_id, persistent=True)
    if args.work != "none" and not args.prepare:
        client.manual_ack_set(True)
    if args.prepare:
        subscribed = threading.Event()
        client.on_subscribe = lambda *_a: subscribed.set()
        _connect(client, args.url)
        client.subscribe(TELEMETRY_FILTER, qos=1)
        if not subscribed.wait(10):
            raise SystemExit("no SUBACK")
        client.disconnect()
        client.loop_stop()
        _result({"prepared": args.client_id})
        return
    count = 0
    last = 0.0
    done = threading.Event()

    decode = args.work == "ack+json"
    acking = args.work != "none"

    def on_message(c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        nonlocal count, last
        if decode:
            json.loads(m.payload)
        if acking:
            c.ack(m.mid, m.qos)
        count += 1
        if count >= args.n:
            last = time.perf_counter()
            done.set()

    client.on_message = on_message
    _await_go()
    t_go = time.perf_counter()
    t_connack = _connect(client, args.url)
    if not done.wait(args.timeout):
        raise SystemExit(f"drained only {count}/{args.n} within {args.timeout}s")
    client.disconnect()
    client.loop_stop()
    _result({"n": count, "elapsed_s": last - t_go, "from_connack_s": last - t_connack})


def cmd_paced(args: argparse.Namespace) -> None:
    """Publish message k at `k / rate` s after go (QoS 1); record perf_counter at the
    write of every `sample_every`-th message. Pre-built packets on a plain socket
    (`RawPublisher`): paho would cost the machine ~0.3 cores at 2,000 msg/s, taken
    from the system the latency is measured on."""
    packets = RawPublisher.packets(read_messages(Path(args.file)))
    publisher = RawPublisher(args.url, args.client_id, window=20_000)
    _await_go()
    publisher.start()
    interval = 1.0 / args.rate
    t0 = time.perf_counter()
    deadline = t0 + len(packets) * interval + 60
    samples: list[tuple[int, float]] = []
    late_max = 0.0
    for k, packet in enumerate(packets):
        due = t0 + k * interval
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)  # pacing, not synchronisation
            now = time.perf_counter()
        else:
            late_max = max(late_max, now - due)
        publisher.send((packet,), deadline)
        if k % args.sample_every == 0:
            samples.append((k, time.perf_counter()))  # written to the socket by now
    elapsed = time.perf_counter() - t0
    publisher.wait_acked(len(packets), deadline)
    publisher.close()
    _result(
        {
            "n": len(packets),
            "t0": t0,
            "elapsed_s": elapsed,
            "late_max_ms": late_max * 1000,
            "samples": samples,
        }
    )


def cmd_watch(args: argparse.Namespace) -> None:
    """Subscribe to every station's availability (what the API subscribes to) and
    note when the first summary showing each sampled (station, device, ts) arrives:
    the broker-side half of the publish -> API latency. Stops on a line on stdin."""
    with Path(args.keys).open("rb") as f:
        keys: list[tuple[str, str, int]] = pickle.load(f)
    expected = {(station, device): ts for station, device, ts in keys}
    seen: dict[tuple[str, str], float] = {}
    # Only summaries of stations with a sample still unseen are decoded (orjson): the
    # watcher must not take CPU from the system it measures.
    pending: dict[str, int] = {}
    for station, _device in expected:
        pending[station] = pending.get(station, 0) + 1
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        station = msg.topic.split("/")[2]  # warm/v1/{station}/availability
        if station not in pending:
            return
        try:
            summary = orjson.loads(msg.payload)
            for d in summary["devices"]:
                key = (station, d["device"])
                if key in expected and d["observed_at"] == expected[key] and key not in seen:
                    seen[key] = now
                    pending[station] -= 1
                    if not pending[station]:
                        del pending[station]
        except (ValueError, KeyError, TypeError):
            return

    client = _client(args.client_id, persistent=False)
    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    _connect(client, args.url)
    client.subscribe("warm/v1/+/availability", qos=1)
    if not subscribed.wait(10):
        raise SystemExit("no SUBACK")
    print("ready", flush=True)
    sys.stdin.readline()
    client.disconnect()
    client.loop_stop()
    _result({"seen": [[s, d, t] for (s, d), t in seen.items()]})


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("--url", required=True)
    pub.add_argument("--file", required=True)
    pub.add_argument("--client-id", default="bench-pub")
    pub.add_argument("--window", type=int, default=20_000, help="unacknowledged at most")
    pub.add_argument("--timeout", type=float, default=120.0)
    pub.set_defaults(func=cmd_publish)
    cnt = sub.add_parser("count")
    cnt.add_argument("--url", required=True)
    cnt.add_argument("--client-id", required=True)
    cnt.add_argument("-n", type=int, default=0)
    cnt.add_argument("--prepare", action="store_true")
    cnt.add_argument("--timeout", type=float, default=120.0)
    cnt.add_argument("--work", choices=["none", "ack", "ack+json"], default="none")
    cnt.set_defaults(func=cmd_count)
    paced = sub.add_parser("paced")
    paced.add_argument("--url", required=True)
    paced.add_argument("--file", required=True)
    paced.add_argument("--client-id", default="bench-paced")
    paced.add_argument("--rate", type=float, required=True)
    paced.add_argument("--sample-every", type=int, default=20)
    paced.set_defaults(func=cmd_paced)
    watch = sub.add_parser("watch")
    watch.add_argument("--url", required=True)
    watch.add_argument("--keys", required=True)
    watch.add_argument("--client-id", default="bench-watch")
    watch.set_defaults(func=cmd_watch)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
