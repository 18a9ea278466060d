"""The paho client every component makes (`new_client`): incoming messages leave no
garbage behind for the cycle collector, and per-topic callbacks still work."""

import gc

import paho.mqtt.client as mqtt

from warmnet.mqtt import new_client
from warmnet.settings import MqttUrl

TOPIC = "warm/v1/wmq-01/outlet-01/telemetry"
URL = MqttUrl("mqtt://127.0.0.1:1883")


def _deliver(client: mqtt.Client, topic: str, n: int = 1) -> int:
    """Hand `n` messages to paho's dispatch as its network thread does; returns how
    many objects the cycle collector then finds unreachable."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for i in range(n):
            msg = mqtt.MQTTMessage(mid=i + 1, topic=topic.encode())
            msg.payload = b"{}"
            client._handle_on_message(msg)
        return gc.collect()
    finally:
        if was:
            gc.enable()


def test_incoming_messages_leave_no_reference_cycles() -> None:
    client = new_client(URL, "test-garbage")
    got: list[str] = []
    client.on_message = lambda _c, _u, m: got.append(m.topic)
    assert _deliver(client, TOPIC, 1000) == 0
    assert len(got) == 1000


def test_per_topic_callbacks_still_match_and_can_be_removed() -> None:
    client = new_client(URL, "test-filters")
    general: list[str] = []
    filtered: list[str] = []
    client.on_message = lambda _c, _u, m: general.append(m.topic)
    client.message_callback_add("warm/v1/+/+/telemetry", lambda _c, _u, m: filtered.append(m.topic))
    _deliver(client, TOPIC)
    _deliver(client, "warm/v1/wmq-01/availability")
    assert filtered == [TOPIC]
    assert general == ["warm/v1/wmq-01/availability"]  # paho: filtered ones skip on_message
    client.message_callback_remove("warm/v1/+/+/telemetry")
    _deliver(client, TOPIC)
    assert general[-1] == TOPIC
