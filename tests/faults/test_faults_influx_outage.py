"""InfluxDB stops mid-stream and comes back: the collector spills to disk meanwhile,
keeps ingesting live, drains the spill afterwards, and loses nothing."""

import itertools
import os
import threading
import time
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
RATE = 300  # messages per second
# The issue asks for 30 s; override (e.g. 10) for a quicker local run.
OUTAGE_S = float(os.environ.get("WARMNET_FAULTS_OUTAGE_S", "30"))
SAMPLE_S = 5.0


def test_influx_outage_spills_keeps_ingesting_and_loses_nothing(
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
        client_id=f"faults-outage-{unique_id}",
    )
    devices = devices_of(FLEET, ["wmq-01", "wmq-03", "wmq-07", "wmq-16"])
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-outage-pub-{unique_id}", devices, RATE
    )
    try:
        with running_collector(settings, FLEET) as collector, publishing(publisher):
            metrics = collector.metrics
            wait_for(lambda: metrics.get("stored") >= RATE, timeout=15, message="no ingest")
            assert metrics.get("spilled_batches") == 0

            influxdb.stop()
            outage_started = time.monotonic()
            wait_for(
                lambda: collector.pipeline.spill_batches > 0,
                timeout=10,
                message=lambda: f"nothing spilled while InfluxDB is down: {metrics.snapshot()}",
            )
            spill_file = tmp_path / "spill.sqlite"
            # Live ingest must not stall: `stored` (which counts spilled batches) keeps
            # rising in every sampling interval of the outage.
            samples = [metrics.get("stored")]
            sampled_from = time.monotonic()
            pause = threading.Event()
            while (left := OUTAGE_S - (time.monotonic() - outage_started)) > 0:
                pause.wait(min(SAMPLE_S, left))  # the outage itself: a deliberate wait
                samples.append(metrics.get("stored"))
            sampled_s = time.monotonic() - sampled_from
            spilled = metrics.get("spilled_batches")
            spill_batches = collector.pipeline.spill_batches
            spill_bytes = spill_file.stat().st_size + _wal_size(spill_file)
            influxdb.start()
            outage_s = time.monotonic() - outage_started
            print(
                f"\n[influx outage] outage={outage_s:.1f}s stored samples={samples} "
                f"spilled_batches={spilled} spill_backlog={spill_batches} "
                f"spill_file_bytes={spill_bytes}"
            )
            assert spilled > 0
            assert spill_batches > 0
            rises = [b - a for a, b in itertools.pairwise(samples)]
            assert rises and all(r > 0 for r in rises), f"ingest stalled: {samples}"
            # At least half the publish rate went through while InfluxDB was down.
            assert samples[-1] - samples[0] >= 0.5 * RATE * sampled_s, samples

            drain_started = time.monotonic()
            wait_for(
                lambda: collector.pipeline.spill_batches == 0,
                timeout=45,
                interval=0.1,
                message=lambda: f"spill not drained: {metrics.snapshot()}",
            )
            drained_s = time.monotonic() - drain_started
            # A little more live traffic after the restart, then stop publishing.
            publisher.wait_sent(len(publisher.sent) + RATE)
            publisher.stop()
            publisher.wait_acked(timeout=30)
            expected = publisher.expected()
            wait_for(
                lambda: expected <= stored_points(influxdb, influx_db).keys,
                timeout=30,
                interval=0.5,
                message="not every published point reached InfluxDB",
            )
            wait_for(lambda: metrics.get("stored") >= len(expected), timeout=10)
            print(
                f"[influx outage] spill drained {drained_s:.1f}s after restart; "
                f"replayed_batches={metrics.get('replayed_batches')} "
                f"write_errors={metrics.get('write_errors')}"
            )
            check_exactly_once(
                "influx outage",
                expected,
                stored_points(influxdb, influx_db),
                collector_stored=metrics.get("stored"),
                rejected=metrics.get("rejected"),
            )
            assert metrics.get("rejected") == 0
            assert collector.pipeline.spill_batches == 0
    finally:
        influxdb.ensure_started()


def _wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0
