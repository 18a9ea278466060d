"""The paho client every component makes (`new_client`): incoming messages leave no
garbage behind for the cycle collector, and per-topic callbacks still work."""

import gc

from warmnet.mqtt import new_client
from warmnet.settings import MqttUrl

TOPIC = "warm/v1/wmq-01/outlet-01/telemetry"


def _garbage_after(n: int, client_matcher_call: object) -> int:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            list(client_matcher_call(TOPIC))  # type: ignore[operator]
        return gc.collect()
    finally:
        if was:
            gc.enable()


def test_incoming_messages_leave_no_reference_cycles() -> None:
    client = new_client(MqttUrl("mqtt://127.0.0.1:1883"), "test-garbage")
    # What paho asks for every incoming message (Client._handle_on_message).
    assert _garbage_after(1000, client._on_message_filtered.iter_match) == 0


def test_per_topic_callbacks_still_match() -> None:
    client = new_client(MqttUrl("mqtt://127.0.0.1:1883"), "test-filters")

    def cb(*_args: object) -> None:
        pass

    client.message_callback_add("warm/v1/+/+/telemetry", cb)
    assert list(client._on_message_filtered.iter_match(TOPIC)) == [cb]
    assert list(client._on_message_filtered.iter_match("warm/v1/wmq-01/availability")) == []
