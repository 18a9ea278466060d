"""Horizontal scale: two collectors (shard_count=2) share one broker and one InfluxDB
database. Every message is stored exactly once, none is missed, and each collector
stores only the stations it owns."""

from collections import Counter
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
from collector.sharding import shard_of
from testbed.services import InfluxServer, MosquittoServer, wait_for
from warmnet.registry import load_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FLEET = load_fleet()
RATE = 400
STATIONS = [s.id for s in FLEET.stations[:20]]


def test_two_sharded_collectors_store_each_message_once(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    owner = {s: shard_of(s, 2) for s in STATIONS}
    assert set(owner.values()) == {0, 1}, "the stream must reach both shards"

    def settings(index: int) -> CollectorSettings:
        return CollectorSettings(
            mqtt_url=mosquitto.url,
            influx_url=influxdb.url,
            influx_db=influx_db,
            data_dir=tmp_path / f"shard-{index}",
            client_id=f"faults-shard-{unique_id}",
            shard_count=2,
            shard_index=index,
            metrics_port=0,
        )

    publisher = SteadyPublisher(
        mosquitto.host,
        mosquitto.port,
        f"faults-shard-pub-{unique_id}",
        devices_of(FLEET, STATIONS, per_station=4),
        RATE,
    )
    with (
        running_collector(settings(0), FLEET) as first,
        running_collector(settings(1), FLEET) as second,
        publishing(publisher),
    ):
        collectors = [first, second]
        assert first.settings.session_client_id != second.settings.session_client_id
        publisher.wait_sent(6 * RATE)
        publisher.stop()
        publisher.wait_acked(timeout=30)
        expected = publisher.expected()
        per_shard = Counter(owner[station] for station, _, _, _ in expected)
        wait_for(
            lambda: all(c.metrics.get("stored") >= per_shard[i] for i, c in enumerate(collectors)),
            timeout=20,
            message=lambda: f"stored {[c.metrics.snapshot() for c in collectors]} of {per_shard}",
        )
        stored = [c.metrics.get("stored") for c in collectors]
        print(f"\n[sharding] published per shard={dict(per_shard)} stored per collector={stored}")
        check_exactly_once(
            "sharding",
            expected,
            stored_points(influxdb, influx_db),
            collector_stored=sum(stored),
            rejected=sum(c.metrics.get("rejected") for c in collectors),
        )
        for index, collector in enumerate(collectors):
            owned = {s for s in STATIONS if owner[s] == index}
            assert collector.owned is not None and owned <= set(collector.owned)
            seen = collector.live.known_stations()
            assert seen == owned, f"collector {index} saw {sorted(seen - owned)} it does not own"
            assert collector.metrics.get("rejected") == 0
        assert stored == [per_shard[0], per_shard[1]]
        assert sum(stored) == len(expected)
