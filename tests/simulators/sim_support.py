"""Helpers for the simulator's integration tests (imported as `sim_support`: tests/
has no __init__.py, so pytest puts this folder on sys.path)."""

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt

from simulators.sink import parse_mqtt_url
from warmnet import topics
from warmnet.mqtt import connect, new_client


class Recorder:
    """Every message under some filters: (topic, payload) in arrival order."""

    def __init__(self, url: str, client_id: str, filters: list[str]) -> None:
        self._lock = threading.Lock()
        self.messages: list[tuple[str, bytes]] = []
        subscribed = threading.Event()
        self.client = new_client(parse_mqtt_url(url), client_id)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: subscribed.set()
        connect(self.client, parse_mqtt_url(url))
        self.client.subscribe([(f, 1) for f in filters])
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def json(self, suffix: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            got = list(self.messages)
        return [(t, json.loads(p)) for t, p in got if t.endswith(suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def clear_retained(url: str, client_id: str, stations: list[str]) -> None:
    client = new_client(parse_mqtt_url(url), client_id)
    connect(client, parse_mqtt_url(url))
    infos = [client.publish(topics.gateway_status(s), b"", qos=1, retain=True) for s in stations]
    for info in infos:
        info.wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
