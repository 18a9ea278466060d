"""Garbage in the stream: every kind of bad input, 5% of the messages, mixed into a
steady stream of good telemetry. Every good message is stored, every bad one is
dead-lettered with the right reason, and the collector keeps running."""

import json
import threading
import time
from pathlib import Path

import pytest
from steady import (
    Device,
    Garbage,
    SteadyPublisher,
    check_exactly_once,
    devices_of,
    payload,
    publishing,
    running_collector,
    stored_points,
)

from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, wait_for
from warmnet import topics
from warmnet.kinds import DeviceKind
from warmnet.registry import load_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FLEET = load_fleet()
RATE = 300
GARBAGE_EVERY = 20  # 5%
STATIONS = ["wmq-06", "wmq-11", "wmq-17", "wmq-24"]


def garbage() -> list[Garbage]:
    """One of each kind of bad input. Topics match the collector's subscriptions
    (`warm/v1/+/+/telemetry`, `warm/v1/+/gateway/status`) so that it sees them."""
    now = int(time.time() * 1000)
    outlet = Device("wmq-06", "outlet-01", DeviceKind.CHARGING_OUTLET)
    good = payload(outlet, 0, now)
    raw = json.dumps(good).encode()
    topic = topics.telemetry("wmq-06", "outlet-01")
    return [
        Garbage(topic, b'{"ts": 17', "malformed_json"),
        Garbage(topic, b"\xff\xfe not utf-8", "malformed_json"),
        Garbage(topic, b"", "malformed_json"),
        Garbage(topic, json.dumps({**good, "state": "exploded"}).encode(), "schema"),
        Garbage(topic, json.dumps({**good, "colour": "red"}).encode(), "schema"),
        Garbage(
            topic, json.dumps({k: v for k, v in good.items() if k != "seq"}).encode(), "schema"
        ),
        Garbage(topic, b"[]", "schema"),
        Garbage(topics.telemetry("wmq-99", "outlet-01"), raw, "unknown_station"),
        Garbage(topics.telemetry("wmq-06", "outlet-99"), raw, "unknown_device"),
        # A microwave payload on an outlet: validated against the registered kind.
        Garbage(
            topic,
            json.dumps(payload(Device("x", "y", DeviceKind.MICROWAVE), 0, now)).encode(),
            "schema",
        ),
        Garbage(topic, json.dumps({**good, "temp_c": 900.0}).encode(), "out_of_range"),
        Garbage(topic, json.dumps({**good, "voltage_v": -1.0}).encode(), "out_of_range"),
        Garbage(topic, raw.replace(b'"power_w": 0.0', b'"power_w": NaN'), "out_of_range"),
        Garbage(topic, json.dumps({**good, "pad": "x" * 4200}).encode(), "oversized"),
        Garbage("warm/v1/WMQ-06/outlet-01/telemetry", raw, "bad_topic"),
        Garbage(f"warm/v1/wmq-06/{'o' * 33}/telemetry", raw, "bad_topic"),
        Garbage("warm/v1/wmq-06/gateway/telemetry", raw, "bad_topic"),
        Garbage(
            topics.gateway_status("wmq-06"),
            json.dumps({"state": "asleep", "session": 1, "ts": now}).encode(),
            "schema",
        ),
    ]


def test_garbage_is_dead_lettered_with_its_reason_and_good_data_is_stored(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    bad = garbage()
    assert b'"power_w": NaN' in bad[12].payload  # the NaN case really has a NaN
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=f"faults-garbage-{unique_id}",
        metrics_port=0,
    )
    publisher = SteadyPublisher(
        mosquitto.host,
        mosquitto.port,
        f"faults-garbage-pub-{unique_id}",
        devices_of(FLEET, STATIONS),
        RATE,
        garbage=bad,
        garbage_every=GARBAGE_EVERY,
    )
    with running_collector(settings, FLEET) as collector, publishing(publisher):
        metrics = collector.metrics
        # Every kind of garbage at least three times.
        publisher.wait_sent(3 * len(bad) * GARBAGE_EVERY)
        publisher.stop()
        publisher.wait_acked(timeout=30)
        expected = publisher.expected()
        want = dict(publisher.garbage_sent)
        wait_for(
            lambda: (
                metrics.get("rejected") >= sum(want.values())
                and metrics.get("stored") >= len(expected)
            ),
            timeout=20,
            message=lambda: f"collector behind: {metrics.snapshot()} want {want}",
        )
        print(f"\n[garbage] dead letters by reason: {want}")
        check_exactly_once(
            "garbage",
            expected,
            stored_points(influxdb, influx_db),
            collector_stored=metrics.get("stored"),
            rejected=metrics.get("rejected"),
        )
        assert metrics.rejected() == want
        assert collector.deadletters.counts() == want
        letters = collector.deadletters.recent(limit=10_000)
        assert len(letters) == sum(want.values())
        for g in bad:
            kept = [d for d in letters if d.topic == g.topic and d.payload == g.payload[:1024]]
            assert kept, f"no dead letter for {g.reason} on {g.topic}"
            assert {d.reason for d in kept} == {g.reason}, (g, {d.reason for d in kept})
        # The process never died: its threads run and it still ingests.
        names = {t.name for t in threading.enumerate() if t.is_alive()}
        assert {"collector-pipeline", "collector-replay"} <= names
        # Nothing invalid was stored as data.
        assert not influxdb.rows(
            "SELECT * FROM charging_outlet WHERE temp_c > 200 OR voltage_v < 0", influx_db
        )


class WrongReasonError(AssertionError):
    """A bad message was dead-lettered, but with the wrong reason."""


def test_seq_beyond_int64_is_rejected_at_ingest_as_out_of_range(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    outlet = Device("wmq-06", "outlet-02", DeviceKind.CHARGING_OUTLET)
    huge = json.dumps(payload(outlet, 2**64, int(time.time() * 1000))).encode()
    bad = [Garbage(topics.telemetry("wmq-06", "outlet-02"), huge, "out_of_range")]
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=f"faults-seq-{unique_id}",
        metrics_port=0,
    )
    publisher = SteadyPublisher(
        mosquitto.host,
        mosquitto.port,
        f"faults-seq-pub-{unique_id}",
        devices_of(FLEET, STATIONS[:2]),
        RATE,
        garbage=bad,
        garbage_every=GARBAGE_EVERY,
    )
    with running_collector(settings, FLEET) as collector, publishing(publisher):
        metrics = collector.metrics
        publisher.wait_sent(2 * RATE)
        publisher.stop()
        publisher.wait_acked(timeout=30)
        expected = publisher.expected()
        want = dict(publisher.garbage_sent)
        wait_for(
            lambda: (
                metrics.get("rejected") >= sum(want.values())
                and metrics.get("stored") >= len(expected)
            ),
            timeout=20,
            message=lambda: f"collector behind: {metrics.snapshot()} want {want}",
        )
        check_exactly_once(
            "seq beyond int64",
            expected,
            stored_points(influxdb, influx_db),
            collector_stored=metrics.get("stored"),
            rejected=metrics.get("rejected"),
        )
        if metrics.rejected() != want:
            raise WrongReasonError(f"dead-lettered as {metrics.rejected()}, want {want}")
