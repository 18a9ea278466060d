"""Live availability: the newest `StationAvailability` per station, fed from the
collector's retained `warm/v1/{station}/availability` topics.

`LiveAvailability` is the in-memory store (thread-safe: the MQTT network thread writes,
request handlers read). `MqttAvailabilityFeed` subscribes and hands parsed summaries
to it; its callbacks only parse and hand over, they never block on I/O.
"""

import logging
import threading
from collections import Counter
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from api.settings import ApiSettings
from warmnet import topics
from warmnet.messages import InvalidPayloadError, StationAvailability, parse_availability
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet

log = logging.getLogger(__name__)


class LiveAvailability:
    """Newest summary per station. Latest `updated_at` wins: a retained replay after a
    reconnect, or a late message, never rolls a station back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._summaries: dict[str, StationAvailability] = {}
        self._accepted = 0
        self._ignored_older = 0

    def update(self, summary: StationAvailability) -> bool:
        """Keep `summary` if it is at least as new as the one held; True if kept."""
        with self._lock:
            held = self._summaries.get(summary.station)
            if held is not None and summary.updated_at < held.updated_at:
                self._ignored_older += 1
                return False
            self._summaries[summary.station] = summary
            self._accepted += 1
            return True

    def get(self, station_id: str) -> StationAvailability | None:
        with self._lock:
            return self._summaries.get(station_id)

    def all(self) -> dict[str, StationAvailability]:
        """A snapshot copy: station id -> summary."""
        with self._lock:
            return dict(self._summaries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._summaries)

    @property
    def accepted(self) -> int:
        """Summaries kept so far."""
        return self._accepted

    @property
    def ignored_older(self) -> int:
        """Summaries dropped because a newer one was already held."""
        return self._ignored_older


class AvailabilityFeed(Protocol):
    """What the app needs from a feed: lifecycle and whether it is connected."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def connected(self) -> bool: ...


class MqttAvailabilityFeed:
    """Subscribes to `warm/v1/+/availability` (QoS 1) and feeds `live`.

    A clean session is enough: the summaries are retained, so every (re)connect replays
    the current state, and `LiveAvailability` ignores anything older than it holds.
    With `fleet`, summaries of stations outside the registry are dropped (and counted),
    which also bounds memory against a stray publisher.
    """

    def __init__(
        self, settings: ApiSettings, live: LiveAvailability, *, fleet: Fleet | None = None
    ) -> None:
        self._settings = settings
        self._live = live
        self._fleet = fleet
        self._client: mqtt.Client | None = None
        self._subscribed = threading.Event()
        self._sub_mid: int | None = None
        self._counts_lock = threading.Lock()
        self._invalid: Counter[str] = Counter()

    @property
    def connected(self) -> bool:
        """Connected and subscribed (SUBACK granted)."""
        return self._subscribed.is_set()

    @property
    def invalid(self) -> dict[str, int]:
        """Dropped messages by reason (malformed_json, schema, station_mismatch, ...)."""
        with self._counts_lock:
            return dict(self._invalid)

    @property
    def invalid_total(self) -> int:
        with self._counts_lock:
            return sum(self._invalid.values())

    def start(self) -> None:
        """Connect (CONNACK checked) and subscribe; raise `ConnectError` on refusal."""
        if self._client is not None:
            return
        client = new_client(self._settings.mqtt_url, self._settings.api_client_id)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        connect(client, self._settings.mqtt_url)
        self._client = client
        log.info(
            "availability feed started",
            extra={"client_id": self._settings.api_client_id, "topic": topics.ALL_AVAILABILITY},
        )

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._subscribed.clear()
        client.disconnect()
        client.loop_stop()
        log.info("availability feed stopped", extra={"client_id": self._settings.api_client_id})

    # --- paho callbacks (network thread): parse and hand over, nothing else.

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        rc: ReasonCode,
        props: object,
    ) -> None:
        if rc.is_failure:
            log.error("mqtt connection refused", extra={"reason": str(rc)})
            return
        # Subscribe on every connect: a clean session forgets subscriptions.
        _, self._sub_mid = client.subscribe(topics.ALL_AVAILABILITY, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        props: object,
    ) -> None:
        if mid != self._sub_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.error(
                "subscription refused",
                extra={"topic": topics.ALL_AVAILABILITY, "reason": str(reason_codes[0])},
            )
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        rc: ReasonCode,
        props: object,
    ) -> None:
        self._subscribed.clear()
        if rc.is_failure:
            log.warning("mqtt disconnected, paho will reconnect", extra={"reason": str(rc)})

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, bytes(msg.payload))
        except Exception:  # a bug here must not kill paho's network thread
            log.exception("availability message handling failed", extra={"topic": msg.topic})

    def handle(self, topic: str, payload: bytes) -> bool:
        """Validate one availability message and hand it to `live`; True if kept."""
        try:
            station = topics.parse(topic).station
        except topics.TopicError as exc:
            return self._drop("bad_topic", topic, str(exc))
        if not payload:
            # An empty retained message clears the topic (station decommissioned):
            # nothing to keep, nothing wrong.
            log.debug("availability cleared", extra={"station": station})
            return False
        try:
            summary = parse_availability(payload)
        except InvalidPayloadError as exc:
            return self._drop(exc.reason, topic, exc.detail, station)
        if summary.station != station:
            return self._drop(
                "station_mismatch", topic, f"payload station {summary.station!r}", station
            )
        if self._fleet is not None and self._fleet.station(station) is None:
            return self._drop("unknown_station", topic, "not in the registry", station)
        return self._live.update(summary)

    def _drop(self, reason: str, topic: str, detail: str, station: str | None = None) -> bool:
        with self._counts_lock:
            self._invalid[reason] += 1
        log.warning(
            "availability message dropped",
            extra={"reason": reason, "topic": topic, "station": station, "detail": detail},
        )
        return False
