"""The engine's state: immutable, JSON round trip, timers that survive a collector
restart, and crew resolutions that re-arm rules consistently."""

import pytest
from alerts_support import (
    MIN,
    ST,
    T0,
    Harness,
    S,
    event,
    heater,
    microwave,
    occupancy,
    outlet,
    report,
    rule,
    ruleset,
    tele,
)

from collector.alerts import (
    AlertKey,
    EngineState,
    ManualAction,
    StateError,
    TransitionKind,
    apply_manual,
    evaluate,
    load_rules,
)
from warmnet.clock import FakeClock
from warmnet.messages import EventType

HOT = ruleset(
    rule(
        "hot", "threshold", kind="charging_outlet", field="temp_c", op=">=", value=60,
        for_s=30, clear_value=50, clear_for_s=60, action="cut_power",
    ),
    rule("fault", "fault_event", kind="charging_outlet"),
    rule("silent", "silence"),
    rule("offline", "gateway_offline"),
    rule("report", "rider_report"),
)  # fmt: skip
KEY = AlertKey("hot", ST, "outlet-01")


def restarted(h: Harness) -> Harness:
    """The same engine after a save, a crash and a restore."""
    text = h.state.to_json()
    return Harness(h.rules, state=EngineState.from_json(text), log=list(h.log))


def test_evaluate_never_changes_the_state_it_was_given() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0, 61)))
    before = h.state
    snapshot = before.to_json()

    inp = tele("outlet-01", outlet(T0 + 30 * S, 61))
    after, out = evaluate(HOT, h.fleet, before, inp, T0 + 30 * S)

    assert out and after is not before
    assert before.to_json() == snapshot


def test_an_input_that_changes_nothing_returns_the_same_state() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0, 25)))
    h.tick(T0, stations=frozenset({ST}))
    before = h.state
    h.tick(T0, stations=frozenset({ST}))
    assert h.state is before


def test_the_state_round_trips_through_json() -> None:
    h = Harness(HOT)
    clock = FakeClock(T0)
    for temp in (61, 61, 61, 61, 58):
        h.send(tele("outlet-01", outlet(clock.now_ms(), temp)))
        clock.advance(10)
    h.send(event("outlet-02", clock.now_ms(), EventType.FAULT_RAISED, "E7"))
    h.send(report(clock.now_ms(), "dirty", device="outlet-02"))
    h.tick(clock.now_ms())

    text = h.state.to_json()
    back = EngineState.from_json(text)

    assert back == h.state
    assert back.to_json() == text
    assert [k for k, _ in back.alerts()] == [k for k, _ in h.state.alerts()]


def test_a_restart_in_the_middle_of_a_for_duration_still_fires_on_time() -> None:
    clock = FakeClock(T0)
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(clock.now_ms(), 61)))
    clock.advance(10)
    h.send(tele("outlet-01", outlet(clock.now_ms(), 61)))

    h = restarted(h)  # pending since T0, newest data T0 + 10 s
    clock.advance(10)
    h.send(tele("outlet-01", outlet(clock.now_ms(), 61)))
    assert h.log == []
    clock.advance(10)
    out = h.send(tele("outlet-01", outlet(clock.now_ms(), 61)))

    assert [t.kind for t in out] == [TransitionKind.FIRE, TransitionKind.ACTION]
    assert out[0].at_ms == T0 + 30 * S


def test_a_restart_mid_clear_and_mid_too_long_keeps_counting() -> None:
    h = Harness(load_rules())
    for i in range(60):  # 10 min of one cycle
        h.send(tele("microwave-1", microwave(T0 + i * 10 * S, "running", 1800 - i * 10)))
    h = restarted(h)
    for i in range(60, 91):
        h.send(tele("microwave-1", microwave(T0 + i * 10 * S, "running", 1800 - i * 10)))
    fire = h.of(TransitionKind.FIRE, "microwave-running-too-long")
    assert [f.at_ms for f in fire] == [T0 + 15 * MIN]


def test_a_resolved_alert_reopens_after_a_restart() -> None:
    h = Harness(HOT)
    for i in range(4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))
    for i in range(4, 12):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 40)))
    assert h.kinds("hot")[-1] == "resolve"

    h = restarted(h)
    for i in range(20, 24):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))
    assert h.of(TransitionKind.REOPEN)[0].alert_id == h.of(TransitionKind.FIRE)[0].alert_id


def test_after_a_restart_devices_get_their_intervals_before_silence_counts() -> None:
    h = Harness(HOT)
    for t in range(T0, T0 + 60 * S, 10 * S):  # every device of st-1 reports
        h.send(tele("outlet-01", outlet(t)))
        h.send(tele("outlet-02", outlet(t)))
        h.send(tele("heater-1", heater(t)))
        h.send(tele("microwave-1", microwave(t)))
        h.send(tele("occupancy", occupancy(t, 1)))
        h.tick(t, stations=frozenset({ST}))
    assert h.log == []
    saved = h.state.to_json()

    # Down for 5 minutes: the broker kept the devices' data for us.
    back = T0 + 6 * MIN
    h2 = Harness(HOT, state=EngineState.from_json(saved).resume(back))
    h2.tick(back, stations=frozenset({ST}))
    assert h2.log == []  # without `resume` every device would be "silent" right now

    h3 = Harness(HOT, state=EngineState.from_json(saved))
    h3.tick(back, stations=frozenset({ST}))
    assert [t.key for t in h3.log] == [AlertKey("offline", ST)]


