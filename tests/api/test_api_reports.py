"""Rider reports: POST /stations/{id}/reports (public, validated, rate-limited) and
GET /reports for operators."""

from __future__ import annotations

import pytest
from crew_support import CREW, OPERATOR
from fastapi.testclient import TestClient

from alertstore import AlertStore
from api.app import create_app
from api.live import LiveAvailability
from api.settings import ApiSettings
from warmnet.clock import FakeClock
from warmnet.registry import Fleet, parse_fleet


def test_report_is_stored_for_the_collector(
    crew_client: TestClient, alert_store: AlertStore, clock: FakeClock
) -> None:
    resp = crew_client.post(
        "/stations/near/reports",
        json={"category": "no_hot_water", "device": "heater-1", "text": "  水是凉的 "},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body == {
        "id": body["id"],
        "station": "near",
        "device": "heater-1",
        "category": "no_hot_water",
        "received_at": clock.now_ms(),
    }
    [r] = alert_store.take_reports(0)
    assert (r.id, r.station, r.device, r.category, r.text) == (
        body["id"], "near", "heater-1", "no_hot_water", "水是凉的",
    )  # fmt: skip
    assert len(r.client_key_hash) == 64 and "testclient" not in r.client_key_hash


@pytest.mark.parametrize(
    ("station", "body", "status", "detail"),
    [
        ("wmq-99", {"category": "dirty"}, 404, "unknown station 'wmq-99'"),
        ("near", {"category": "dirty", "device": "heater-9"}, 422,
         "device 'heater-9' is not a device of station 'near'"),
        ("Near", {"category": "dirty"}, 422, None),
        ("near", {"category": "broken"}, 422, None),
        ("near", {"category": "dirty", "text": "x" * 201}, 422, None),
        ("near", {"category": "dirty", "extra": 1}, 422, None),
        ("near", {}, 422, None),
    ],
)  # fmt: skip
def test_invalid_reports(
    crew_client: TestClient,
    alert_store: AlertStore,
    station: str,
    body: dict[str, object],
    status: int,
    detail: str | None,
) -> None:
    resp = crew_client.post(f"/stations/{station}/reports", json=body)
    assert resp.status_code == status, resp.text
    if detail is not None:
        assert resp.json() == {"detail": detail}
    assert alert_store.take_reports(0) == []


def test_device_of_another_station_is_refused(
    crew_settings: ApiSettings,
    fleet: Fleet,
    live: LiveAvailability,
    clock: FakeClock,
    alert_store: AlertStore,
) -> None:
    data = fleet.model_dump(mode="json", exclude_none=True)
    data["stations"][0]["devices"].append({"id": "outlet-09", "kind": "charging_outlet"})
    wider = parse_fleet(data, "test fleet")  # outlet-09 exists at "far" only
    with TestClient(create_app(crew_settings, wider, live, clock=clock, alerts=alert_store)) as c:
        report = {"category": "outlet_broken", "device": "outlet-09"}
        assert c.post("/stations/far/reports", json=report).status_code == 201
        resp = c.post("/stations/near/reports", json=report)
        assert resp.status_code == 422
        assert resp.json() == {"detail": "device 'outlet-09' is not a device of station 'near'"}
    assert [r.station for r in alert_store.take_reports(0)] == ["far"]


def test_text_of_200_characters_is_fine(crew_client: TestClient) -> None:
    resp = crew_client.post(
        "/stations/near/reports", json={"category": "other", "text": "好" * 200}
    )
    assert resp.status_code == 201


def test_rate_limit_per_client_with_retry_after(crew_client: TestClient, clock: FakeClock) -> None:
    def post(**headers: str) -> int:
        report = {"category": "dirty"}
        return crew_client.post("/stations/near/reports", json=report, headers=headers).status_code

    assert [post() for _ in range(5)] == [201] * 5
    clock.advance(60)
    resp = crew_client.post("/stations/near/reports", json={"category": "dirty"})
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "540"
    assert resp.json() == {
        "detail": "too many reports from this client: at most 5 per 10 min",
        "retry_after_s": 540,
    }
    # Another rider's app (own X-Client-Id) behind the same address is not affected...
    assert post(**{"X-Client-Id": "rider-app-7c1e9a55"}) == 201
    # ... and the window moves on.
    clock.advance(540)
    assert post() == 201


def test_rotating_client_ids_meet_the_address_limit(crew_client: TestClient) -> None:
    codes = [
        crew_client.post(
            "/stations/near/reports",
            json={"category": "other"},
            headers={"X-Client-Id": f"rotating-id-{i:04d}"},
        ).status_code
        for i in range(21)
    ]
    assert codes == [201] * 20 + [429]  # report_ip_limit=20 in the test settings


def test_operators_list_reports(crew_client: TestClient) -> None:
    crew_client.post("/stations/near/reports", json={"category": "dirty", "text": "floor"})
    crew_client.post("/stations/mid/reports", json={"category": "sparks", "device": "outlet-02"})
    assert crew_client.get("/reports", headers=CREW).status_code == 403
    rows = crew_client.get("/reports", headers=OPERATOR).json()
    assert [(r["station"], r["category"], r["device"]) for r in rows] == [
        ("mid", "sparks", "outlet-02"),
        ("near", "dirty", None),
    ]
    assert len(rows[0]["client"]) == 12 and rows[0]["client"] == rows[1]["client"]
    only = crew_client.get("/reports", params={"station": "near"}, headers=OPERATOR).json()
    assert [r["text"] for r in only] == ["floor"]
