"""Making paho-mqtt 2.x clients the same way everywhere.

Seams at the transport: components take a `Publisher` (anything with `publish`) so
unit tests can run without a broker, and integration tests run the same code against
the real one.
"""

import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.matcher import MQTTMatcher
from paho.mqtt.reasoncodes import ReasonCode

from warmnet.settings import MqttUrl

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo: ...


class ConnectError(ConnectionError):
    pass


class _CallbackMatcher(MQTTMatcher):
    """paho's matcher of per-topic callbacks (`message_callback_add`), which paho asks
    about every incoming message. While no filter is registered (ours register none)
    it answers at once: paho's own recursive generator leaves a reference cycle behind
    per message, and at 2,000 messages/s collecting those took ~100 ms per young
    collection and halved a subscriber's rate (bench/README.md)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def iter_match(self, topic: str) -> Iterator[Any]:
        if not self._root._children:
            return iter(())
        return cast(Iterator[Any], super().iter_match(topic))  # type: ignore[no-untyped-call]


def without_message_garbage(client: mqtt.Client) -> mqtt.Client:
    """Give `client` a callback matcher that leaves no garbage per incoming message
    (`_CallbackMatcher`). paho's own attribute: checked, so that a paho that renames it
    fails here instead of silently keeping its matcher."""
    if not isinstance(getattr(client, "_on_message_filtered", None), MQTTMatcher):
        raise RuntimeError("paho-mqtt without Client._on_message_filtered: see warmnet.mqtt")
    client._on_message_filtered = _CallbackMatcher()
    return client


def new_client(url: MqttUrl, client_id: str, *, persistent: bool = False) -> mqtt.Client:
    """A paho client for `url`. `persistent`: keep the broker-side session (QoS 1
    messages are queued for us while we are away) — MQTT 3.1.1 clean_session=False."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=MQTTProtocolVersion.MQTTv311,
        reconnect_on_failure=True,
    )
    without_message_garbage(client)
    if url.username:
        client.username_pw_set(url.username, url.password)
    if url.scheme == "mqtts":
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


def connect(
    client: mqtt.Client, url: MqttUrl, *, timeout: float = 10.0, keepalive: int = 30
) -> None:
    """Connect and run the network loop in a thread; return once the broker accepted
    (CONNACK success), raise ConnectError on refusal or timeout.

    The caller's `on_connect`, if any, still runs on every (re)connect.
    """
    accepted = threading.Event()
    refused: list[str] = []
    user_on_connect = cast(Callable[..., object] | None, client.on_connect)

    def on_connect(
        c: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, rc: ReasonCode, props: object
    ) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        else:
            accepted.set()
        if user_on_connect is not None:
            user_on_connect(c, userdata, flags, rc, props)
        if refused:
            accepted.set()

    client.on_connect = on_connect
    host = url.host or "127.0.0.1"
    port = url.port or 1883
    try:
        client.connect(host, port, keepalive=keepalive)
    except OSError as exc:
        raise ConnectError(f"cannot reach MQTT broker {host}:{port}: {exc}") from exc
    client.loop_start()
    if not accepted.wait(timeout) or refused:
        client.loop_stop()
        client.disconnect()
        why = refused[0] if refused else f"no CONNACK within {timeout:.0f} s"
        raise ConnectError(f"MQTT broker {host}:{port} refused the connection: {why}")
    log.debug("mqtt connected", extra={"broker": f"{host}:{port}"})
