"""The walking skeleton end to end: simulated stations → MQTT → collector → store,
live availability → API. Run twice: on real mosquitto + InfluxDB 1.6.7, and on the
embedded defaults (amqtt broker in-process + SQLite), as `warmnet demo` runs."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from api.live import LiveAvailability, MqttAvailabilityFeed
from api.settings import ApiSettings
from broker import run_amqtt
from collector.service import Collector
from collector.settings import CollectorSettings
from collector.stores.sqlite import SqliteStore
from simulators.runner import run
from simulators.sink import MqttSink, ReadingSink
from testbed.services import InfluxServer, MosquittoServer, clear_session, free_port, wait_for
from warmnet import topics
from warmnet.clock import SimulatedClock
from warmnet.registry import load_fleet

pytestmark = pytest.mark.integration

FLEET = load_fleet()
STATIONS = ["wmq-01", "wmq-05", "wmq-09", "wmq-14"]
SIMULATED_S = 240  # four simulated minutes...
SPEED = 40  # ...in six seconds
KINDS = ["charging_outlet", "water_heater", "microwave", "occupancy_sensor"]


@dataclass
class Stack:
    mqtt_url: str
    influx: InfluxServer | None
    influx_db: str | None


@pytest.fixture(params=["mosquitto+influxdb", "embedded"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    if request.param == "embedded":
        port, stop = free_port(), threading.Event()
        broker = threading.Thread(target=run_amqtt, args=("127.0.0.1", port, stop), daemon=True)
        broker.start()
        wait_for(lambda: _accepts(port), timeout=15, message="amqtt did not start")
        yield Stack(f"mqtt://127.0.0.1:{port}", None, None)
        stop.set()
        broker.join(10)
    else:
        mosquitto: MosquittoServer = request.getfixturevalue("mosquitto")
        influx: InfluxServer = request.getfixturevalue("influxdb")
        yield Stack(mosquitto.url, influx, request.getfixturevalue("influx_db"))


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def expected_status(kind: str, payload: dict[str, Any], target_c: float | None) -> str:
    """What a rider should see for a device whose newest reading is `payload` (the
    rules of DESIGN.md, restated independently of the collector's code)."""
    if kind == "charging_outlet":
        return {"idle": "available", "charging": "in_use", "fault": "out_of_order"}[
            payload["state"]
        ]
    if kind == "microwave":
        return {"idle": "available", "fault": "out_of_order"}.get(payload["state"], "in_use")
    if kind == "water_heater":
        if payload.get("fault_code"):
            return "out_of_order"
        hot = payload["water_temp_c"] >= payload["target_temp_c"] - 5
        return "available" if hot and payload["level_pct"] >= 10 else "in_use"
    return "available"


def stored_points(stack: Stack, tmp_path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every stored point keyed by (station, device, ts), fields only."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for kind in KINDS:
        if stack.influx is not None:
            assert stack.influx_db is not None
            rows = stack.influx.rows(f'SELECT * FROM "{kind}"', stack.influx_db)
            for r in rows:
                key = (r.pop("station"), r.pop("device"), r.pop("time"))
                r.pop("area")
                out[key] = {k: v for k, v in r.items() if v is not None}
        else:
            store = SqliteStore(tmp_path / "collector" / "timeseries.sqlite")
            for r in store.select(kind):
                out[(r.pop("station"), r.pop("device"), r.pop("ts"))] = r
            store.close()
    return out


def test_simulated_stations_end_to_end(stack: Stack, tmp_path: Path, unique_id: str) -> None:
    collector = Collector(
        CollectorSettings(
            mqtt_url=stack.mqtt_url,
            influx_url=stack.influx.url if stack.influx else None,
            influx_db=stack.influx_db or "warmnet",
            data_dir=tmp_path / "collector",
            client_id=f"e2e-{unique_id}",
            availability_interval_s=0.2,
        ),
        FLEET,
    )
    collector.start()
    api_settings = ApiSettings(mqtt_url=stack.mqtt_url, api_client_id=f"e2e-api-{unique_id}")
    live = LiveAvailability()
    app = create_app(api_settings, FLEET, live, feed=MqttAvailabilityFeed(api_settings, live))

    sinks: list[MqttSink] = []

    class KeptOpen:
        """The runner closes its sink at the end, which stops the stations' gateways;
        keep them online until the test has compared live state."""

        def __init__(self, sink: MqttSink) -> None:
            self.sink = sink

        def submit(self, reading: Any) -> None:
            self.sink.submit(reading)

        def close(self) -> None:
            pass

    def factory(station_ids: Any) -> ReadingSink:
        sink = MqttSink(stack.mqtt_url, station_ids, record=True)
        sink.start()
        sinks.append(sink)
        return KeptOpen(sink)

    clock = SimulatedClock(speed=SPEED)
    sim = threading.Thread(
        target=run,
        args=(FLEET, STATIONS, factory, clock),
        kwargs={"seed": 11, "duration_s": SIMULATED_S},
    )
    garbage = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-bad-{unique_id}")
    try:
        with TestClient(app) as api:
            sim.start()
            # In the middle of the stream: three bad messages next to good ones.
            wait_for(lambda: sinks and sinks[0].sent > 300, timeout=30, message="sim too slow")
            host, port = stack.mqtt_url.removeprefix("mqtt://").split(":")
            garbage.connect(host, int(port))
            garbage.loop_start()
            reading = {"ts": clock.now_ms(), "seq": 0, "occupied": 1, "capacity": 4}
            good = json.dumps(reading).encode()
            negative = json.dumps({**reading, "occupied": -1}).encode()
            for topic, raw in [
                (topics.telemetry("wmq-01", "outlet-01"), b'{"ts": 17'),
                (topics.telemetry("wmq-01", "outlet-99"), good),
                (topics.telemetry("wmq-05", "occupancy"), negative),
            ]:
                garbage.publish(topic, raw, qos=1).wait_for_publish(10)
            sim.join(60)
            assert not sim.is_alive()
            sink = sinks[0]
            published = {
                (p.topic.split("/")[2], p.topic.split("/")[3], p.payload["ts"]): p.payload
                for p in sink.published
                if p.topic.endswith("/telemetry")
            }
            wait_for(lambda: sink.acknowledged == sink.sent, timeout=15, message="unacked")
            wait_for(
                lambda: collector.metrics.get("stored") >= len(published),
                timeout=30,
                message=lambda: f"stored {collector.metrics.snapshot()} of {len(published)}",
            )
            # (Retained statuses of other tests' throwaway stations on the shared broker
            # count as unknown_station: right, but not ours to check.)
            rejected = collector.metrics.rejected()
            rejected.pop("unknown_station", None)
            assert rejected == {"malformed_json": 1, "unknown_device": 1, "out_of_range": 1}

            # The API shows every device's newest simulated state.
            newest: dict[tuple[str, str], dict[str, Any]] = {}
            for (station_id, device, ts), payload in published.items():
                if ts >= newest.get((station_id, device), {"ts": -1})["ts"]:
                    newest[(station_id, device)] = payload

            def api_matches() -> bool:
                for sid in STATIONS:
                    body = api.get(f"/stations/{sid}").json()
                    for d in body["devices"]:
                        p = newest[(sid, d["id"])]
                        if d["observed_at"] != p["ts"]:
                            return False
                return True

            wait_for(api_matches, timeout=15, message="API never caught up with the newest data")
            listing = {s["id"]: s for s in api.get("/stations").json()}
            for sid in STATIONS:
                station = FLEET.station(sid)
                assert station is not None
                body = api.get(f"/stations/{sid}").json()
                for d in body["devices"]:
                    spec = next(x for x in station.devices if x.id == d["id"])
                    p = newest[(sid, d["id"])]
                    assert d["status"] == expected_status(d["kind"], p, spec.target_temp_c), d
                outlets = [p for (s, dev), p in newest.items() if s == sid and "voltage_v" in p]
                summary = listing[sid]["availability"]
                assert summary["counts"]["charging_outlet"]["available"] == sum(
                    p["state"] == "idle" for p in outlets
                )
                occ = newest[(sid, "occupancy")]
                assert summary["seats_free"] == max(0, occ["capacity"] - occ["occupied"])
                assert summary["online"] is True

            # A gateway that stops cleanly takes its devices offline (never "unknown").
            sink.close()

            def all_offline() -> bool:
                for sid in STATIONS:
                    body = api.get(f"/stations/{sid}").json()
                    if body["availability"]["online"] is not False:
                        return False
                    if {d["status"] for d in body["devices"]} != {"offline"}:
                        return False
                return True

            wait_for(all_offline, timeout=15, message="stopped gateways not shown offline")
    finally:
        for s in sinks:
            s.close()
        collector.stop()
        # Leave the shared broker as we found it: no retained state of these stations.
        if garbage.is_connected():
            for sid in STATIONS:
                for topic in (topics.gateway_status(sid), topics.availability(sid)):
                    garbage.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        garbage.loop_stop()
        garbage.disconnect()
        # Nor a persistent session that would queue every later test's traffic.
        host, port = stack.mqtt_url.removeprefix("mqtt://").split(":")
        clear_session(host, int(port), collector.settings.session_client_id)

    # Every published message is stored once, with the values that were published.
    points = stored_points(stack, tmp_path)
    assert len(points) == len(published)
    for key, payload in published.items():
        expected = {k: v for k, v in payload.items() if k != "ts" and v is not None}
        expected.setdefault("historical", False)
        assert points[key] == expected, key
