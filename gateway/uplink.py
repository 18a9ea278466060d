"""Northbound: from the outbox to the central broker, QoS 1.

One thread (the gateway thread) owns everything here; paho callbacks only post to a
`Mailbox` (no I/O in callbacks). Per connection attempt the uplink makes a fresh paho
client (clean session) with a new session number and a last will `offline` for that
session, so paho never resends anything on its own: the outbox is the source of
truth, and after every (re)connect everything unacknowledged is republished from it,
in order. A message leaves the outbox only on its PUBACK.

At most `window` data messages are unacknowledged at once (paho's limit of 65,535
message ids is never approached); PUBACKs free the window and the outbox feeds more.
Two lanes share the window:
- live: messages younger than the freshness limit, sent as soon as there is room;
- backlog: older ones, flagged `historical: true` at send time, drained in order at
  most `drain_rate` messages per second, after the live lane has had its turn.
Within each lane a device's messages leave in order.

Status (retained, QoS 1, on `warm/v1/{station}/gateway/status`): `online` on every
connect and every `heartbeat_s` (with outbox_depth, uplink_reconnects,
clock_skew_ms), `offline` as the last will of the same session, `stopped` on a clean
stop (then a clean DISCONNECT, so the broker discards the will).
"""

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from gateway.mailbox import (
    Acked,
    Command,
    Connected,
    Disconnected,
    Item,
    Mailbox,
    Subscribed,
)
from gateway.outbox import Entry, Outbox
from gateway.state import StateStore
from warmnet import topics
from warmnet.clock import Clock
from warmnet.messages import GatewayState, GatewayStatus, dump_json
from warmnet.mqtt import without_message_garbage
from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)

QOS = 1
STATUS_HEADROOM = 8  # paho in-flight slots beyond the data window, for status messages
MAX_IDLE_S = 0.5  # the gateway thread looks around at least this often
STOP_ACK_TIMEOUT_S = 5.0
STOP_DRAIN_S = 3.0  # on a clean stop, keep sending the outbox this long at most

ClientFactory = Callable[[MqttUrl, str], mqtt.Client]


