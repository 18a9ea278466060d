"""The API against a real Mosquitto: retained availability summaries reach
`/stations/{id}`, older ones never roll a station back, garbage is counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from api.live import LiveAvailability, MqttAvailabilityFeed
from api.server import serve
from api.settings import ApiSettings
from testbed.services import MosquittoServer, free_port, wait_for
from warmnet import topics
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import DeviceAvailability, KindCounts, StationAvailability, dump_json
from warmnet.registry import Fleet, parse_fleet

pytestmark = pytest.mark.integration


def _fleet_data(station_id: str) -> dict[str, Any]:
    # A station id no other test publishes on the shared broker.
    return {
        "network": "apitest",
        "name_zh": "测试",
        "name_en": "Test",
        "timezone": "Asia/Shanghai",
        "stations": [
            {
                "id": station_id,
                "name_zh": "测试驿站",
                "name_en": "Test station",
                "setting": "park",
                "area": "panmen",
                "lat": 31.29,
                "lon": 120.61,
                "address_zh": "测试路1号",
                "address_en": "1 Test Road",
                "hours": "24h",
                "devices": [{"id": "outlet-01", "kind": "charging_outlet"}],
            }
        ],
    }


def _summary(station_id: str, updated_at: int, status: DeviceStatus) -> StationAvailability:
    counts = KindCounts()
    counts.add(status)
    return StationAvailability(
        station=station_id,
        updated_at=updated_at,
        newest_data_at=updated_at,
        stale=False,
        online=True,
        open_now=True,
        hot_water_ready=False,
        seats_total=0,
        seats_free=None,
        counts={DeviceKind.CHARGING_OUTLET: counts},
        devices=[
            DeviceAvailability(
                device="outlet-01",
                kind=DeviceKind.CHARGING_OUTLET,
                status=status,
                observed_at=updated_at,
            )
        ],
    )


@pytest.fixture
def station_id(unique_id: str) -> str:
    return f"t-{unique_id}"


@pytest.fixture
def fleet(station_id: str) -> Fleet:
    return parse_fleet(_fleet_data(station_id))


@pytest.fixture
def publisher(mosquitto: MosquittoServer, unique_id: str, station_id: str) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"api-test-pub-{unique_id}")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    yield client
    # Clear the retained summary so that it does not outlive the test on the broker.
    client.publish(topics.availability(station_id), b"", qos=1, retain=True).wait_for_publish(10)
    client.disconnect()  # first: wakes the network loop so loop_stop() returns at once
    client.loop_stop()


def _publish(client: mqtt.Client, topic: str, payload: bytes, *, retain: bool = True) -> None:
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)


def test_retained_summary_reaches_api_and_older_never_wins(
    mosquitto: MosquittoServer, publisher: mqtt.Client, fleet: Fleet, station_id: str
) -> None:
    topic = topics.availability(station_id)
    t0 = int(time.time() * 1000)
    # Retained before the API exists: it must arrive on subscribe.
    _publish(publisher, topic, dump_json(_summary(station_id, t0, DeviceStatus.AVAILABLE)))

    settings = ApiSettings(mqtt_url=mosquitto.url)
    live = LiveAvailability()
    feed = MqttAvailabilityFeed(settings, live, fleet=fleet)
    with TestClient(create_app(settings, fleet, live, feed=feed)) as client:

        def outlet() -> dict[str, Any]:
            body: dict[str, Any] = client.get(f"/stations/{station_id}").json()
            return body

        def shows(updated_at: int) -> bool:
            a = outlet()["availability"]
            return a is not None and a["updated_at"] == updated_at

        wait_for(lambda: shows(t0), timeout=10, message=lambda: f"never saw t0: {outlet()}")
        assert outlet()["devices"][0]["status"] == "available"
        wait_for(lambda: client.get("/ready").status_code == 200, timeout=10, message="not ready")

        # Older data, then garbage as a marker: once the garbage is counted, the older
        # summary (same topic, same publisher, so delivered before it) was handled.
        _publish(publisher, topic, dump_json(_summary(station_id, t0 - 1_000, DeviceStatus.IN_USE)))
        _publish(publisher, topic, b"{definitely not json", retain=False)
        wait_for(lambda: feed.invalid.get("malformed_json") == 1, timeout=10, message="no marker")
        assert shows(t0)
        assert outlet()["devices"][0]["status"] == "available"
        assert live.ignored_older == 1

        newer = _summary(station_id, t0 + 1_000, DeviceStatus.OUT_OF_ORDER)
        _publish(publisher, topic, dump_json(newer))
        wait_for(lambda: shows(t0 + 1_000), timeout=10, message=lambda: f"no newer: {outlet()}")
        assert outlet()["devices"][0]["status"] == "out_of_order"
        # Only the marker was invalid (other tests' stations on the shared broker are
        # counted as unknown_station, which is right but not ours to check).
        assert {k: v for k, v in feed.invalid.items() if k != "unknown_station"} == {
            "malformed_json": 1
        }
    assert not feed.connected  # the lifespan stopped it


def test_serve_runs_until_stop_event(
    mosquitto: MosquittoServer,
    publisher: mqtt.Client,
    station_id: str,
    tmp_path: Path,
) -> None:
    registry = tmp_path / "fleet.yaml"
    registry.write_text(yaml.safe_dump(_fleet_data(station_id), allow_unicode=True), "utf-8")
    now = int(time.time() * 1000)
    _publish(
        publisher,
        topics.availability(station_id),
        dump_json(_summary(station_id, now, DeviceStatus.AVAILABLE)),
    )
    settings = ApiSettings(
        mqtt_url=mosquitto.url,
        registry=registry,
        api_port=free_port(),
        alert_db=tmp_path / "alerts.sqlite",
        data_dir=tmp_path,
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve(settings, stop)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run, name="api-serve-test")
    thread.start()
    base = f"http://{settings.api_host}:{settings.api_port}"
    try:
        wait_for(
            lambda: httpx.get(f"{base}/ready", timeout=2).status_code == 200,
            timeout=15,
            message=lambda: f"api never ready (errors: {errors})",
            ignore=(httpx.TransportError,),
        )
        body = httpx.get(f"{base}/stations", timeout=2).json()
        assert [s["id"] for s in body] == [station_id]
        counts = body[0]["availability"]["counts"]["charging_outlet"]
        assert counts["available"] == 1 and sum(counts.values()) == 1
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive(), "serve() did not return after stop_event"
    assert errors == []
