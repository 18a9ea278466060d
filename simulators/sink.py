"""Where readings go: the gateway side of a simulated station.

`ReadingSink` is the seam: the runner submits readings (and events, to sinks that
have `submit_event`), a sink numbers, validates and delivers them. `MemorySink` keeps
them (unit tests, in-process use); `MqttSink` publishes them like a station gateway
would, one MQTT connection per station, without an outbox (a light stand-in for tests
and the end-to-end skeleton). `simulators.gateways.GatewayFleet` delivers through
real gateways.
"""

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, NamedTuple, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import TypeAdapter

from simulators.station import Event, Reading
from warmnet import topics
from warmnet.clock import Clock, SystemClock
from warmnet.ids import check_id
from warmnet.messages import (
    DeviceEvent,
    GatewayState,
    GatewayStatus,
    InvalidPayloadError,
    as_dict,
    dump_json,
    parse_telemetry,
)
from warmnet.mqtt import connect, new_client
from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)

MAX_INFLIGHT = 1000  # paho's default of 20 unacked publishes throttles a busy station
QOS = 1


class ReadingSink(Protocol):
    def submit(self, reading: Reading) -> None:
        """Deliver one reading (or raise: a bad reading is a simulator bug)."""
        ...

    def close(self) -> None:
        """Flush and release; no submit afterwards."""
        ...


class SimulatorBug(RuntimeError):
    """A model produced a payload the contract rejects. Fail loudly: never publish it."""


class Published(NamedTuple):
    topic: str
    payload: dict[str, Any]


class PayloadEncoder:
    """Numbers readings per device (`seq` from 0, no gaps) and validates each payload
    once against the model of the device's kind."""

    def __init__(self) -> None:
        self._seq: dict[tuple[str, str], int] = {}

    def encode(self, reading: Reading) -> tuple[str, dict[str, Any], bytes]:
        """Return (topic, payload, JSON bytes) or raise SimulatorBug."""
        where = f"{reading.station}/{reading.device} ({reading.kind})"
        key = (reading.station, reading.device)
        seq = self._seq.get(key, 0)
        if "ts" in reading.fields or "seq" in reading.fields:
            raise SimulatorBug(f"{where}: model fields must not set ts/seq")
        payload = {"ts": reading.ts_ms, "seq": seq, **reading.fields}
        try:
            raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
            parse_telemetry(reading.kind, raw)
        except (InvalidPayloadError, ValueError, TypeError) as exc:
            raise SimulatorBug(f"{where}: invalid telemetry {payload}: {exc}") from exc
        self._seq[key] = seq + 1  # only once valid: a rejected reading leaves no gap
        return topics.telemetry(reading.station, reading.device), payload, raw

    def encode_event(self, event: Event) -> tuple[str, dict[str, Any], bytes]:
        """Events are numbered on their own channel (`seq` from 0 per device)."""
        key = (event.station, f"{event.device}/event")
        seq = self._seq.get(key, 0)
        try:
            body = DeviceEvent(
                ts=event.ts_ms, seq=seq, type=event.type, code=event.code, detail=event.detail
            )
        except ValueError as exc:
            raise SimulatorBug(f"{event.station}/{event.device}: invalid event: {exc}") from exc
        self._seq[key] = seq + 1
        return topics.event(event.station, event.device), as_dict(body), dump_json(body)


class MemorySink:
    """Keeps every payload in memory (unbounded: for tests and short runs)."""

    def __init__(self) -> None:
        self._encoder = PayloadEncoder()
        self.published: list[Published] = []  # telemetry
        self.events: list[Published] = []
        self.closed = False

    def submit(self, reading: Reading) -> None:
        if self.closed:
            raise RuntimeError("sink is closed")
        topic, payload, _ = self._encoder.encode(reading)
        self.published.append(Published(topic, payload))

    def submit_event(self, event: Event) -> None:
        if self.closed:
            raise RuntimeError("sink is closed")
        topic, payload, _ = self._encoder.encode_event(event)
        self.events.append(Published(topic, payload))

    def close(self) -> None:
        self.closed = True


