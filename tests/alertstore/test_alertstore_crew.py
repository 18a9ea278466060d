"""Crew actions: the lifecycle, invalid transitions, and the queue the engine reads."""

from __future__ import annotations

import pytest
from alertstore_support import ALERT, T0, Engine

from alertstore import (
    Action,
    AlertStore,
    InvalidTransitionError,
    NotFoundError,
    Status,
)
from warmnet.clock import FakeClock


def test_ack_assign_resolve_with_history(
    store: AlertStore, engine: Engine, clock: FakeClock
) -> None:
    engine("fire")
    clock.advance(60)
    a = store.acknowledge(ALERT, "alice", "  on my way  ")
    assert a.status is Status.ACKNOWLEDGED and a.acknowledged_by == "alice"
    assert a.acknowledged_at == T0 + 60_000 and a.updated_at == T0 + 60_000
    clock.advance(60)
    a = store.assign(ALERT, "alice", "bob")
    assert a.assignee == "bob" and a.status is Status.ACKNOWLEDGED
    clock.advance(600)
    a = store.resolve(ALERT, "bob", "socket replaced, breaker reset")
    assert a.status is Status.RESOLVED and a.resolved_by == "bob"
    assert a.resolve_note == "socket replaced, breaker reset" and a.assignee == "bob"

    d = store.get(ALERT)
    assert d is not None
    assert [(h.action, h.who, h.status, h.note, h.detail) for h in d.history[1:]] == [
        (Action.ACKNOWLEDGE, "alice", Status.ACKNOWLEDGED, "on my way", ""),
        (Action.ASSIGN, "alice", Status.ACKNOWLEDGED, None, "assigned to bob"),
        (Action.RESOLVE, "bob", Status.RESOLVED, "socket replaced, breaker reset", ""),
    ]
    assert [h.at_ms - T0 for h in d.history] == [0, 60_000, 120_000, 720_000]


def test_resolve_straight_from_firing_and_unassign(store: AlertStore, engine: Engine) -> None:
    engine("fire")
    store.assign(ALERT, "op", "bob")
    assert store.assign(ALERT, "op", None).assignee is None
    assert store.resolve(ALERT, "bob", "false alarm: sensor loose").status is Status.RESOLVED


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        (["resolve"], "resolve", "it was resolved by bob at 2026-01-01T00:00:00Z"),
        (["resolve"], "ack", "cannot acknowledge .* it was resolved"),
        (["resolve"], "assign", "cannot assign .* it was resolved"),
        (["ack"], "ack", "already acknowledged by bob"),
    ],
)
def test_invalid_transitions_say_why(
    store: AlertStore, engine: Engine, setup: list[str], action: str, message: str
) -> None:
    engine("fire")
    do = {
        "resolve": lambda: store.resolve(ALERT, "bob", "done"),
        "ack": lambda: store.acknowledge(ALERT, "bob"),
        "assign": lambda: store.assign(ALERT, "bob", "carol"),
    }
    for step in setup:
        do[step]()
    with pytest.raises(InvalidTransitionError, match=message) as caught:
        do[action]()
    assert caught.value.status in ("resolved", "acknowledged")


def test_resolve_needs_a_note_and_a_known_alert(store: AlertStore, engine: Engine) -> None:
    engine("fire")
    with pytest.raises(ValueError, match="note is required"):
        store.resolve(ALERT, "bob", "   ")
    with pytest.raises(NotFoundError):
        store.acknowledge("nope:st/d@1", "bob")
    d = store.get(ALERT)
    assert d is not None and d.alert.status is Status.FIRING and len(d.history) == 1


def test_system_resolve_of_a_crew_resolved_alert_is_a_no_op(
    store: AlertStore, engine: Engine
) -> None:
    engine("fire")
    store.resolve(ALERT, "bob", "fixed")
    assert not engine("resolve", T0 + 5_000).applied  # the engine had not heard yet
    d = store.get(ALERT)
    assert d is not None and d.alert.resolved_by == "bob"


def test_pending_manual_is_a_cursor_over_crew_resolves_and_acks(
    store: AlertStore, engine: Engine, clock: FakeClock
) -> None:
    engine("fire")
    engine("fire", alert_id="w:wmq-02/heater-1@1", station="wmq-02", device="heater-1")
    store.assign(ALERT, "alice", "bob")  # not for the engine
    store.acknowledge(ALERT, "bob")
    clock.advance(10)
    store.resolve(ALERT, "bob", "fixed")
    got = store.pending_manual(0)
    assert [(m.action, m.alert_id, m.who) for m in got] == [
        ("acknowledge", ALERT, "bob"),
        ("resolve", ALERT, "bob"),
    ]
    m = got[-1]
    assert (m.rule, m.station, m.device, m.at_ms) == (
        "outlet-socket-overheat", "wmq-01", "outlet-03", T0 + 10_000,
    )  # fmt: skip
    assert store.pending_manual(m.seq) == []
    store.resolve("w:wmq-02/heater-1@1", "carol", "refilled")
    [n] = store.pending_manual(m.seq)
    assert n.station == "wmq-02" and n.device == "heater-1" and n.seq > m.seq
    assert [x.seq for x in store.pending_manual(0, limit=2)] == [got[0].seq, got[1].seq]


def test_crew_resolve_then_engine_reopen(store: AlertStore, engine: Engine) -> None:
    engine("fire")
    store.acknowledge(ALERT, "bob")
    store.resolve(ALERT, "bob", "reset the breaker")
    # apply_manual re-armed the rule; the condition still held: the engine reopens.
    got = engine("reopen", T0 + 60_000, value=62.0)
    assert got.applied
    d = store.get(ALERT)
    assert d is not None
    assert d.alert.status is Status.FIRING and d.alert.reopen_count == 1
    assert d.alert.acknowledged_by is None and d.alert.resolved_by is None
    # The crew can act on it again.
    assert store.acknowledge(ALERT, "carol").acknowledged_by == "carol"
