"""Mosquitto restarts mid-stream: the publisher (a persistent session that re-sends
what was not PUBACKed, like a gateway's outbox) and the collector reconnect by
themselves, and nothing published is lost."""

from pathlib import Path

import pytest
from steady import (
    SteadyPublisher,
    check_exactly_once,
    devices_of,
    publishing,
    running_collector,
    stored_points,
)

from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, wait_for
from warmnet.registry import load_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FLEET = load_fleet()
RATE = 300


def test_broker_restart_mid_stream_loses_nothing(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        metrics_port=0,
        client_id=f"faults-broker-{unique_id}",
    )
    devices = devices_of(FLEET, ["wmq-05", "wmq-09", "wmq-14", "wmq-25"])
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-broker-pub-{unique_id}", devices, RATE
    )
    try:
        with running_collector(settings, FLEET) as collector, publishing(publisher):
            metrics = collector.metrics
            wait_for(lambda: metrics.get("stored") >= RATE, timeout=15, message="no ingest")
            subscribed_before = collector.subscribed.is_set()
            collector.subscribed.clear()
            mosquitto.restart()  # SIGTERM (persistence saved), start on the same port
            restarted_at = len(publisher.sent)
            wait_for(
                lambda: publisher.connected.is_set() and collector.subscribed.is_set(),
                timeout=30,
                interval=0.05,
                message="publisher or collector did not reconnect",
            )
            publisher.wait_sent(len(publisher.sent) + 2 * RATE)
            publisher.stop()
            publisher.wait_acked(timeout=30)
            expected = publisher.expected()
            wait_for(
                lambda: expected <= stored_points(influxdb, influx_db).keys,
                timeout=30,
                interval=0.5,
                message=lambda: f"not every point reached InfluxDB: {metrics.snapshot()}",
            )
            print(f"\n[broker restart] restarted after {restarted_at} published")
            check_exactly_once(
                "broker restart",
                expected,
                stored_points(influxdb, influx_db),
                collector_stored=metrics.get("stored"),
                rejected=metrics.get("rejected"),
            )
            assert subscribed_before
            assert metrics.get("rejected") == 0
    finally:
        mosquitto.ensure_started()
