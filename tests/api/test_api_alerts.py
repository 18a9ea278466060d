"""/alerts: list and filters, detail with history and recent telemetry, the crew
workflow (ack -> assign -> resolve) and invalid transitions."""

from __future__ import annotations

from pathlib import Path

from crew_support import CREW, OPERATOR, Fire
from fastapi.testclient import TestClient

from alertstore import AlertStore
from api.app import create_app
from api.live import LiveAvailability
from api.settings import ApiSettings
from collector.ingest.points import Point
from collector.stores.sqlite import SqliteStore
from warmnet.clock import FakeClock
from warmnet.registry import Fleet


def test_ack_assign_resolve_flow_with_history(
    crew_client: TestClient, fire: Fire, clock: FakeClock, alert_store: AlertStore
) -> None:
    alert_id = fire()
    t0 = clock.now_ms()
    clock.advance(30)
    resp = crew_client.post(f"/alerts/{alert_id}/ack", json={"note": "on my way"}, headers=CREW)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "alice"
    assert body["acknowledged_at"] == t0 + 30_000

    resp = crew_client.post(f"/alerts/{alert_id}/assign", json={"assignee": "bob"}, headers=CREW)
    assert resp.status_code == 200 and resp.json()["assignee"] == "bob"

    clock.advance(600)
    resp = crew_client.post(
        f"/alerts/{alert_id}/resolve", json={"note": "socket replaced"}, headers=OPERATOR
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "resolved" and body["resolved_by"] == "olga"
    assert body["resolve_note"] == "socket replaced" and body["resolved_at"] == t0 + 630_000

    detail = crew_client.get(f"/alerts/{alert_id}", headers=CREW).json()
    assert [(h["action"], h["who"], h["status"], h["note"]) for h in detail["history"]] == [
        ("fire", "system", "firing", None),
        ("acknowledge", "alice", "acknowledged", "on my way"),
        ("assign", "alice", "acknowledged", None),
        ("resolve", "olga", "resolved", "socket replaced"),
    ]
    assert detail["history"][2]["detail"] == "assigned to bob"
    # The collector will learn of the resolve.
    assert [m.action for m in alert_store.pending_manual(0)] == ["acknowledge", "resolve"]


def test_invalid_transitions_are_409_with_a_clear_body(crew_client: TestClient, fire: Fire) -> None:
    alert_id = fire()
    crew_client.post(f"/alerts/{alert_id}/ack", headers=CREW)  # no body: fine
    again = crew_client.post(f"/alerts/{alert_id}/ack", headers=CREW)
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"alert {alert_id!r} is already acknowledged by alice at 2026-01-01T00:00:00Z",
        "status": "acknowledged",
    }
    crew_client.post(f"/alerts/{alert_id}/resolve", json={"note": "done"}, headers=CREW)
    for action, body in (
        ("resolve", {"note": "again"}),
        ("ack", {}),
        ("assign", {"assignee": "x"}),
    ):
        resp = crew_client.post(f"/alerts/{alert_id}/{action}", json=body, headers=CREW)
        assert resp.status_code == 409, action
        assert resp.json()["status"] == "resolved"
        assert "it was resolved by alice" in resp.json()["detail"]


def test_resolve_needs_a_note(crew_client: TestClient, fire: Fire) -> None:
    alert_id = fire()
    for body in ({}, {"note": ""}, {"note": "   "}, {"note": "x" * 1001}):
        resp = crew_client.post(f"/alerts/{alert_id}/resolve", json=body, headers=CREW)
        assert resp.status_code == 422, body
    assert crew_client.get(f"/alerts/{alert_id}", headers=CREW).json()["status"] == "firing"


def test_unknown_alert_is_404(crew_client: TestClient) -> None:
    resp = crew_client.get("/alerts/nope:near/outlet-01@1", headers=CREW)
    assert resp.status_code == 404 and resp.json() == {"detail": "no alert 'nope:near/outlet-01@1'"}
    resp = crew_client.post("/alerts/nope:near/*@1/ack", headers=CREW)
    assert resp.status_code == 404 and resp.json() == {"detail": "no alert 'nope:near/*@1'"}


def test_list_filters(crew_client: TestClient, fire: Fire, clock: FakeClock) -> None:
    a = fire()
    clock.advance(10)
    b = fire("heater-water-low", "mid", "heater-1", "warning")
    clock.advance(10)
    c = fire("station-offline", "far", None, "major")
    crew_client.post(f"/alerts/{b}/ack", headers=CREW)

    def ids(**params: object) -> list[str]:
        resp = crew_client.get("/alerts", params=params, headers=CREW)
        assert resp.status_code == 200, resp.text
        return [x["id"] for x in resp.json()]

    assert ids() == [b, c, a]  # most recently changed first (b was just acknowledged)
    assert ids(status="firing") == [c, a]
    assert ids(status=["firing", "acknowledged"], severity="warning") == [b]
    assert ids(severity=["critical", "major"]) == [c, a]
    assert ids(station="far") == [c]
    assert ids(since=clock.now_ms() - 10_000) == [b, c]
    assert ids(limit=1, offset=1) == [c]
    row = crew_client.get("/alerts", params={"station": "far"}, headers=CREW).json()[0]
    assert row["device"] is None and row["title_en"] == "station-offline en"
    for bad in ({"status": "open"}, {"severity": "urgent"}, {"station": "Far"}, {"limit": 0}):
        assert crew_client.get("/alerts", params=bad, headers=CREW).status_code == 422


