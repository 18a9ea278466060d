"""/health and /ready, and the feed's lifespan, with a fake feed (no network)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from api.app import create_app
from api.live import LiveAvailability
from api.settings import ApiSettings
from warmnet.clock import FakeClock
from warmnet.messages import StationAvailability
from warmnet.registry import Fleet

MakeSummary = Callable[..., StationAvailability]


class FakeFeed:
    def __init__(self) -> None:
        self.connected = False
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


def test_health(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_ready_waits_for_connection_and_data(
    settings: ApiSettings,
    fleet: Fleet,
    live: LiveAvailability,
    clock: FakeClock,
    make_summary: MakeSummary,
) -> None:
    feed = FakeFeed()
    with TestClient(create_app(settings, fleet, live, feed=feed, clock=clock)) as client:
        assert feed.calls == ["start"]
        resp = client.get("/ready")
        assert resp.status_code == 503
        assert resp.json() == {
            "status": "not_ready",
            "reason": "mqtt availability feed not connected",
            "stations_live": 0,
        }

        feed.connected = True
        resp = client.get("/ready")
        assert resp.status_code == 503
        assert resp.json()["reason"] == "no availability summary received yet"

        live.update(make_summary("near"))
        resp = client.get("/ready")
        assert resp.status_code == 200
        assert resp.json() == {"status": "ready", "reason": None, "stations_live": 1}

        feed.connected = False  # broker gone: paho reconnects, we are not ready meanwhile
        assert client.get("/ready").status_code == 503
    assert feed.calls == ["start", "stop"]


def test_ready_without_feed_needs_data_only(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary
) -> None:
    assert client.get("/ready").status_code == 503
    live.update(make_summary("far"))
    assert client.get("/ready").status_code == 200


def test_bundled_fleet_lists_all_stations(settings: ApiSettings, clock: FakeClock) -> None:
    from warmnet.registry import load_fleet

    fleet = load_fleet()
    with TestClient(create_app(settings, fleet, LiveAvailability(), clock=clock)) as client:
        rows = client.get("/stations").json()
    assert [r["id"] for r in rows] == [s.id for s in fleet.stations]
    assert len(rows) == 36
