"""The collector against a real Mosquitto and a real InfluxDB 1.6.7."""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.service import Collector, CollectorFailedError, supervise
from collector.settings import CollectorSettings
from collector.stores.sqlite import SqliteStore
from testbed.services import InfluxServer, MosquittoServer, clear_session, wait_for
from warmnet import topics
from warmnet.registry import Fleet, load_fleet

pytestmark = pytest.mark.integration

FLEET = load_fleet()
NOW_MS = int(time.time() * 1000)


def outlet(seq: int, ts: int, state: str = "charging", power_w: float = 250.0) -> dict[str, object]:
    return {
        "ts": ts,
        "seq": seq,
        "state": state,
        "power_w": power_w,
        "voltage_v": 230.0,
        "current_a": round(power_w / 230, 3),
        "energy_wh": 10.0 * seq,
        "temp_c": 31.5,
    }


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-pub")
    client.max_inflight_messages_set(1000)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def start_collector(settings: CollectorSettings, fleet: Fleet = FLEET) -> Collector:
    collector = Collector(settings, fleet)
    collector.start()
    return collector


def publish_all(client: mqtt.Client, msgs: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(t, p, qos=1) for t, p in msgs]
    for info in infos:
        info.wait_for_publish(10)


def test_valid_points_land_in_influx_and_garbage_is_dead_lettered(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=f"col-{unique_id}",
    )
    collector = start_collector(settings)
    try:
        topic = topics.telemetry("wmq-01", "outlet-01")
        good = [(topic, json.dumps(outlet(i, NOW_MS + i * 1000)).encode()) for i in range(20)]
        bad = [
            (topic, b"{not json"),
            (topics.telemetry("wmq-01", "outlet-99"), good[0][1]),  # unknown device
            (topic, json.dumps({**outlet(99, NOW_MS), "temp_c": 900}).encode()),
        ]
        publish_all(publisher, good[:10] + bad + good[10:])
        wait_for(
            lambda: collector.metrics.get("stored") == 20,
            timeout=10,
            message=lambda: f"stored {collector.metrics.snapshot()}",
        )
        wait_for(lambda: collector.metrics.get("rejected") == 3, timeout=5)
        rows = influxdb.rows(
            "SELECT seq, power_w, state FROM charging_outlet WHERE station='wmq-01'", influx_db
        )
        assert [r["seq"] for r in rows] == list(range(20))
        assert {r["state"] for r in rows} == {"charging"}
        assert collector.metrics.rejected() == {
            "malformed_json": 1,
            "unknown_device": 1,
            "out_of_range": 1,
        }
        assert collector.deadletters.counts() == collector.metrics.rejected()
    finally:
        collector.stop()
        clear_session(mosquitto.host, mosquitto.port, settings.session_client_id)


def test_sqlite_store_and_retained_availability(
    mosquitto: MosquittoServer,
    tmp_path: Path,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        data_dir=tmp_path,
        client_id=f"col-{unique_id}",
        availability_interval_s=0.1,
    )
    collector = start_collector(settings)
    try:
        topic = topics.telemetry("wmq-02", "outlet-01")
        # Newer first, then an older one: live state must keep the newer.
        publish_all(
            publisher,
            [
                (topic, json.dumps(outlet(1, NOW_MS + 5000, state="charging")).encode()),
                (topic, json.dumps(outlet(0, NOW_MS, state="idle")).encode()),
            ],
        )
        wait_for(lambda: collector.metrics.get("stored") == 2, timeout=10)
    finally:
        collector.stop()
        clear_session(mosquitto.host, mosquitto.port, settings.session_client_id)
    store = SqliteStore(tmp_path / "timeseries.sqlite")
    assert [p["seq"] for p in store.select("charging_outlet", "wmq-02", "outlet-01")] == [0, 1]
    store.close()

    got: list[dict[str, object]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{unique_id}")
    sub.on_message = lambda _c, _u, m: got.append(json.loads(m.payload))
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe(topics.availability("wmq-02"), 1)
    sub.loop_start()
    try:
        wait_for(lambda: got, timeout=5, message="no retained availability for wmq-02")
    finally:
        sub.loop_stop()
        sub.disconnect()
    devices = {d["device"]: d for d in got[-1]["devices"]}  # type: ignore[attr-defined]
    assert devices["outlet-01"]["status"] == "in_use"
    assert devices["outlet-01"]["observed_at"] == NOW_MS + 5000
    assert devices["outlet-02"]["status"] == "unknown"


def test_a_collector_whose_pipeline_dies_stops_and_loses_nothing(
    mosquitto: MosquittoServer,
    tmp_path: Path,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    settings = CollectorSettings(
        mqtt_url=mosquitto.url, data_dir=tmp_path, client_id=f"col-{unique_id}"
    )
    topic = topics.telemetry("wmq-02", "outlet-01")
    collector = start_collector(settings)

    def a_bug(points: object) -> None:  # not a store outage: nothing expects it
        raise RuntimeError("a bug while writing")

    collector.store.write = a_bug  # type: ignore[method-assign]
    stop = threading.Event()
    failed: list[BaseException] = []

    def supervised() -> None:
        try:
            supervise(collector, stop, every_s=0.05)
        except CollectorFailedError as exc:
            failed.append(exc)

    watcher = threading.Thread(target=supervised, daemon=True)
    watcher.start()
    try:
        publish_all(publisher, [(topic, json.dumps(outlet(1, NOW_MS)).encode())])
        wait_for(lambda: bool(failed), timeout=15, message="the collector kept running")
        assert not collector.ingesting
        # Not acknowledged: the next collector (same session) gets it and stores it.
        collector = start_collector(settings)
        wait_for(lambda: collector.metrics.get("stored") == 1, timeout=15)
    finally:
        stop.set()
        watcher.join(15)
        collector.stop()
        clear_session(mosquitto.host, mosquitto.port, settings.session_client_id)