def test_a_saved_state_that_cannot_be_restored_says_so() -> None:
    with pytest.raises(StateError, match="cannot restore"):
        EngineState.from_json("{not json")
    with pytest.raises(StateError, match="version 99"):
        EngineState.from_json('{"stations": {}, "version": 99}')


def test_a_crew_resolve_rearms_the_rule_and_a_persisting_condition_reopens() -> None:
    h = Harness(HOT)
    for i in range(4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))
    assert h.state.alert(KEY) is not None

    crew = T0 + 35 * S
    h.state = apply_manual(h.state, KEY, "resolve", crew, rules=HOT, fleet=h.fleet)
    alert = h.state.alert(KEY)
    assert alert is not None and not alert.active and alert.resolved_ms == crew
    assert h.active() == []

    h.send(tele("outlet-01", outlet(T0 + 40 * S, 61)))  # still hot: a new 30 s starts
    h.send(tele("outlet-01", outlet(T0 + 60 * S, 61)))
    assert h.kinds("hot") == ["fire", "action"]
    h.send(tele("outlet-01", outlet(T0 + 70 * S, 61)))
    assert h.kinds("hot") == ["fire", "action", "reopen", "action"]


def test_a_crew_resolve_of_a_fault_forgets_its_codes() -> None:
    h = Harness(HOT)
    h.send(event("outlet-01", T0, EventType.FAULT_RAISED, "E7"))
    key = AlertKey("fault", ST, "outlet-01")
    h.state = apply_manual(h.state, key, "resolve", T0 + MIN, rules=HOT, fleet=h.fleet)

    h.send(event("outlet-01", T0 + 2 * MIN, EventType.SESSION_STARTED))
    h.tick(T0 + 3 * MIN, stations=frozenset({ST}))
    assert h.kinds("fault") == ["fire"]  # fixed by the crew: no fault_cleared needed
    h.send(event("outlet-01", T0 + 4 * MIN, EventType.FAULT_RAISED, "E7"))
    assert h.kinds("fault") == ["fire", "reopen"]


def test_acknowledging_or_resolving_nothing_changes_nothing() -> None:
    h = Harness(HOT)
    for i in range(4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))
    state = h.state

    def manual(key: AlertKey, action: ManualAction, at: int) -> EngineState:
        return apply_manual(state, key, action, at, rules=HOT, fleet=h.fleet)

    assert manual(KEY, "acknowledge", T0 + MIN) is state
    assert manual(AlertKey("hot", ST, "outlet-02"), "resolve", T0) is state
    assert manual(AlertKey("hot", "nowhere", None), "resolve", T0) is state


# --- timers at rest are not kept ------------------------------------------------------

STATION_HOT = ruleset(
    rule(
        "any-hot", "threshold", kind="charging_outlet", subject="station", field="temp_c",
        op=">=", value=60, for_s=30, clear_value=50,
    ),
)  # fmt: skip


def test_timers_at_rest_are_not_kept_but_remember_the_newest_reading() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0, 40)))
    st = h.state.station(ST)
    assert "hot/outlet-01" not in st.timers and "silent/outlet-01" not in st.timers
    assert st.reading_ts["outlet-01"] == T0
    assert EngineState.from_json(h.state.to_json()) == h.state

    h.send(tele("outlet-01", outlet(T0 + 10 * S, 61)))  # pending: kept
    assert h.state.station(ST).timers["hot/outlet-01"].pending_since == T0 + 10 * S
    h.send(tele("outlet-01", outlet(T0 + 20 * S, 40)))  # at rest again: dropped
    assert "hot/outlet-01" not in h.state.station(ST).timers


def test_a_late_reading_is_ignored_by_timers_that_are_not_kept() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0 + 60 * S, 40)))
    # Older than the newest reading: late for every rule, kept timer or not.
    for i in range(4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 70)), now=T0 + 61 * S + i)
    assert h.kinds("hot") == []
    assert "hot/outlet-01" not in h.state.station(ST).timers


def test_resolving_a_station_alert_rearms_the_other_devices_at_rest() -> None:
    h = Harness(STATION_HOT)
    h.send(tele("outlet-02", outlet(T0, 40)))  # at rest: not kept
    for i in range(4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))
    key = AlertKey("any-hot", ST, None)
    assert h.kinds("any-hot") == ["fire"]

    crew = T0 + 35 * S
    h.state = apply_manual(h.state, key, "resolve", crew, rules=STATION_HOT, fleet=h.fleet)
    # outlet-02's timer is re-armed too: its reading from before the visit, arriving
    # now, starts nothing.
    assert h.state.station(ST).timers["any-hot/outlet-02"].rearm_ms == crew
    h.send(tele("outlet-02", outlet(T0 + 34 * S, 65)), now=crew + S)
    assert h.state.station(ST).timers["any-hot/outlet-02"].pending_since is None
    h.send(tele("outlet-02", outlet(crew + 10 * S, 65)))  # after the visit: counts
    assert h.state.station(ST).timers["any-hot/outlet-02"].pending_since == crew + 10 * S
    assert h.kinds("any-hot") == ["fire"]
