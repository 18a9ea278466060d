"""Southbound: readings from the station's devices into the outbox.

`Intake` is what `Gateway.submit` calls: it checks the device is registered at this
station, validates the payload against the model of the device's kind (the same
`parse_telemetry` the collector uses), stamps `ts` when the device clock is missing
or implausible, records the clock skew, assigns the per-device `seq` and puts the
message into the outbox. Invalid input is counted per reason and logged, never
raised and never enqueued.

`LocalListener` subscribes to `local/{device}/telemetry` on a local broker (devices
with their own radios): JSON fields with an optional `ts`, fed through the same
`Intake` from a worker thread (the paho callback only enqueues).
"""

import json
import logging
import math
import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from gateway.outbox import Envelope, Outbox
from warmnet import topics
from warmnet.clock import Clock
from warmnet.ids import InvalidIdError, check_id
from warmnet.messages import (
    TS_MIN_MS,
    DeviceEvent,
    EventType,
    InvalidPayloadError,
    dump_json,
    parse_telemetry,
)
from warmnet.mqtt import new_client
from warmnet.registry import Station
from warmnet.settings import MqttUrl
from warmnet.topics import Channel

log = logging.getLogger(__name__)

RESERVED_FIELDS = frozenset({"ts", "seq", "historical"})
LOCAL_FILTER = "local/+/telemetry"


