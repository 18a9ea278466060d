"""Tokens and roles: 401/403 bodies, every state-changing route guarded, token config."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from crew_support import CREW, OPERATOR, Fire
from fastapi.testclient import TestClient
from pydantic import ValidationError

from alertstore import AlertStore, Status
from api import tokens_cli
from api.app import create_app
from api.auth import DEMO_TOKENS, Role, TokenConfigError, build_table, hash_token, new_token
from api.live import LiveAvailability
from api.settings import ApiSettings
from warmnet.clock import FakeClock
from warmnet.registry import Fleet

PUBLIC_WRITES = {("POST", "/stations/{station_id}/reports")}

# Every state-changing endpoint with a valid body, and the role it needs.
GUARDED: list[tuple[str, str, dict[str, Any] | None, Role]] = [
    ("POST", "/alerts/{id}/ack", {"note": "on it"}, Role.CREW),
    ("POST", "/alerts/{id}/assign", {"assignee": "bob"}, Role.CREW),
    ("POST", "/alerts/{id}/resolve", {"note": "fixed"}, Role.CREW),
    ("POST", "/silences", {"station": "near", "duration_s": 3600, "note": "x"}, Role.CREW),
    ("DELETE", "/silences/{silence}", None, Role.OPERATOR),
    ("GET", "/silences", None, Role.OPERATOR),
    ("GET", "/reports", None, Role.OPERATOR),
    ("GET", "/alerts", None, Role.CREW),
    ("GET", "/alerts/{id}", None, Role.CREW),
]


def test_every_state_changing_route_needs_a_token(crew_client: TestClient) -> None:
    """From the OpenAPI document (what clients see): each operation that is not a read
    declares the bearer scheme, except the public rider report; and every secured
    operation is in GUARDED, so its role is tested below."""
    spec = crew_client.get("/openapi.json").json()
    secured, writes = set(), set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            key = (method.upper(), path)
            if op.get("security"):
                secured.add(key)
            if method != "get":
                writes.add(key)
    assert writes - secured == PUBLIC_WRITES
    guarded = {(m, p.replace("{id}", "{alert_id}").replace("{silence}", "{silence_id}"))
               for m, p, _, _ in GUARDED}  # fmt: skip
    assert secured == guarded


@pytest.mark.parametrize(("method", "path", "body", "role"), GUARDED)
def test_refused_without_the_right_role(
    crew_client: TestClient,
    alert_store: AlertStore,
    fire: Fire,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: Role,
) -> None:
    alert_id = fire()
    silence = alert_store.silence("near", None, 1_767_229_200_000, "olga", "paint")
    url = path.format(id=alert_id, silence=silence.id)

    resp = crew_client.request(method, url, json=body)
    assert resp.status_code == 401
    assert resp.json() == {
        "detail": "authentication required: send 'Authorization: Bearer <token>'"
    }
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="warmnet"'

    resp = crew_client.request(method, url, json=body, headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.json() == {"detail": "unknown or revoked token"}
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]

    if role is Role.OPERATOR:
        resp = crew_client.request(method, url, json=body, headers=CREW)
        assert resp.status_code == 403
        assert resp.json() == {"detail": "alice has role crew; this needs operator"}

    # Nothing changed on the way.
    detail = alert_store.get(alert_id)
    assert detail is not None and detail.alert.status is Status.FIRING
    assert len(detail.history) == 1
    assert [s.id for s in alert_store.list_silences()] == [silence.id]

    ok = crew_client.request(method, url, json=body, headers=OPERATOR)  # operator: all
    assert ok.status_code in (200, 201), ok.text


def test_public_endpoints_need_no_token(crew_client: TestClient) -> None:
    assert crew_client.get("/stations").status_code == 200
    assert crew_client.get("/health").status_code == 200
    resp = crew_client.post("/stations/near/reports", json={"category": "dirty"})
    assert resp.status_code == 201


def test_without_an_alert_store_crew_routes_answer_503(client: TestClient) -> None:
    # The rider-only app (no store): still authentication first, then 503.
    assert client.get("/alerts").status_code == 401
    resp = client.post("/stations/near/reports", json={"category": "dirty"})
    assert resp.status_code == 503 and resp.json() == {"detail": "alert store not configured"}


def test_demo_mode_uses_demo_tokens(
    fleet: Fleet, live: LiveAvailability, clock: FakeClock, tmp_path: Path
) -> None:
    settings = ApiSettings(api_client_id="t", demo_mode=True, data_dir=tmp_path)
    with (
        AlertStore(tmp_path / "a.sqlite", clock=clock) as store,
        TestClient(create_app(settings, fleet, live, clock=clock, alerts=store)) as c,
    ):
        assert c.get("/alerts", headers={"Authorization": "Bearer demo-crew"}).status_code == 200
        resp = c.get("/reports", headers={"Authorization": "Bearer demo-crew"})
        assert resp.status_code == 403
        ok = c.get("/reports", headers={"Authorization": "Bearer demo-operator"})
        assert ok.status_code == 200


@pytest.mark.parametrize("placeholder", ["changeme", "demo-operator", "secret"])
def test_placeholder_tokens_are_refused_outside_demo(placeholder: str) -> None:
    entry = f"bob:operator:{hash_token(placeholder)}"
    with pytest.raises(ValidationError, match="placeholder"):
        ApiSettings(api_tokens=entry)
    assert len(ApiSettings(api_tokens=entry, demo_mode=True).tokens) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bob:crew", "is not name:role:sha256-hash"),
        ("bob:admin:" + "a" * 64, "role 'admin' is not crew or operator"),
        ("bob:crew:s3cret-token-pasted", "not name:role|expected the token's SHA-256"),
        ("b o:crew:" + "a" * 64, "not name:role:sha256-hash"),
        (f"bob:crew:{'a' * 64},bob:operator:{'b' * 64}", "appears twice"),
        (f"bob:crew:{'a' * 64}\nann:crew:{'a' * 64}", "configured twice"),
    ],
)
def test_malformed_token_entries_are_explained(value: str, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message):
        build_table(value, None, demo_mode=False)


def test_tokens_file_with_comments(tmp_path: Path) -> None:
    token, entry = new_token("carol", "operator")
    path = tmp_path / "tokens"
    path.write_text(f"# crew tokens\n{entry}  # carol, night shift\n\n", "utf-8")
    table = ApiSettings(api_tokens_file=path).tokens
    principal = table.lookup(token)
    assert principal is not None and principal.name == "carol"
    assert principal.role is Role.OPERATOR
    assert table.lookup(token + "x") is None
    assert entry == f"carol:operator:{hash_token(token)}" and len(token) >= 40
    with pytest.raises(ValidationError, match="cannot read"):
        ApiSettings(api_tokens_file=tmp_path / "missing")


def test_demo_tokens_only_when_nothing_is_configured() -> None:
    assert {e.name for e in build_table(None, None, demo_mode=True).entries} == {
        f"demo-{r.value}" for r in DEMO_TOKENS.values()
    }
    assert len(build_table(None, None, demo_mode=False)) == 0
    token, entry = new_token("ann", "crew")
    table = build_table(entry, None, demo_mode=True)
    assert table.lookup("demo-crew") is None and table.lookup(token) is not None


def test_token_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert tokens_cli.main(["new", "ann", "operator"]) == 0
    out = capsys.readouterr().out.split()
    token, entry = out[out.index("them):") + 1], out[-1]
    assert entry == f"ann:operator:{hash_token(token)}"
    assert build_table(entry, None, demo_mode=False).lookup(token) is not None
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert tokens_cli.main(["hash"]) == 0
    assert capsys.readouterr().out == hash_token(token) + "\n"
    assert tokens_cli.main(["new", "not ok", "crew"]) == 2
