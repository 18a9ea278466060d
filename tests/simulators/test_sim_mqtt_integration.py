"""The simulator against a real Mosquitto: every publish arrives exactly once, seq has
no gaps, the gateway status is `online` while running and `stopped` after close."""

import json
import threading
from collections import Counter, defaultdict
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from simulators.runner import RunStats, run
from simulators.sink import MqttSink, ReadingSink, parse_mqtt_url
from testbed.services import MosquittoServer, wait_for
from warmnet import topics
from warmnet.clock import SimulatedClock
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet, load_fleet, parse_fleet

pytestmark = pytest.mark.integration


def fleet_with_unique_ids(prefix: str, count: int = 3) -> Fleet:
    """The first `count` bundled stations under ids no other test uses."""
    data = load_fleet().model_dump(mode="json")
    data["stations"] = data["stations"][:count]
    for i, station in enumerate(data["stations"], 1):
        station["id"] = f"{prefix}-{i}"
    return parse_fleet(data)


class Subscriber:
    """A plain paho client collecting (topic, payload, retain) of one or more filters."""

    def __init__(self, url: str, client_id: str, filters: list[str]) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = new_client(parse_mqtt_url(url), client_id)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        connect(self.client, parse_mqtt_url(url))
        self.client.subscribe([(f, 1) for f in filters])
        assert subscribed.wait(5), "no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_status(url: str, client_id: str, stations: list[str]) -> dict[str, dict[str, Any]]:
    """The retained gateway status of each station, as a fresh subscriber sees it."""
    sub = Subscriber(url, client_id, [topics.gateway_status(s) for s in stations])
    try:
        wait_for(lambda: len(sub.snapshot()) >= len(stations), timeout=2, message="no retained")
        return {t.split("/")[2]: json.loads(p) for t, p, retain in sub.snapshot() if retain}
    finally:
        sub.close()


def test_every_publish_arrives_exactly_once_in_order(
    mosquitto: MosquittoServer, unique_id: str
) -> None:
    fleet = fleet_with_unique_ids(f"sim{unique_id[:8]}")
    ids = [s.id for s in fleet.stations]
    mine = set(ids)
    sub = Subscriber(
        mosquitto.url, f"sub-{unique_id}", [topics.ALL_TELEMETRY, topics.ALL_GATEWAY_STATUS]
    )
    clock = SimulatedClock(speed=60)
    sink = MqttSink(mosquitto.url, ids, clock=clock, record=True)

    def factory(_: object) -> ReadingSink:
        sink.start()
        return sink

    stop = threading.Event()
    result: list[RunStats] = []
    start_ms = clock.now_ms()
    runner = threading.Thread(
        target=lambda: result.append(run(fleet, ids, factory, clock, seed=7, stop=stop))
    )
    runner.start()

    def all_online() -> dict[str, dict[str, Any]] | None:
        status = retained_status(mosquitto.url, f"ret1-{unique_id}", ids)
        ok = len(status) == 3 and all(v["state"] == "online" for v in status.values())
        return status if ok else None

    try:
        online = wait_for(
            all_online,
            timeout=15,
            ignore=(AssertionError,),
            message="retained status never became online for all stations",
        )
        assert {v["session"] for v in online.values()} == {sink.session}
        wait_for(lambda: clock.now_ms() >= start_ms + 60_000, timeout=10)
    finally:
        stop.set()
        runner.join(timeout=40)
    assert not runner.is_alive()
    (stats,) = result
    assert sink.unacknowledged == 0

    recorded = [(t, p) for t, p in sink.published if t.endswith("/telemetry")]
    assert stats.readings == len(recorded) > 100

    def telemetry() -> list[tuple[str, dict[str, Any]]]:
        return [
            (t, json.loads(p))
            for t, p, _ in sub.snapshot()
            if t.endswith("/telemetry") and t.split("/")[2] in mine
        ]

    wait_for(
        lambda: len(telemetry()) >= len(recorded),
        timeout=10,
        message=lambda: f"received {len(telemetry())} of {len(recorded)}",
    )
    got = telemetry()

    def key(item: tuple[str, dict[str, Any]]) -> tuple[str, str]:
        return item[0], json.dumps(item[1], sort_keys=True)

    assert Counter(map(key, got)) == Counter(map(key, recorded))  # identical payloads
    assert max(Counter(map(key, got)).values()) == 1  # exactly once
    seqs: dict[str, list[int]] = defaultdict(list)
    for topic, payload in got:
        seqs[topic].append(payload["seq"])
    assert len(seqs) == sum(len(s.devices) for s in fleet.stations)
    for topic, seq in seqs.items():
        assert seq == list(range(len(seq))), topic  # in order, from 0, no gaps

    live: dict[str, list[str]] = defaultdict(list)
    for topic, raw, _ in sub.snapshot():
        station = topic.split("/")[2]
        if topic.endswith("/gateway/status") and station in mine:
            live[station].append(json.loads(raw)["state"])
    assert {s: states[-1] for s, states in live.items()} == dict.fromkeys(ids, "stopped")
    assert all("offline" not in states for states in live.values())  # clean stop: no will

    after = retained_status(mosquitto.url, f"ret2-{unique_id}", ids)
    assert {s: v["state"] for s, v in after.items()} == dict.fromkeys(ids, "stopped")
    assert {v["session"] for v in after.values()} == {sink.session}

    sub.close()
    # Leave no retained status of these throwaway stations behind for other tests.
    cleaner = new_client(parse_mqtt_url(mosquitto.url), f"clean-{unique_id}")
    connect(cleaner, parse_mqtt_url(mosquitto.url))
    infos = [cleaner.publish(topics.gateway_status(s), b"", qos=1, retain=True) for s in ids]
    for info in infos:
        info.wait_for_publish(5)
    cleaner.disconnect()
    cleaner.loop_stop()