class SkewTracker:
    """Largest |device clock - gateway clock| over the current and the previous window
    (so a reading is reported for between one and two windows). Thread-safe."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = max(1, window_ms)
        self._lock = threading.Lock()
        self._bucket = -1
        self._current: int | None = None
        self._previous: int | None = None

    def _roll(self, now_ms: int) -> None:
        bucket = now_ms // self.window_ms
        if bucket == self._bucket:
            return
        self._previous = self._current if bucket == self._bucket + 1 else None
        self._current = None
        self._bucket = bucket

    def record(self, skew_ms: int, now_ms: int) -> None:
        with self._lock:
            self._roll(now_ms)
            skew = abs(skew_ms)
            self._current = skew if self._current is None else max(self._current, skew)

    def value(self, now_ms: int) -> int | None:
        with self._lock:
            self._roll(now_ms)
            seen = [v for v in (self._current, self._previous) if v is not None]
            return max(seen) if seen else None


class _Throttle:
    """Log the first few occurrences of a key, then every `every`-th."""

    def __init__(self, first: int = 5, every: int = 1000) -> None:
        self.first, self.every = first, every
        self._seen: Counter[tuple[str, ...]] = Counter()

    def allow(self, *key: str) -> bool:
        self._seen[key] += 1
        n = self._seen[key]
        return n <= self.first or n % self.every == 0


@dataclass(frozen=True, slots=True)
class IntakeStats:
    accepted: int
    restamped: int  # ts replaced by the gateway clock (missing ts not counted)
    refused: int  # valid, but the outbox refused it (over budget, nothing to thin)
    rejected: dict[str, int]  # invalid input per reason


class Intake:
    def __init__(
        self,
        station: Station,
        outbox: Outbox,
        clock: Clock,
        *,
        max_skew_ms: int,
        skew_window_ms: int,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.station = station
        self.outbox = outbox
        self.clock = clock
        self.max_skew_ms = max_skew_ms
        self.skew = SkewTracker(skew_window_ms)
        self.on_enqueued = on_enqueued
        self._devices = {d.id: d for d in station.devices}
        self._lock = threading.Lock()  # seq order == outbox order
        self._next_seq: dict[tuple[str, Channel], int] = {}
        self._accepted = self._restamped = self._refused = 0
        self._rejected: Counter[str] = Counter()
        self._throttle = _Throttle()

    # -- telemetry and events

    def submit(
        self, device_id: str, fields: Mapping[str, Any], device_ts_ms: int | None = None
    ) -> int | None:
        """Validate and enqueue one reading; the seq it got, or None if not enqueued."""
        spec = self._devices.get(device_id)
        if spec is None:
            self.reject("unknown_device", device_id, "not registered at this station")
            return None
        if not isinstance(fields, Mapping):
            self.reject("schema", device_id, f"fields must be a mapping: {type(fields)}")
            return None
        clash = RESERVED_FIELDS.intersection(fields)
        if clash:
            self.reject("reserved_field", device_id, f"set by the gateway: {sorted(clash)}")
            return None
        ts = self._stamp(device_id, device_ts_ms)
        body: dict[str, Any] = {"ts": ts, "seq": 0, **fields}
        try:
            parse_telemetry(spec.kind, _encode(body))
        except (TypeError, ValueError) as exc:  # NaN, non-JSON values
            if isinstance(exc, InvalidPayloadError):
                self.reject(exc.reason, device_id, exc.detail)
                return None
            self.reject("malformed_json", device_id, str(exc))
            return None

        def build(seq: int) -> bytes:
            body["seq"] = seq
            return _encode(body)

        topic = topics.telemetry(self.station.id, device_id)
        return self._enqueue(device_id, Channel.TELEMETRY, topic, build)

    def submit_event(
        self,
        device_id: str,
        event_type: EventType,
        *,
        code: str | None = None,
        detail: str | None = None,
        command_id: str | None = None,
        device_ts_ms: int | None = None,
        registered_only: bool = True,
    ) -> int | None:
        """Enqueue a device event (never thinned). `registered_only=False` lets a
        command result for an unknown device id through (code UNKNOWN_DEVICE)."""
        if registered_only and device_id not in self._devices:
            self.reject("unknown_device", device_id, "not registered at this station")
            return None
        try:
            topic = topics.event(self.station.id, device_id)
        except InvalidIdError as exc:
            self.reject("bad_device_id", device_id, str(exc))
            return None
        ts = self._stamp(device_id, device_ts_ms)
        try:
            DeviceEvent(
                ts=ts, seq=0, type=event_type, code=code, detail=detail, command_id=command_id
            )
        except ValidationError as exc:
            self.reject("schema", device_id, str(exc.errors()[:3]))
            return None

        def build(seq: int) -> bytes:
            event = DeviceEvent(
                ts=ts, seq=seq, type=event_type, code=code, detail=detail, command_id=command_id
            )
            return dump_json(event)

        return self._enqueue(device_id, Channel.EVENT, topic, build)

    def _enqueue(
        self, device_id: str, channel: Channel, topic: str, build: Callable[[int], bytes]
    ) -> int | None:
        with self._lock:
            key = (device_id, channel)
            seq = self._next_seq.get(key)
            if seq is None:
                last = self.outbox.last_seq(device_id, channel)
                seq = 0 if last is None else last + 1
            msg = Envelope(device_id, channel, seq, topic, build(seq), self.clock.now_ms())
            if self.outbox.put(msg) is None:
                self._refused += 1
                return None
            self._next_seq[key] = seq + 1
            self._accepted += 1
        if self.on_enqueued is not None:
            self.on_enqueued()
        return seq

    def _stamp(self, device_id: str, device_ts_ms: Any) -> int:
        now = self.clock.now_ms()
        if device_ts_ms is None:
            return now
        ts: int | None = None
        if isinstance(device_ts_ms, int) and not isinstance(device_ts_ms, bool):
            ts = device_ts_ms
        elif isinstance(device_ts_ms, float) and math.isfinite(device_ts_ms):
            ts = int(device_ts_ms)
        if ts is not None:
            self.skew.record(ts - now, now)
            if ts >= TS_MIN_MS and abs(ts - now) <= self.max_skew_ms:
                return ts
        with self._lock:
            self._restamped += 1
        if self._throttle.allow("restamp", device_id):
            log.warning(
                "device clock implausible: ts replaced by the gateway clock",
                extra={
                    "station": self.station.id,
                    "device": device_id,
                    "device_ts": device_ts_ms,
                    "gateway_ts": now,
                },
            )
        return now

    def reject(self, reason: str, device_id: str, detail: str) -> None:
        """Count (and, throttled, log) one piece of invalid input."""
        with self._lock:
            self._rejected[reason] += 1
            total = self._rejected[reason]
        if self._throttle.allow("reject", reason, device_id):
            log.warning(
                "invalid device input dropped",
                extra={
                    "station": self.station.id,
                    "device": device_id,
                    "reason": reason,
                    "detail": detail[:300],
                    "rejected_total": total,
                },
            )
        return None

    def clock_skew_ms(self) -> int | None:
        return self.skew.value(self.clock.now_ms())

    def stats(self) -> IntakeStats:
        with self._lock:
            return IntakeStats(self._accepted, self._restamped, self._refused, dict(self._rejected))


@dataclass(frozen=True, slots=True)
class _LocalItem:
    generation: int
    topic: str
    payload: bytes
    mid: int
    qos: int


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


class LocalListener:
    """Devices with their own radios: `local/{device}/telemetry` on a local broker.

    A persistent session with manual acknowledgement: a message is acknowledged to the
    local broker only once the intake has dealt with it (stored in the outbox, or
    rejected and counted), so readings survive a gateway restart at least once. The
    local broker's in-flight limit bounds what waits for the worker thread.
    """

    def __init__(
        self,
        url: MqttUrl,
        client_id: str,
        intake: Intake,
        *,
        queue_max: int = 10_000,
        client_factory: Callable[..., mqtt.Client] = new_client,
    ) -> None:
        self.url = url
        self.intake = intake
        self.dropped = 0  # queue full (not acknowledged: the broker sends it again later)
        self._queue: queue.Queue[_LocalItem | None] = queue.Queue(maxsize=queue_max)
        self._client = client_factory(url, client_id, persistent=True)
        self._client.manual_ack_set(True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._generation = 0  # message ids are per connection: ack only the current one's
        self._thread = threading.Thread(target=self._work, name="gateway-local", daemon=True)
        self.subscribed = threading.Event()
        self._client.on_subscribe = lambda *_a: self.subscribed.set()

    def start(self) -> None:
        self._thread.start()
        self._client.connect_async(self.url.host or "127.0.0.1", self.url.port or 1883)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._queue.put(None)
        self._thread.join(10)

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: mqtt.ConnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        if rc.is_failure:
            log.error("local broker refused the connection", extra={"reason": str(rc)})
            return
        self._generation += 1
        client.subscribe(LOCAL_FILTER, qos=1)  # queues a packet: no waiting here

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = _LocalItem(self._generation, msg.topic, bytes(msg.payload), msg.mid, msg.qos)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "local intake queue full: reading left unacknowledged",
                    extra={"dropped": self.dropped},
                )

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.handle(item.topic, item.payload)
            except Exception:  # a bug here must not stop the intake
                log.exception("local reading failed", extra={"topic": item.topic})
            if item.generation == self._generation:
                self._client.ack(item.mid, item.qos)

    def handle(self, topic: str, payload: bytes) -> int | None:
        """One local message: `local/{device}/telemetry`, JSON fields + optional ts."""
        parts = topic.split("/")
        try:
            device = check_id(parts[1], "device id") if len(parts) == 3 else ""
        except InvalidIdError:
            device = ""
        if not device:
            self.intake.reject("bad_topic", topic[:64], "expected local/{device}/telemetry")
            return None
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            self.intake.reject("malformed_json", device, str(exc))
            return None
        if not isinstance(body, dict):
            self.intake.reject("schema", device, "payload must be a JSON object")
            return None
        ts = body.pop("ts", None)
        return self.intake.submit(device, body, ts)
