"""InfluxDB refuses one poisoned point inside a batch (HTTP 400): the rest of the batch
lands, the poisoned point is dead-lettered as `store_rejected`.

How to poison a real InfluxDB 1.6.7: a field type conflict. Field types are fixed per
measurement (and shard), so `fault_code` is first written as an integer; a water
heater that then reports a fault code (a string, as the contract says) makes 1.x answer
400 "partial write: field type conflict" for the whole request. The other heaters
report no fault code, so only the poisoned device's points conflict.
"""

from pathlib import Path
from typing import Any

import pytest
from steady import (
    Device,
    SteadyPublisher,
    check_exactly_once,
    devices_of,
    publishing,
    running_collector,
    stored_points,
)

from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, wait_for
from warmnet import topics
from warmnet.registry import load_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FLEET = load_fleet()
RATE = 300
STATIONS = ["wmq-10", "wmq-12", "wmq-19"]
POISONED = ("wmq-10", "heater-1")


def poison(dev: Device, _seq: int, body: dict[str, Any]) -> dict[str, Any]:
    if (dev.station, dev.device) == POISONED:
        return {**body, "fault_code": "E_DRY"}
    return body


def test_a_point_the_store_refuses_is_dead_lettered_and_its_batch_lands(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    station = FLEET.station(POISONED[0])
    assert station is not None
    devices = devices_of(FLEET, STATIONS)
    assert POISONED in {(d.station, d.device) for d in devices}
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=f"faults-poison-{unique_id}",
        metrics_port=0,
    )
    publisher = SteadyPublisher(
        mosquitto.host,
        mosquitto.port,
        f"faults-poison-pub-{unique_id}",
        devices,
        RATE,
        decorate=poison,
    )
    # fault_code becomes an integer field of water_heater in the shard of "now".
    influxdb.write(
        influx_db,
        f"water_heater,area={station.area},device=probe,station={POISONED[0]} "
        f"fault_code=1i {publisher.base_ts - 1}",
    )
    with running_collector(settings, FLEET) as collector, publishing(publisher):
        metrics = collector.metrics
        publisher.wait_sent(5 * RATE)
        publisher.stop()
        publisher.wait_acked(timeout=30)
        poisoned = {(s.station, s.device, s.ts, s.seq) for s in publisher.decorated}
        expected = publisher.expected() - poisoned
        wait_for(
            lambda: (
                metrics.get("rejected") >= len(poisoned) and metrics.get("stored") >= len(expected)
            ),
            timeout=20,
            message=lambda: f"collector behind: {metrics.snapshot()}, {len(poisoned)} poisoned",
        )
        print(
            f"\n[store rejected] poisoned={len(poisoned)} batches={metrics.get('batches')} "
            f"write_errors={metrics.get('write_errors')}"
        )
        check_exactly_once(
            "store rejected",
            expected,
            stored_points(influxdb, influx_db),
            collector_stored=metrics.get("stored"),
            rejected=metrics.get("rejected"),
        )
        assert len(poisoned) >= 10
        assert metrics.rejected() == {"store_rejected": len(poisoned)}
        assert collector.deadletters.counts() == {"store_rejected": len(poisoned)}
        letters = collector.deadletters.recent(limit=10_000)
        assert {d.topic for d in letters} == {topics.telemetry(*POISONED)}
        assert all("field type conflict" in d.detail for d in letters), letters[0].detail
        assert collector.pipeline.spill_batches == 0  # a 400 is not an outage
        assert metrics.get("spilled_batches") == 0


class RawMessageLostError(AssertionError):
    """A dead letter does not keep the message as it was received."""


def test_a_refused_point_replayed_from_the_spill_is_dead_lettered_as_received(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    station = FLEET.station(POISONED[0])
    assert station is not None
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=f"faults-poison-spill-{unique_id}",
        metrics_port=0,
    )
    publisher = SteadyPublisher(
        mosquitto.host,
        mosquitto.port,
        f"faults-poison-spill-pub-{unique_id}",
        devices_of(FLEET, STATIONS),
        RATE,
        decorate=poison,
    )
    influxdb.write(
        influx_db,
        f"water_heater,area={station.area},device=probe,station={POISONED[0]} "
        f"fault_code=1i {publisher.base_ts - 1}",
    )
    try:
        with running_collector(settings, FLEET) as collector, publishing(publisher):
            metrics = collector.metrics
            wait_for(lambda: metrics.get("stored") >= RATE, timeout=15, message="no ingest")
            influxdb.stop()
            poisoned_before = len(publisher.decorated)
            publisher.wait_sent(len(publisher.sent) + 2 * RATE)
            assert len(publisher.decorated) > poisoned_before  # poison went into the spill
            assert collector.pipeline.spill_batches > 0
            influxdb.start()
            wait_for(
                lambda: collector.pipeline.spill_batches == 0,
                timeout=30,
                interval=0.1,
                message=lambda: f"spill not drained: {metrics.snapshot()}",
            )
            publisher.stop()
            publisher.wait_acked(timeout=30)
            poisoned = {(s.station, s.device, s.ts, s.seq) for s in publisher.decorated}
            expected = publisher.expected() - poisoned
            wait_for(
                lambda: (
                    metrics.get("rejected") >= len(poisoned)
                    and expected <= stored_points(influxdb, influx_db).keys
                ),
                timeout=30,
                interval=0.5,
                message=lambda: f"collector behind: {metrics.snapshot()}",
            )
            check_exactly_once(
                "store rejected, replayed",
                expected,
                stored_points(influxdb, influx_db),
                collector_stored=metrics.get("stored"),
                rejected=metrics.get("rejected"),
            )
            assert metrics.rejected() == {"store_rejected": len(poisoned)}
            letters = collector.deadletters.recent(limit=10_000)
            assert len(letters) == len(poisoned)
            assert {d.topic for d in letters} == {topics.telemetry(*POISONED)}
            not_raw = [d.payload[:80] for d in letters if not d.payload.startswith(b"{")]
            if not_raw:
                raise RawMessageLostError(
                    f"{len(not_raw)} of {len(letters)} dead letters hold no raw payload, "
                    f"e.g. {not_raw[0]!r}"
                )
    finally:
        influxdb.ensure_started()