ClientFactory = Callable[[MqttUrl, str], mqtt.Client]


def parse_mqtt_url(url: MqttUrl | str) -> MqttUrl:
    if isinstance(url, str):
        return TypeAdapter(MqttUrl).validate_python(url)
    return url


class MqttSink:
    """Publishes readings QoS 1 to `warm/v1/{station}/{device}/telemetry` (events to
    `.../event`), one paho client per station (`sim-gw-{station}`), with the gateway
    status protocol: last will retained `offline`, retained `online` on every
    (re)connect, retained `stopped` on `close()`; all with the same `session` number.

    `close()` waits (up to `close_timeout` s) until the broker acknowledged every
    publish; what is still unacknowledged then is counted in `unacknowledged` and
    logged. paho's queue is unlimited (no silent drops) so memory grows while the
    broker is unreachable: fine for a simulator; the real gateway spools to disk.

    Not thread-safe: submit and close from one thread. paho callbacks only update
    counters; status publishes and logging happen on the caller's thread.
    """

    def __init__(
        self,
        url: MqttUrl | str,
        station_ids: Iterable[str],
        *,
        clock: Clock | None = None,
        session: int | None = None,
        record: bool = False,
        record_limit: int = 1_000_000,
        connect_timeout: float = 10.0,
        close_timeout: float = 30.0,
        client_factory: ClientFactory = new_client,
    ) -> None:
        self.url = parse_mqtt_url(url)
        self.clock: Clock = clock or SystemClock()
        # Wall-clock ms: grows across restarts even when simulated time does not.
        self.session = session if session is not None else time.time_ns() // 1_000_000
        self.started_ms = self.clock.now_ms()
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self.unacknowledged = 0
        self._encoder = PayloadEncoder()
        self._record: deque[Published] | None = deque(maxlen=record_limit) if record else None
        self._record_full = False
        self._state = "new"  # new -> running -> closed
        # Shared with paho's network threads; guarded by _cond.
        self._cond = threading.Condition()
        self._sent = 0
        self._acked = 0
        self._connects: dict[str, int] = {}
        self._disconnects: dict[str, str] = {}
        self._announced: dict[str, int] = {}
        self._changed = False  # set by callbacks: a (re)connect or disconnect to handle
        self._clients: dict[str, mqtt.Client] = {}
        for station in station_ids:
            check_id(station, "station id")
            self._clients[station] = self._make_client(station, client_factory)
            self._connects[station] = self._announced[station] = 0

    @property
    def stations(self) -> list[str]:
        return list(self._clients)

    @property
    def published(self) -> list[Published]:
        """Everything published so far, in order (only with `record=True`)."""
        if self._record is None:
            raise RuntimeError("MqttSink(record=True) keeps what it published")
        return list(self._record)

    @property
    def sent(self) -> int:
        with self._cond:
            return self._sent

    @property
    def acknowledged(self) -> int:
        with self._cond:
            return self._acked

    def _status(self, state: GatewayState, ts_ms: int) -> GatewayStatus:
        return GatewayStatus(state=state, session=self.session, ts=ts_ms)

    def _make_client(self, station: str, factory: ClientFactory) -> mqtt.Client:
        client = factory(self.url, f"sim-gw-{station}")
        client.user_data_set(station)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)  # 0 = unlimited: paho never drops a publish
        will = self._status(GatewayState.OFFLINE, self.started_ms)
        client.will_set(topics.gateway_status(station), dump_json(will), qos=QOS, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # -- paho callbacks (network threads): count and hand over, nothing else.

    def _on_connect(
        self,
        client: mqtt.Client,
        station: str,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            return
        with self._cond:
            self._connects[station] += 1
            self._changed = True
            self._cond.notify_all()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        station: str,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._disconnects[station] = str(reason_code)
            self._changed = True

    def _on_publish(
        self,
        client: mqtt.Client,
        station: str,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    # -- caller's thread

    def start(self) -> None:
        """Connect every station's client (raise ConnectError if one fails) and
        announce `online`."""
        if self._state != "new":
            raise RuntimeError(f"MqttSink is {self._state}")
        connected: list[mqtt.Client] = []
        try:
            for station, client in self._clients.items():
                connect(client, self.url, timeout=self.connect_timeout)
                connected.append(client)
                log.debug("gateway connected", extra={"station": station})
        except Exception:
            for client in connected:
                client.disconnect()
                client.loop_stop()
            self._state = "closed"
            raise
        # connect() returns on CONNACK, possibly just before our on_connect ran.
        with self._cond:
            self._cond.wait_for(
                lambda: all(n > 0 for n in self._connects.values()), self.connect_timeout
            )
        self._state = "running"
        self._handle_connection_changes()
        log.info(
            "simulated gateways online",
            extra={"stations": len(self._clients), "session": self.session},
        )

    def submit(self, reading: Reading) -> None:
        if self._state != "running":
            raise RuntimeError(f"MqttSink is {self._state}: call start() first")
        if self._changed:
            self._handle_connection_changes()
        client = self._clients.get(reading.station)
        if client is None:
            raise ValueError(f"station {reading.station!r} is not served by this sink")
        topic, payload, raw = self._encoder.encode(reading)
        self._publish(client, topic, payload, raw, retain=False)

    def submit_event(self, event: Event) -> None:
        if self._state != "running":
            raise RuntimeError(f"MqttSink is {self._state}: call start() first")
        client = self._clients.get(event.station)
        if client is None:
            raise ValueError(f"station {event.station!r} is not served by this sink")
        topic, payload, raw = self._encoder.encode_event(event)
        self._publish(client, topic, payload, raw, retain=False)

    def _publish(
        self, client: mqtt.Client, topic: str, payload: dict[str, Any], raw: bytes, retain: bool
    ) -> None:
        info = client.publish(topic, raw, qos=QOS, retain=retain)
        # NO_CONN: queued by paho, sent after the automatic reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        with self._cond:
            self._sent += 1
        if self._record is not None:
            if len(self._record) == self._record.maxlen and not self._record_full:
                self._record_full = True  # oldest entries go from now on
                log.warning("publish record full", extra={"record_limit": self._record.maxlen})
            self._record.append(Published(topic, payload))

    def _publish_status(self, station: str, state: GatewayState) -> None:
        status = self._status(state, self.clock.now_ms())
        topic = topics.gateway_status(station)
        self._publish(self._clients[station], topic, as_dict(status), dump_json(status), True)

    def _handle_connection_changes(self) -> None:
        with self._cond:
            self._changed = False
            lost, self._disconnects = self._disconnects, {}
            fresh = {s: n for s, n in self._connects.items() if n > self._announced[s]}
            self._announced.update(fresh)
        for station, reason in lost.items():
            log.warning("gateway disconnected", extra={"station": station, "reason": reason})
        for station, n in fresh.items():
            if n > 1:
                log.info("gateway reconnected", extra={"station": station})
            self._publish_status(station, GatewayState.ONLINE)

    def close(self) -> None:
        """Announce `stopped`, wait for every acknowledgement, disconnect."""
        if self._state == "closed":
            return
        was_running, self._state = self._state == "running", "closed"
        if was_running:
            for station in self._clients:
                self._publish_status(station, GatewayState.STOPPED)
            with self._cond:
                self._cond.wait_for(lambda: self._acked >= self._sent, self.close_timeout)
                self.unacknowledged = max(0, self._sent - self._acked)
            if self.unacknowledged:
                log.error(
                    "closing with unacknowledged publishes",
                    extra={"unacknowledged": self.unacknowledged, "sent": self._sent},
                )
        for client in self._clients.values():
            client.disconnect()  # clean: the broker discards the last will
            client.loop_stop()
        log.info("simulated gateways stopped", extra={"published": self._sent})

    def __enter__(self) -> "MqttSink":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
