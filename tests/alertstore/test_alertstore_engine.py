"""Engine transitions into the store: fire, update, resolve, reopen, suppress;
idempotent replays; the file's settings (WAL, schema version)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alertstore_support import ALERT, T0, Engine

from alertstore import SYSTEM, Action, AlertStore, EngineRecord, Status
from warmnet.severity import Severity


def test_fire_creates_an_alert_with_titles_and_history(store: AlertStore, engine: Engine) -> None:
    got = engine("fire")
    assert got.applied and got.status is Status.FIRING and not got.silenced
    detail = store.get(ALERT)
    assert detail is not None
    a = detail.alert
    assert (a.rule, a.station, a.device) == ("outlet-socket-overheat", "wmq-01", "outlet-03")
    assert a.severity is Severity.CRITICAL and a.status is Status.FIRING
    assert a.title_zh == "充电插座过热（已请求断电）" and a.title_en.startswith("Charging")
    assert a.value == 61.5 and a.fired_at == a.updated_at == T0 and a.reopen_count == 0
    [h] = detail.history
    assert (h.action, h.who, h.status, h.at_ms, h.value) == (
        Action.FIRE, SYSTEM, Status.FIRING, T0, 61.5,
    )  # fmt: skip


def test_update_refreshes_value_without_history(store: AlertStore, engine: Engine) -> None:
    engine("fire")
    assert engine("update", T0 + 60_000, value=64.0, detail="still hot").applied
    assert not engine("update", T0 + 30_000, value=62.0).applied  # older: ignored
    detail = store.get(ALERT)
    assert detail is not None
    assert detail.alert.value == 64.0 and detail.alert.detail == "still hot"
    assert detail.alert.updated_at == T0 + 60_000
    assert [h.action for h in detail.history] == [Action.FIRE]


def test_resolve_then_reopen_counts_and_clears_crew_fields(
    store: AlertStore, engine: Engine
) -> None:
    engine("fire")
    store.acknowledge(ALERT, "alice", None)
    got = engine("resolve", T0 + 120_000, value=48.0, detail="temp_c < 50 for 60 s")
    assert got.applied and got.status is Status.RESOLVED
    a = store.get(ALERT)
    assert a is not None
    assert a.alert.resolved_by == SYSTEM and a.alert.resolved_at == T0 + 120_000
    assert a.alert.resolve_note == "temp_c < 50 for 60 s"

    got = engine("reopen", T0 + 600_000, value=60.5)
    assert got.applied and got.status is Status.FIRING
    d = store.get(ALERT)
    assert d is not None
    r = d.alert
    assert r.status is Status.FIRING and r.reopen_count == 1 and r.value == 60.5
    assert r.acknowledged_at is None and r.resolved_at is None and r.resolve_note is None
    assert [(h.action, h.who) for h in d.history] == [
        (Action.FIRE, SYSTEM),
        (Action.ACKNOWLEDGE, "alice"),
        (Action.RESOLVE, SYSTEM),
        (Action.REOPEN, SYSTEM),
    ]


def test_replaying_the_same_transitions_changes_nothing(store: AlertStore, engine: Engine) -> None:
    steps = [("fire", T0), ("update", T0 + 60_000), ("resolve", T0 + 90_000), ("reopen", T0 + 9e5)]
    first = [engine(k, int(t)).applied for k, t in steps]
    assert first == [True, True, True, True]
    before = store.get(ALERT)
    # A collector restart hands over the whole sequence again, then part of it.
    replay = [engine(k, int(t)).applied for k, t in steps + steps[1:3]]
    assert replay == [False] * 6
    assert store.get(ALERT) == before


def test_transitions_that_do_not_apply_are_no_ops(store: AlertStore, engine: Engine) -> None:
    assert not engine("resolve").applied  # unknown alert: nothing to resolve
    assert store.get(ALERT) is None
    engine("fire")
    assert not engine("reopen", T0 + 1).applied  # open: nothing to reopen
    engine("resolve", T0 + 2)
    assert not engine("resolve", T0 + 3).applied  # already resolved
    assert not engine("update", T0 + 4).applied  # updates of a resolved alert
    d = store.get(ALERT)
    assert d is not None and d.alert.status is Status.RESOLVED and len(d.history) == 2


def test_first_seen_on_update_is_recorded_as_firing(store: AlertStore, engine: Engine) -> None:
    got = engine("update", T0 + 5_000)  # the store was created after the alert fired
    assert got.applied and got.status is Status.FIRING
    d = store.get(ALERT)
    assert d is not None and d.alert.fired_at == T0 + 5_000
    assert d.history[0].detail.startswith("first recorded on update")


def test_suppress_and_unsuppress(store: AlertStore, engine: Engine) -> None:
    engine("fire")
    assert engine("suppress", T0 + 10).applied
    assert not engine("suppress", T0 + 20).applied
    d = store.get(ALERT)
    assert d is not None and d.alert.suppressed
    assert engine("unsuppress", T0 + 30).applied
    d = store.get(ALERT)
    assert d is not None and not d.alert.suppressed
    assert [h.action for h in d.history][-2:] == [Action.SUPPRESS, Action.UNSUPPRESS]


def test_station_alert_has_no_device(store: AlertStore) -> None:
    store.record_engine(
        "fire", f"station-offline:wmq-02/*@{T0}", "station-offline", "wmq-02", None,
        "major", T0, "offline", "gateway last will",
    )  # fmt: skip
    [a] = store.list_alerts(station="wmq-02")
    assert a.device is None and a.title_en == "station-offline"  # no title given: the rule


@pytest.mark.parametrize(
    ("field", "bad"),
    [("kind", "action"), ("severity", "urgent"), ("station", "WMQ 01"), ("device", "a/b")],
)
def test_invalid_input_is_refused(store: AlertStore, engine: Engine, field: str, bad: str) -> None:
    kw = {"kind": "fire", field: bad}
    kind = kw.pop("kind")
    with pytest.raises(ValueError):
        engine(kind, **kw)
    assert store.list_alerts() == []


def test_batch_is_one_transaction_in_order(store: AlertStore) -> None:
    def rec(kind: str, at: int) -> EngineRecord:
        return EngineRecord(kind, "r:st-1/d-1@1", "r", "st-1", "d-1", "minor", at)

    got = store.record_engine_batch([rec("fire", 1), rec("resolve", 2), rec("reopen", 3)])
    assert [g.applied for g in got] == [True, True, True]
    with pytest.raises(ValueError):  # a bad record rolls the whole batch back
        store.record_engine_batch([rec("resolve", 4), rec("explode", 5)])
    d = store.get("r:st-1/d-1@1")
    assert d is not None and d.alert.status is Status.FIRING and d.alert.reopen_count == 1


def test_file_is_wal_and_versioned(store: AlertStore, db_path: Path) -> None:
    assert store.journal_mode() == "wal"
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer than this warmnet"):
        AlertStore(db_path)


def test_list_filters(store: AlertStore, engine: Engine) -> None:
    engine("fire")
    engine("fire", T0 + 1000, alert_id="w:wmq-02/heater-1@1", station="wmq-02",
           device="heater-1", severity="warning", rule="w")  # fmt: skip
    engine("fire", T0 + 2000, alert_id="m:wmq-02/mw-1@2", station="wmq-02", device="mw-1",
           severity="minor", rule="m")  # fmt: skip
    engine("resolve", T0 + 3000, alert_id="m:wmq-02/mw-1@2", station="wmq-02", device="mw-1")

    def ids(**kw: object) -> list[str]:
        return [a.id for a in store.list_alerts(**kw)]  # type: ignore[arg-type]

    assert ids() == ["m:wmq-02/mw-1@2", "w:wmq-02/heater-1@1", ALERT]  # newest change first
    assert ids(status="firing") == ["w:wmq-02/heater-1@1", ALERT]
    assert ids(status=["resolved", "acknowledged"]) == ["m:wmq-02/mw-1@2"]
    assert ids(severity=["critical", "minor"]) == ["m:wmq-02/mw-1@2", ALERT]
    assert ids(station="wmq-02", status="firing") == ["w:wmq-02/heater-1@1"]
    assert ids(since_ms=T0 + 1000) == ["m:wmq-02/mw-1@2", "w:wmq-02/heater-1@1"]
    assert ids(limit=1, offset=1) == ["w:wmq-02/heater-1@1"]
    with pytest.raises(ValueError):
        ids(status="open")
