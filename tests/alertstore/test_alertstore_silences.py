"""Silences: what is active when, which alerts they cover, ending them."""

from __future__ import annotations

import pytest
from alertstore_support import ALERT, T0, Engine

from alertstore import AlertStore, InvalidTransitionError, NotFoundError
from warmnet.clock import FakeClock

HOUR = 3_600_000


def _silenced(store: AlertStore, alert_id: str = ALERT) -> bool:
    d = store.get(alert_id)
    assert d is not None
    return d.alert.silenced


def test_device_silence_covers_only_that_device(store: AlertStore, engine: Engine) -> None:
    s = store.silence("wmq-01", "outlet-03", T0 + HOUR, "alice", "replacing the socket")
    assert (s.station, s.device, s.starts_at, s.until_ms, s.created_by) == (
        "wmq-01", "outlet-03", T0, T0 + HOUR, "alice",
    )  # fmt: skip
    got = engine("fire")
    assert got.applied and got.silenced and _silenced(store)
    other = engine("fire", alert_id="x:wmq-01/outlet-04@1", device="outlet-04")
    assert not other.silenced
    station = engine("fire", alert_id="y:wmq-01/*@1", device=None)
    assert not station.silenced  # a device silence does not cover the station


def test_station_silence_covers_devices_and_station(store: AlertStore, engine: Engine) -> None:
    store.silence("wmq-01", None, T0 + HOUR, "alice", "repainting")
    assert engine("fire").silenced
    assert engine("fire", alert_id="y:wmq-01/*@1", device=None).silenced
    assert not engine("fire", alert_id="z:wmq-02/outlet-03@1", station="wmq-02").silenced


def test_silence_flags_follow_start_and_end(
    store: AlertStore, engine: Engine, clock: FakeClock
) -> None:
    engine("fire")
    assert not _silenced(store)
    s = store.silence("wmq-01", None, T0 + HOUR, "alice", "maintenance")
    assert _silenced(store)  # open alerts of the subject are flagged at once
    clock.advance(600)
    ended = store.end_silence(s.id, "olga")
    assert ended.ended_at == T0 + 600_000 and ended.ended_by == "olga"
    assert not _silenced(store)
    assert not engine("update", T0 + 700_000).silenced


def test_active_silences_by_time(store: AlertStore, clock: FakeClock) -> None:
    a = store.silence("wmq-01", None, T0 + HOUR, "alice", "now")
    b = store.silence("wmq-02", "heater-1", T0 + 3 * HOUR, "alice", "later", starts_ms=T0 + HOUR)
    assert [s.id for s in store.active_silences()] == [a.id]
    assert [s.id for s in store.active_silences(T0 + HOUR)] == [b.id]  # a ran out, b began
    assert store.active_silences(T0 + 3 * HOUR) == []
    assert [s.id for s in store.list_silences()] == [b.id, a.id]  # running and to come
    clock.advance(2 * 3600)
    assert [s.id for s in store.list_silences()] == [b.id]
    assert [s.id for s in store.list_silences(include_inactive=True)] == [b.id, a.id]
    assert [s.id for s in store.list_silences(station="wmq-01", include_inactive=True)] == [a.id]


def test_ending_twice_or_after_expiry_is_refused(store: AlertStore, clock: FakeClock) -> None:
    s = store.silence("wmq-01", None, T0 + HOUR, "alice", "x")
    store.end_silence(s.id, "olga")
    with pytest.raises(InvalidTransitionError, match="already ended by olga"):
        store.end_silence(s.id, "olga")
    t = store.silence("wmq-01", None, T0 + HOUR, "alice", "y")
    clock.advance(3600)
    with pytest.raises(InvalidTransitionError, match="already ran out"):
        store.end_silence(t.id, "olga")
    with pytest.raises(NotFoundError):
        store.end_silence(999, "olga")


def test_silence_must_end_in_the_future(store: AlertStore) -> None:
    with pytest.raises(ValueError):
        store.silence("wmq-01", None, T0, "alice", "over already")
    with pytest.raises(ValueError):
        store.silence("wmq-01", None, T0 + 10, "alice", "x", starts_ms=T0 + 20)
    with pytest.raises(ValueError):
        store.silence("WMQ", None, T0 + HOUR, "alice", "bad id")