def make_client(url: MqttUrl, client_id: str) -> mqtt.Client:
    """A paho client for one connection attempt: clean session, no automatic reconnect
    (the uplink makes a new client, with a new session and will, for each attempt)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=MQTTProtocolVersion.MQTTv311,
        reconnect_on_failure=False,
    )
    without_message_garbage(client)
    if url.username:
        client.username_pw_set(url.username, url.password)
    if url.scheme == "mqtts":
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    return client


def mark_historical(payload: bytes) -> bytes:
    body = json.loads(payload)
    body["historical"] = True
    return json.dumps(body, separators=(",", ":")).encode()


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, max(1.0, burst)
        self._tokens, self._at = self.burst, now

    def available(self, now: float) -> float:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    def spend(self, n: int) -> None:
        self._tokens -= n

    def time_to_next(self, now: float) -> float:
        return max(0.0, (1.0 - self.available(now)) / self.rate)


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    url: MqttUrl
    client_id: str
    station: str
    freshness_ms: int
    drain_rate: float
    window: int = 100
    heartbeat_s: float = 30.0
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0


@dataclass(frozen=True, slots=True)
class UplinkStats:
    online: bool
    session: int | None
    connects: int
    reconnects: int
    published: int  # data publishes, republishes included
    historical: int  # ... of which flagged historical
    acked: int
    inflight: int
    dropped_commands: int


class Uplink:
    def __init__(
        self,
        config: UplinkConfig,
        outbox: Outbox,
        state: StateStore,
        clock: Clock,
        *,
        status_fields: Callable[[], dict[str, Any]] = dict,
        on_command: Callable[[str, bytes], object] | None = None,
        client_factory: ClientFactory = make_client,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.state = state
        self.clock = clock
        self.status_fields = status_fields
        self.on_command = on_command
        self.client_factory = client_factory
        self.monotonic = monotonic
        self.mailbox = Mailbox()
        self.status_topic = topics.gateway_status(config.station)
        self.command_filter = f"{topics.ROOT}/{config.station}/+/command"
        self._online = threading.Event()
        self._commands_ready = threading.Event()  # the command subscription is acknowledged
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Gateway-thread state.
        self._client: mqtt.Client | None = None
        self._session: int | None = None
        self._inflight: dict[int, int] = {}  # paho mid -> outbox id
        self._inflight_ids: set[int] = set()
        self._cursor_live = 0
        self._cursor_old = 0
        self._backlog_pending = False
        now = monotonic()
        burst = min(float(config.window), max(1.0, config.drain_rate * 0.2))
        self._bucket = TokenBucket(config.drain_rate, burst, now)
        self._next_attempt = now
        self._backoff = config.reconnect_min_s
        self._next_heartbeat = now
        self._stop_mid: int | None = None
        self._stop_acked = threading.Event()
        self._connects = self._published = self._historical = self._acked = 0
        self._failed_attempts = 0

    # -- public, any thread ----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gateway-uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Publish `stopped`, wait (bounded) for its PUBACK, disconnect cleanly."""
        self._stopping.set()
        self.mailbox.kick()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("uplink thread did not stop in time", extra={"timeout_s": timeout})

    def kick(self) -> None:
        """Something new is in the outbox."""
        self.mailbox.kick()

    @property
    def online(self) -> bool:
        return self._online.is_set()

    @property
    def session(self) -> int | None:
        return self._session

    @property
    def reconnects(self) -> int:
        return max(0, self._connects - 1)

    def wait_online(self, timeout: float) -> bool:
        return self._online.wait(timeout)

    def wait_commands_ready(self, timeout: float) -> bool:
        """Wait until the broker acknowledged this session's command subscription."""
        return self._commands_ready.wait(timeout)

    def stats(self) -> UplinkStats:
        return UplinkStats(
            self.online,
            self._session,
            self._connects,
            self.reconnects,
            self._published,
            self._historical,
            self._acked,
            len(self._inflight),
            self.mailbox.dropped_commands,
        )

    # -- paho callbacks: hand over, nothing else ---------------------------------------

    def _on_connect(
        self, _c: mqtt.Client, session: int, _f: mqtt.ConnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        self.mailbox.post(Connected(session, not rc.is_failure, str(rc)))

    def _on_disconnect(
        self, _c: mqtt.Client, session: int, _f: mqtt.DisconnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        self.mailbox.post(Disconnected(session, str(rc)))

    def _on_publish(
        self, _c: mqtt.Client, session: int, mid: int, _rc: ReasonCode, _p: Any
    ) -> None:
        self.mailbox.post(Acked(session, mid))

    def _on_subscribe(
        self, _c: mqtt.Client, session: int, _mid: int, rcs: list[ReasonCode], _p: Any
    ) -> None:
        self.mailbox.post(Subscribed(session, not any(rc.is_failure for rc in rcs)))

    def _on_message(self, _c: mqtt.Client, session: int, msg: mqtt.MQTTMessage) -> None:
        self.mailbox.post(Command(session, msg.topic, bytes(msg.payload)))

    # -- the gateway thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once(self._wait_s())
            except Exception:  # e.g. the disk is full: keep trying, never die silently
                log.exception("uplink step failed", extra={"station": self.config.station})
                self._stopping.wait(1.0)
        self._shutdown()

    def run_once(self, timeout: float) -> None:
        """Handle what the callbacks posted, (re)connect when due, send, heartbeat."""
        self._handle(self.mailbox.wait(timeout))
        now = self.monotonic()
        if self._client is None and not self._stopping.is_set() and now >= self._next_attempt:
            self._open()
        if self._online.is_set():
            self._pump()
            if now >= self._next_heartbeat:
                self._publish_status(GatewayState.ONLINE)
                self._next_heartbeat = now + self.config.heartbeat_s

    def _wait_s(self) -> float:
        now = self.monotonic()
        waits = [MAX_IDLE_S]
        if self._client is None:
            waits.append(self._next_attempt - now)
        if self._online.is_set():
            waits.append(self._next_heartbeat - now)
            if self._backlog_pending and len(self._inflight) < self.config.window:
                waits.append(self._bucket.time_to_next(now))
        return max(0.0, min(waits))

    def _handle(self, items: list[Item]) -> None:
        acked: list[int] = []
        for item in items:
            if item.session != self._session:
                continue  # a late callback of an earlier connection
            if isinstance(item, Acked):
                msg_id = self._inflight.pop(item.mid, None)
                if msg_id is not None:
                    self._inflight_ids.discard(msg_id)
                    acked.append(msg_id)
                elif item.mid == self._stop_mid:
                    self._stop_acked.set()
            elif isinstance(item, Connected):
                self._connected(item)
            elif isinstance(item, Disconnected):
                self._disconnected(item)
            elif isinstance(item, Subscribed):
                self._subscribed(item)
            elif self.on_command is not None and not self._stopping.is_set():
                self.on_command(item.topic, item.payload)
        if acked:
            self.outbox.remove(acked)
            self._acked += len(acked)

    def _open(self) -> None:
        cfg = self.config
        session = self.state.next_session(self.clock.now_ms())
        client = self.client_factory(cfg.url, cfg.client_id)
        client.user_data_set(session)
        client.max_inflight_messages_set(cfg.window + STATUS_HEADROOM)
        client.max_queued_messages_set(0)
        will = GatewayStatus(state=GatewayState.OFFLINE, session=session, ts=self.clock.now_ms())
        client.will_set(self.status_topic, dump_json(will), qos=QOS, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._session = session
        host, port = cfg.url.host or "127.0.0.1", cfg.url.port or 1883
        try:
            client.connect(host, port, keepalive=cfg.keepalive_s)
        except (OSError, ValueError) as exc:
            self._retry_later(session, f"cannot reach broker: {exc}")
            return
        self._client = client
        client.loop_start()

    def _connected(self, item: Connected) -> None:
        if not item.ok:
            log.error(
                "broker refused the uplink",
                extra={
                    "station": self.config.station,
                    "session": item.session,
                    "reason": item.reason,
                },
            )
            self._close_client()
            self._retry_later(item.session, item.reason)
            return
        client = self._client
        if client is None:
            return  # closed meanwhile (shutting down)
        self._connects += 1
        self._backoff = self.config.reconnect_min_s
        self._failed_attempts = 0
        self._inflight.clear()
        self._inflight_ids.clear()
        self._cursor_live = self._cursor_old = 0  # republish everything unacknowledged
        self._backlog_pending = True
        client.subscribe(self.command_filter, qos=QOS)
        self._publish_status(GatewayState.ONLINE)
        self._next_heartbeat = self.monotonic() + self.config.heartbeat_s
        self._online.set()
        log.info(
            "uplink online",
            extra={
                "station": self.config.station,
                "session": item.session,
                "reconnects": self.reconnects,
                "outbox_depth": self.outbox.stats().depth,
            },
        )

    def _subscribed(self, item: Subscribed) -> None:
        if item.ok:
            self._commands_ready.set()
        else:
            log.error(
                "broker refused the command subscription: no downlink this session",
                extra={"station": self.config.station, "session": item.session},
            )

    def _disconnected(self, item: Disconnected) -> None:
        if self._client is None:
            return  # already handled (refused, or shut down)
        was_online = self._online.is_set()
        self._online.clear()
        self._commands_ready.clear()
        inflight = len(self._inflight)
        self._close_client()
        self._inflight.clear()
        self._inflight_ids.clear()
        if was_online:
            log.warning(
                "uplink lost",
                extra={
                    "station": self.config.station,
                    "session": item.session,
                    "reason": item.reason,
                    "unacknowledged": inflight,
                },
            )
        self._retry_later(item.session, item.reason)

    def _retry_later(self, session: int, reason: str) -> None:
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self.config.reconnect_max_s)
        self._next_attempt = self.monotonic() + delay
        self._failed_attempts += 1
        n = self._failed_attempts
        # A long outage retries every reconnect_max_s: log the first few, then rarely.
        log.log(
            logging.INFO if n <= 3 or n % 30 == 0 else logging.DEBUG,
            "uplink reconnect scheduled",
            extra={
                "station": self.config.station,
                "session": session,
                "reason": reason,
                "failed_attempts": n,
                "delay_s": round(delay, 2),
            },
        )

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.loop_stop()  # its thread is ending (no automatic reconnect)

    def _pump(self) -> None:
        client = self._client
        free = self.config.window - len(self._inflight)
        if client is None or free <= 0:
            return
        now_ms = self.clock.now_ms()
        cutoff = now_ms - self.config.freshness_ms
        if self.outbox.last_id > self._cursor_live:
            for entry in self.outbox.scan(self._cursor_live, free, since_ms=cutoff):
                self._cursor_live = entry.id
                if entry.id not in self._inflight_ids:
                    self._send(client, entry, historical=False)
                    free -= 1
        if free <= 0:
            return
        now = self.monotonic()
        budget = min(free, int(self._bucket.available(now)))
        sent = 0
        while sent < budget:
            batch = self.outbox.scan(self._cursor_old, budget - sent, before_ms=cutoff)
            if not batch:
                break
            for entry in batch:
                self._cursor_old = entry.id
                if entry.id not in self._inflight_ids:
                    self._send(client, entry, historical=True)
                    sent += 1
        self._bucket.spend(sent)
        # More may be waiting when tokens ran out: wake up for the next token then.
        self._backlog_pending = sent == budget

    def _send(self, client: mqtt.Client, entry: Entry, *, historical: bool) -> None:
        payload = mark_historical(entry.msg.payload) if historical else entry.msg.payload
        info = client.publish(entry.msg.topic, payload, qos=QOS)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            # Nothing is lost: it stays in the outbox and goes out after the reconnect.
            log.error(
                "publish refused by paho",
                extra={"station": self.config.station, "error": mqtt.error_string(info.rc)},
            )
            return
        self._inflight[info.mid] = entry.id
        self._inflight_ids.add(entry.id)
        self._published += 1
        if historical:
            self._historical += 1

    def _publish_status(self, state: GatewayState) -> int | None:
        client, session = self._client, self._session
        if client is None or session is None:
            return None
        fields = {"uplink_reconnects": self.reconnects, **self.status_fields()}
        status = GatewayStatus(state=state, session=session, ts=self.clock.now_ms(), **fields)
        info = client.publish(self.status_topic, dump_json(status), qos=QOS, retain=True)
        return info.mid

    def _shutdown(self) -> None:
        # Send what is waiting (bounded in time: the outbox keeps the rest), then say
        # `stopped`: its PUBACK comes after those of everything sent before it.
        deadline = self.monotonic() + STOP_DRAIN_S
        while self._online.is_set() and self.outbox.stats().depth > 0:
            left = deadline - self.monotonic()
            if left <= 0:
                break
            self._pump()
            self._handle(self.mailbox.wait(min(left, self._wait_s())))
        client = self._client
        if client is not None and self._online.is_set():
            self._stop_mid = self._publish_status(GatewayState.STOPPED)
            deadline = self.monotonic() + STOP_ACK_TIMEOUT_S
            waiting = self._stop_mid is not None
            while waiting and not self._stop_acked.is_set() and self._client is not None:
                left = deadline - self.monotonic()
                if left <= 0:
                    log.warning(
                        "no PUBACK for the `stopped` status", extra={"session": self._session}
                    )
                    break
                self._handle(self.mailbox.wait(min(left, MAX_IDLE_S)))
        self._online.clear()
        self._commands_ready.clear()
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()  # clean: the broker discards the last will
            client.loop_stop()
        log.info(
            "uplink stopped",
            extra={
                "station": self.config.station,
                "session": self._session,
                "outbox_depth": self.outbox.stats().depth,
            },
        )
