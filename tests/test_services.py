"""The real-service fixtures work: broker round-trips, persistence, InfluxDB write/read."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from testbed.services import InfluxServer, MosquittoServer, wait_for

pytestmark = pytest.mark.integration


class MqttTestClient:
    """A paho-mqtt 2.x client running its network loop in a thread, recording messages."""

    def __init__(
        self, broker: MosquittoServer, client_id: str, *, clean_session: bool = True
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.messages: list[mqtt.MQTTMessage] = []
        self.connects = 0
        self.subscribed: set[int] = set()
        self._lock = threading.Lock()
        self.connected = False
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        wait_for(lambda: self.connected, timeout=10, message=f"{client_id} never connected")

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            with self._lock:
                self.connects += 1
                self.connected = True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected = False

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if all(not rc.is_failure for rc in reason_codes):
            self.subscribed.add(mid)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        result, mid = self.client.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        wait_for(lambda: mid in self.subscribed, message=f"SUBACK for {topic!r} not received")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [bytes(m.payload) for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_clients(mosquitto: MosquittoServer) -> Iterator[list[MqttTestClient]]:
    """Collects clients created by a test and disconnects them afterwards."""
    clients: list[MqttTestClient] = []
    yield clients
    for client in clients:
        client.close()


def test_mqtt_qos1_round_trip(
    mosquitto: MosquittoServer, mqtt_clients: list[MqttTestClient], topic_prefix: str
) -> None:
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    sub = MqttTestClient(mosquitto, f"sub-{topic_prefix}")
    pub = MqttTestClient(mosquitto, f"pub-{topic_prefix}")
    mqtt_clients += [sub, pub]
    topic = f"{topic_prefix}/station/1/temp"
    sub.subscribe(f"{topic_prefix}/#", qos=1)

    payloads = [f"reading-{i}".encode() for i in range(50)]
    for payload in payloads:
        pub.publish(topic, payload, qos=1)

    wait_for(lambda: len(sub.payloads(topic)) == len(payloads), message="QoS 1 messages missing")
    assert sub.payloads(topic) == payloads
    assert all(m.qos == 1 for m in sub.messages)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_retained_message_survives_broker_restart(
    mosquitto: MosquittoServer, mqtt_clients: list[MqttTestClient], topic_prefix: str, how: str
) -> None:
    topic = f"{topic_prefix}/status"
    pub = MqttTestClient(mosquitto, f"pub-{topic_prefix}")
    pub.publish(topic, b"online", qos=1, retain=True)
    pub.close()

    port = mosquitto.port
    if how == "kill":
        mosquitto.flush_persistence()  # a crash only keeps what was saved to disk
        mosquitto.restart(hard=True)
    else:
        mosquitto.restart()  # SIGTERM makes mosquitto save its database
    assert mosquitto.port == port

    sub = MqttTestClient(mosquitto, f"sub-{topic_prefix}")
    mqtt_clients.append(sub)
    sub.subscribe(topic, qos=1)
    wait_for(lambda: sub.payloads(topic) == [b"online"], message="retained message lost")
    assert sub.messages[0].retain


def test_persistent_session_reconnects_and_gets_queued_messages(
    mosquitto: MosquittoServer, mqtt_clients: list[MqttTestClient], topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/queued"
    sub = MqttTestClient(mosquitto, f"sub-{topic_prefix}", clean_session=False)
    mqtt_clients.append(sub)
    sub.subscribe(topic, qos=1)

    mosquitto.restart()  # same port: paho's loop thread reconnects on its own
    wait_for(lambda: sub.connects >= 2, message="subscriber did not reconnect after restart")

    pub = MqttTestClient(mosquitto, f"pub-{topic_prefix}")
    mqtt_clients.append(pub)
    pub.publish(topic, b"after-restart", qos=1)
    wait_for(
        lambda: sub.payloads(topic) == [b"after-restart"],
        message="session subscription did not survive the restart",
    )


def test_broker_log_is_written(mosquitto: MosquittoServer) -> None:
    assert "mosquitto version" in mosquitto.log_text()


def test_influx_write_then_query(influxdb: InfluxServer, influx_db: str) -> None:
    assert influx_db.startswith("t_") and "/" not in influx_db
    response = influxdb.client.post(
        "/write",
        params={"db": influx_db, "precision": "ms"},
        content=b"climate,station=ws-001 temp_c=21.5,occupancy=3i 1700000000123",
    )
    assert response.status_code == 204, response.text

    body = influxdb.query(
        "SELECT temp_c, occupancy FROM climate WHERE station = 'ws-001'", influx_db
    )
    series = body["results"][0]["series"][0]
    assert series["columns"] == ["time", "temp_c", "occupancy"]
    assert series["values"] == [[1700000000123, 21.5, 3]]


def test_influx_databases_are_isolated(influxdb: InfluxServer, influx_db: str) -> None:
    names = {row["name"] for row in influxdb.rows("SHOW DATABASES")}
    assert influx_db in names
    assert influxdb.rows("SELECT * FROM climate", influx_db) == []


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_influx_restart_keeps_data(influxdb: InfluxServer, influx_db: str, how: str) -> None:
    influxdb.write(
        influx_db,
        [f"climate,station=ws-{i:03d} temp_c={20 + i / 10} {1700000000000 + i}" for i in range(10)],
    )
    port = influxdb.port
    influxdb.restart(hard=(how == "kill"))  # a crash is recovered from the WAL
    assert influxdb.port == port

    rows = influxdb.rows("SELECT count(temp_c) FROM climate", influx_db)
    assert rows == [{"time": 0, "count": 10}]
    rows = influxdb.rows("SELECT temp_c FROM climate WHERE station = 'ws-007'", influx_db)
    assert rows == [{"time": 1700000000007, "temp_c": 20.7}]
