"""Silences: crews create them, operators list and end them; alerts of a silenced
subject are marked silenced."""

from __future__ import annotations

from typing import Any

import pytest
from crew_support import CREW, OPERATOR, Fire
from fastapi.testclient import TestClient

from alertstore import AlertStore
from warmnet.clock import FakeClock

HOUR_S = 3600


def test_create_list_end(
    crew_client: TestClient, alert_store: AlertStore, clock: FakeClock, fire: Fire
) -> None:
    now = clock.now_ms()
    resp = crew_client.post(
        "/silences",
        json={"station": "near", "device": "outlet-01", "duration_s": HOUR_S, "note": "new socket"},
        headers=CREW,
    )
    assert resp.status_code == 201, resp.text
    s = resp.json()
    assert s == {
        "id": s["id"],
        "station": "near",
        "device": "outlet-01",
        "starts_at": now,
        "until_ms": now + HOUR_S * 1000,
        "created_by": "alice",
        "note": "new socket",
        "ended_at": None,
        "ended_by": None,
        "active": True,
    }
    assert [x.id for x in alert_store.active_silences()] == [s["id"]]  # what the collector reads

    alert_id = fire()  # outlet-01 of near: recorded, but silenced
    assert crew_client.get(f"/alerts/{alert_id}", headers=CREW).json()["silenced"] is True

    listed = crew_client.get("/silences", headers=OPERATOR).json()
    assert [x["id"] for x in listed] == [s["id"]]

    clock.advance(60)
    resp = crew_client.delete(f"/silences/{s['id']}", headers=OPERATOR)
    assert resp.status_code == 200
    assert resp.json()["ended_by"] == "olga" and resp.json()["active"] is False
    assert crew_client.get("/silences", headers=OPERATOR).json() == []
    ended = crew_client.get("/silences", params={"include_ended": True}, headers=OPERATOR).json()
    assert [x["id"] for x in ended] == [s["id"]]
    assert crew_client.get(f"/alerts/{alert_id}", headers=CREW).json()["silenced"] is False

    again = crew_client.delete(f"/silences/{s['id']}", headers=OPERATOR)
    assert again.status_code == 409
    assert again.json()["detail"].startswith(f"silence {s['id']} was already ended by olga")
    assert crew_client.delete("/silences/999", headers=OPERATOR).status_code == 404


def test_station_silence_until_a_time(crew_client: TestClient, clock: FakeClock) -> None:
    until = clock.now_ms() + 2 * HOUR_S * 1000
    resp = crew_client.post(
        "/silences", json={"station": "mid", "until_ms": until, "note": "repainting"}, headers=CREW
    )
    assert resp.status_code == 201
    assert resp.json()["device"] is None and resp.json()["until_ms"] == until


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"station": "wmq-99", "duration_s": 600}, 404, "unknown station 'wmq-99'"),
        ({"station": "near", "device": "heater-9", "duration_s": 600}, 422,
         "device 'heater-9' is not a device of station 'near'"),
        ({"station": "near"}, 422, "give exactly one of duration_s or until_ms"),
        ({"station": "near", "duration_s": 600, "until_ms": 1}, 422,
         "give exactly one of duration_s or until_ms"),
        ({"station": "near", "until_ms": 1}, 422, "the silence must end after it starts and now"),
        ({"station": "near", "duration_s": 8 * 86_400}, 422, None),
        ({"station": "near", "duration_s": 600, "note": ""}, 422, None),
    ],
)  # fmt: skip
def test_invalid_silences(
    crew_client: TestClient,
    alert_store: AlertStore,
    body: dict[str, Any],
    status: int,
    detail: str | None,
) -> None:
    resp = crew_client.post("/silences", json={"note": "x", **body}, headers=CREW)
    assert resp.status_code == status, resp.text
    if detail is not None:
        assert resp.json() == {"detail": detail}
    assert alert_store.list_silences(include_inactive=True) == []
