"""Self-metrics end to end: a collector on a real Mosquitto and InfluxDB writes its
`collector` measurement to InfluxDB, and /metrics shows the same counts."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from collector.service import Collector
from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, clear_session, wait_for
from warmnet import topics
from warmnet.registry import load_fleet

pytestmark = pytest.mark.integration

FLEET = load_fleet()


def outlet(seq: int, ts: int) -> bytes:
    return json.dumps(
        {
            "ts": ts,
            "seq": seq,
            "state": "charging",
            "power_w": 250.0,
            "voltage_v": 230.0,
            "current_a": 1.087,
            "energy_wh": 10.0 * seq,
            "temp_c": 31.5,
        }
    ).encode()


@pytest.fixture
def publisher(mosquitto: MosquittoServer, unique_id: str) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{unique_id}")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_collector_measurement_and_metrics_endpoint_agree_with_what_was_published(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    client_id = f"col-{unique_id}"
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=client_id,
        metrics_port=0,
        self_metrics_interval_s=0.2,
    )
    collector = Collector(settings, FLEET)
    collector.start()
    try:
        assert collector.metrics_server is not None
        url = collector.metrics_server.url
        now = int(time.time() * 1000)
        topic = topics.telemetry("wmq-03", "outlet-01")
        messages = [(topic, outlet(i, now + i)) for i in range(25)] + [(topic, b"{nope")]
        for info in [publisher.publish(t, p, qos=1) for t, p in messages]:
            info.wait_for_publish(10)

        wait_for(
            lambda: collector.metrics.get("stored") == 25,
            message=lambda: f"metrics: {collector.metrics.snapshot()}",
        )

        def latest() -> dict[str, object] | None:
            rows = influxdb.rows(
                f"SELECT * FROM collector WHERE device = '{client_id}' ORDER BY time DESC LIMIT 1",
                influx_db,
            )
            if not rows:
                return None
            row = rows[0]
            done = (row["received"], row["stored"], row["rejected"]) == (26, 25, 1)
            return row if done else None

        row = wait_for(latest, timeout=10, message="no collector point with all 26 counted")
        assert row["rejected_malformed_json"] == 1
        assert row["station"] == "-"
        assert row["batches"] >= 1
        assert row["queue_backlog"] == 0

        got = scrape(url)
        assert got[("warmnet_collector_messages_received_total", ())] == 26
        assert got[("warmnet_collector_messages_stored_total", ())] == 25
        assert (
            got[("warmnet_collector_messages_rejected_total", (("reason", "malformed_json"),))] == 1
        )
        assert got[("warmnet_collector_batches_total", ())] >= row["batches"]
        assert got[("warmnet_collector_info", (("client_id", client_id),))] == 1
        assert got[("warmnet_collector_spill_backlog_batches", ())] == 0
    finally:
        collector.stop()
        clear_session(mosquitto.host, mosquitto.port, client_id)

    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