def _write_timeseries(path: Path, t: int) -> None:
    """Points as the collector writes them, with its own SQLite store."""
    store = SqliteStore(path)
    try:
        store.write(
            [
                Point("charging_outlet", "near", "outlet-01", "panmen", t - 40 * 60_000,
                      {"state": "idle", "temp_c": 25.0}),  # older than the window
                Point("charging_outlet", "near", "outlet-01", "panmen", t - 120_000,
                      {"state": "charging", "temp_c": 55.0, "power_w": 800.0}),
                Point("charging_outlet", "near", "outlet-01", "panmen", t - 60_000,
                      {"state": "charging", "temp_c": 61.5, "power_w": 790.0}),
                Point("charging_outlet", "near", "outlet-02", "panmen", t - 30_000,
                      {"state": "idle", "temp_c": 24.0}),  # another device
                Point("charging_outlet", "mid", "outlet-01", "panmen", t - 30_000,
                      {"state": "idle", "temp_c": 24.0}),  # same id, another station
                Point("water_heater", "near", "heater-1", "panmen", t - 10_000,
                      {"water_temp_c": 90.0, "heating": False}),
            ]
        )  # fmt: skip
    finally:
        store.close()


def test_detail_has_recent_telemetry_of_the_device(
    crew_client: TestClient, fire: Fire, clock: FakeClock, crew_settings: ApiSettings
) -> None:
    now = clock.now_ms()
    _write_timeseries(crew_settings.timeseries_sqlite, now)
    alert_id = fire()
    telemetry = crew_client.get(f"/alerts/{alert_id}", headers=CREW).json()["telemetry"]
    assert telemetry["source"] == "sqlite" and telemetry["error"] is None
    assert telemetry["until_ms"] == now and telemetry["since_ms"] == now - 30 * 60_000
    assert telemetry["points"] == [
        {"ts": now - 60_000, "kind": "charging_outlet", "device": "outlet-01",
         "fields": {"state": "charging", "temp_c": 61.5, "power_w": 790.0}},
        {"ts": now - 120_000, "kind": "charging_outlet", "device": "outlet-01",
         "fields": {"state": "charging", "temp_c": 55.0, "power_w": 800.0}},
    ]  # fmt: skip

    # A station alert shows every device of the station, newest first.
    station_alert = fire("station-offline", "near", None, "major")
    points = crew_client.get(f"/alerts/{station_alert}", headers=CREW).json()["telemetry"]
    got = [(p["kind"], p["device"], now - p["ts"]) for p in points["points"]]
    assert got == [
        ("water_heater", "heater-1", 10_000),
        ("charging_outlet", "outlet-02", 30_000),
        ("charging_outlet", "outlet-01", 60_000),
        ("charging_outlet", "outlet-01", 120_000),
    ]


def test_resolved_alert_shows_telemetry_before_it_was_resolved(
    crew_client: TestClient, fire: Fire, clock: FakeClock, crew_settings: ApiSettings
) -> None:
    t = clock.now_ms()
    _write_timeseries(crew_settings.timeseries_sqlite, t)
    alert_id = fire()
    crew_client.post(f"/alerts/{alert_id}/resolve", json={"note": "ok"}, headers=CREW)
    clock.advance(3 * 3600)  # hours later, the window still ends at the resolve
    telemetry = crew_client.get(f"/alerts/{alert_id}", headers=CREW).json()["telemetry"]
    assert telemetry["until_ms"] == t and len(telemetry["points"]) == 2


def test_telemetry_unavailable_is_explained_not_fatal(crew_client: TestClient, fire: Fire) -> None:
    alert_id = fire()  # no timeseries.sqlite written yet
    resp = crew_client.get(f"/alerts/{alert_id}", headers=CREW)
    assert resp.status_code == 200
    telemetry = resp.json()["telemetry"]
    assert telemetry["points"] == [] and "has the collector run?" in telemetry["error"]


def test_no_telemetry_source_means_null(
    crew_settings: ApiSettings,
    fleet: Fleet,
    live: LiveAvailability,
    clock: FakeClock,
    alert_store: AlertStore,
    fire: Fire,
) -> None:
    app = create_app(crew_settings, fleet, live, clock=clock, alerts=alert_store)
    with TestClient(app) as c:
        body = c.get(f"/alerts/{fire()}", headers=CREW).json()
    assert body["telemetry"] is None and len(body["history"]) == 1
