"""/stations, /stations/nearby, /stations/{id}, docs and the web page (no network)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.live import LiveAvailability
from warmnet.clock import FakeClock
from warmnet.messages import StationAvailability

MakeSummary = Callable[..., StationAvailability]

ORIGIN = {"lat": 31.29, "lon": 120.61}  # the test fleet's stations lie due north of it


def _nearby(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    resp = client.get("/stations/nearby", params={**ORIGIN, **params})
    assert resp.status_code == 200, resp.text
    body: list[dict[str, Any]] = resp.json()
    return body


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def _all_live(live: LiveAvailability, make_summary: MakeSummary, **kw: Any) -> None:
    for sid in ("far", "near", "mid", "night"):
        live.update(make_summary(sid, **kw))


def test_list_in_registry_order_without_live_data(client: TestClient) -> None:
    resp = client.get("/stations")
    assert resp.status_code == 200
    rows = resp.json()
    assert _ids(rows) == ["far", "near", "mid", "night"]
    first = rows[0]
    assert first["name_zh"] == "驿站far" and first["name_en"] == "Station far"
    assert first["address_zh"] == "人民路1号" and first["hours"] == "24h"
    assert first["availability"] is None
    # open_now comes from the registry hours even without a live summary.
    assert [r["open_now"] for r in rows] == [True, True, True, False]


def test_list_shows_summary_and_api_side_staleness(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary, clock: FakeClock
) -> None:
    live.update(make_summary("near", outlets_free=2, seats_free=3))
    row = client.get("/stations").json()[1]
    a = row["availability"]
    assert a["counts"]["charging_outlet"] == {
        "available": 2,
        "in_use": 0,
        "out_of_order": 0,
        "offline": 0,
        "unknown": 0,
    }
    assert a["hot_water_ready"] is True and a["seats_free"] == 3 and a["seats_total"] == 10
    assert a["online"] is True and a["open_now"] is True
    assert a["stale"] is False and a["updated_at"] == clock.now_ms() and a["age_s"] == 0

    clock.advance(121)  # the collector went quiet: its last summary grows old
    a = client.get("/stations").json()[1]["availability"]
    assert a["stale"] is True and a["age_s"] == 121


def test_detail_lists_every_registered_device(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary, clock: FakeClock
) -> None:
    live.update(make_summary("mid", outlets_free=1, omit=("microwave-1",)))
    resp = client.get("/stations/mid")
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"] == "mid" and body["availability"]["hot_water_ready"] is True
    devices = {d["id"]: d for d in body["devices"]}
    assert [d["id"] for d in body["devices"]] == [
        "outlet-01",
        "outlet-02",
        "heater-1",
        "microwave-1",
        "occupancy",
    ]
    assert devices["outlet-01"] == {
        "id": "outlet-01",
        "kind": "charging_outlet",
        "status": "available",
        "observed_at": clock.now_ms() - 5_000,
    }
    assert devices["outlet-02"]["status"] == "in_use"
    # Missing from the summary: unknown, never guessed.
    assert devices["microwave-1"] == {
        "id": "microwave-1",
        "kind": "microwave",
        "status": "unknown",
        "observed_at": None,
    }


def test_detail_without_summary_is_all_unknown(client: TestClient) -> None:
    body = client.get("/stations/far").json()
    assert body["availability"] is None
    assert {d["status"] for d in body["devices"]} == {"unknown"}


def test_detail_unknown_station_is_404(client: TestClient) -> None:
    resp = client.get("/stations/wmq-99")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "unknown station 'wmq-99'"}


@pytest.mark.parametrize("bad", ["Near", "a_b", "x" * 33, "near%20x"])
def test_detail_invalid_id_is_422(client: TestClient, bad: str) -> None:
    assert client.get(f"/stations/{bad}").status_code == 422


def test_nearby_orders_by_distance(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary
) -> None:
    _all_live(live, make_summary)
    rows = _nearby(client)
    assert _ids(rows) == ["near", "mid", "far"]  # "night" is closed now
    distances = [r["distance_m"] for r in rows]
    assert all(isinstance(d, int) for d in distances)
    assert 105 < distances[0] < 117 and 1_100 < distances[1] < 1_120
    assert rows[0]["availability"]["online"] is True
    assert _ids(_nearby(client, limit=2)) == ["near", "mid"]
    assert _ids(_nearby(client, max_km=2)) == ["near", "mid"]


@pytest.mark.parametrize(
    ("need", "lacking"),
    [
        ("charging", {"outlets_free": 0}),
        ("hot_water", {"hot_water_ready": False}),
        ("microwave", {"microwaves_free": 0}),
        ("seat", {"seats_free": 0}),
        ("seat", {"seats_free": None}),
    ],
)
def test_nearby_filters_per_need(
    client: TestClient,
    live: LiveAvailability,
    make_summary: MakeSummary,
    need: str,
    lacking: dict[str, Any],
) -> None:
    live.update(make_summary("near", **lacking))
    live.update(make_summary("mid"))
    live.update(make_summary("far", **lacking))
    assert _ids(_nearby(client, need=need)) == ["mid"]
    assert _ids(_nearby(client)) == ["near", "mid", "far"]


def test_nearby_repeated_need_means_all(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary
) -> None:
    live.update(make_summary("near", hot_water_ready=False))
    live.update(make_summary("mid", outlets_free=0))
    live.update(make_summary("far"))
    assert _ids(_nearby(client, need="charging")) == ["near", "far"]
    assert _ids(_nearby(client, need=["charging", "hot_water"])) == ["far"]


@pytest.mark.parametrize(
    "down",
    [
        {"stale": True},  # the collector says so
        {"updated_at": 1_767_225_600_000 - 121_000},  # too old for the API
        {"online": False},  # gateway offline
        {"open_now": False},  # the collector says closed
    ],
)
def test_nearby_excludes_stations_not_usable_now(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary, down: dict[str, Any]
) -> None:
    live.update(make_summary("near", **down))
    live.update(make_summary("mid"))
    # "far" has no summary at all; "night" has a good one but is closed by its hours.
    live.update(make_summary("night"))
    assert _ids(_nearby(client, need="charging")) == ["mid"]


def test_nearby_unknown_gateway_state_is_not_offline(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary
) -> None:
    live.update(make_summary("near", online=None))
    assert _ids(_nearby(client)) == ["near"]


def test_nearby_becomes_stale_as_time_passes(
    client: TestClient, live: LiveAvailability, make_summary: MakeSummary, clock: FakeClock
) -> None:
    live.update(make_summary("near"))
    assert _ids(_nearby(client)) == ["near"]
    clock.advance(120)
    assert _ids(_nearby(client)) == ["near"]  # exactly at the limit: still fresh
    clock.advance(1)
    assert _nearby(client) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lat": 91, "lon": 120}, "less than or equal to 90"),
        ({"lat": 31, "lon": -181}, "greater than or equal to -180"),
        ({"lat": 31, "lon": 120, "need": "wifi"}, "'charging', 'hot_water', 'microwave'"),
        ({"lat": 31, "lon": 120, "limit": 0}, "greater than or equal to 1"),
        ({"lon": 120}, "Field required"),
    ],
)
def test_nearby_validation(client: TestClient, params: dict[str, Any], message: str) -> None:
    resp = client.get("/stations/nearby", params=params)
    assert resp.status_code == 422
    assert message in resp.text


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "warmnet"
    assert {"/stations", "/stations/nearby", "/stations/{station_id}", "/health", "/ready"} <= set(
        spec["paths"]
    )
    fields = spec["components"]["schemas"]["StationNearby"]["properties"]
    assert "description" in fields["distance_m"]


def test_index_page(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "附近驿站" in resp.text and "Nearby stations" in resp.text
    assert "/stations/nearby" in resp.text and "http" not in resp.text.split("<script>")[1]
