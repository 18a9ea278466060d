"""Rate of change, stuck sensors, states held too long, fault events and rider
reports: each fires exactly when it should, once, and resolves when it should."""

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

from collector.alerts import AlertKey, TransitionKind, load_rules
from warmnet.messages import EventType

H = 3_600 * S

# --- rate of change -------------------------------------------------------------------

RISING = ruleset(
    rule(
        "rising", "rate_of_change", kind="charging_outlet", field="temp_c", rate_per_min=3,
        window_s=120, when="state == charging", clear_rate_per_min=1, clear_for_s=60,
    )
)  # fmt: skip


def ramp(h: Harness, start: int, per_10s: float, n: int, state: str = "charging") -> None:
    for i in range(n):
        h.send(tele("outlet-01", outlet(start + i * 10 * S, 30 + per_10s * i, state)))


def test_a_socket_warming_3_degrees_a_minute_while_charging_fires() -> None:
    h = Harness(RISING)
    ramp(h, T0, 0.5, 6)  # 0..50 s: under half a window of data, no verdict yet
    assert h.log == []

    h.send(tele("outlet-01", outlet(T0 + 60 * S, 33.0, "charging")))  # a minute at 3/min

    fire = h.of(TransitionKind.FIRE)[0]
    assert fire.at_ms == T0 + 60 * S and fire.value == 3.0
    assert "temp_c rising 3.00/min" in fire.detail


def test_a_slow_rise_or_a_rise_while_idle_does_not_fire() -> None:
    slow = Harness(RISING)
    ramp(slow, T0, 0.4, 60)  # 2.4 degC/min for 10 minutes
    idle = Harness(RISING)
    ramp(idle, T0, 1.0, 60, state="idle")  # fast, but the rule is about charging
    assert slow.log == [] and idle.log == []


def test_a_rate_alert_resolves_once_the_rise_has_slowed_for_its_duration() -> None:
    h = Harness(RISING)
    ramp(h, T0, 0.6, 10)
    assert h.kinds() == ["fire"]
    t = T0 + 100 * S
    for i in range(20):  # flat at 35.4
        h.send(tele("outlet-01", outlet(t + i * 10 * S, 35.4, "charging")))
    resolve = h.of(TransitionKind.RESOLVE)[0]
    # The least-squares slope over the 2-min window falls below 1/min after a while,
    # then has to stay there for 60 s.
    assert t + 60 * S < resolve.at_ms <= t + 150 * S


# --- stuck sensor ---------------------------------------------------------------------

STUCK = ruleset(
    rule(
        "stuck", "stuck_sensor", kind="water_heater", field="water_temp_c",
        when="heating == true", window_s=600, max_variation=0.3,
    )
)  # fmt: skip


def test_water_temperature_frozen_while_heating_fires_after_the_window() -> None:
    h = Harness(STUCK)
    for i in range(40):  # 0..585 s
        h.send(tele("heater-1", heater(T0 + i * 15 * S, 80.1 + (i % 2) * 0.2, heating=True)))
    assert h.log == []
    h.send(tele("heater-1", heater(T0 + 600 * S, 80.1, heating=True)))
    assert h.kinds() == ["fire"]

    h.send(tele("heater-1", heater(T0 + 615 * S, 81.5, heating=True)))  # it moves again
    assert h.kinds() == ["fire", "resolve"]


def test_a_moving_or_idle_temperature_is_not_stuck() -> None:
    h = Harness(STUCK)
    for i in range(80):  # heating: +0.5 degC a minute
        h.send(tele("heater-1", heater(T0 + i * 15 * S, 60 + i * 0.125, heating=True)))
    for i in range(80, 200):  # element off: a constant temperature is expected
        h.send(tele("heater-1", heater(T0 + i * 15 * S, 90.0, heating=False)))
    assert h.log == []


def test_an_occupancy_count_frozen_for_hours_is_stuck_but_an_empty_room_is_not() -> None:
    rules = load_rules()
    empty = Harness(rules)
    for i in range(0, 10 * 120):  # 10 h of 0 people, every 30 s
        empty.send(tele("occupancy", occupancy(T0 + i * 30 * S, 0)))
    assert empty.kinds("occupancy-sensor-stuck") == []

    frozen = Harness(rules)
    for i in range(0, 4 * 120 + 1):  # exactly 4 h of "3 people"
        frozen.send(tele("occupancy", occupancy(T0 + i * 30 * S, 3)))
    fire = frozen.of(TransitionKind.FIRE, "occupancy-sensor-stuck")
    assert [f.at_ms for f in fire] == [T0 + 4 * H]


# --- too long -------------------------------------------------------------------------


def test_charging_longer_than_8_hours_fires_but_back_to_back_sessions_do_not() -> None:
    h = Harness(load_rules())
    rid = "outlet-charging-too-long"
    for i in range(0, 8 * 12):  # every 5 min for 8 h, energy climbing
        h.send(tele("outlet-01", outlet(T0 + i * 5 * MIN, 35, "charging", energy_wh=i * 20.0)))
    assert h.kinds(rid) == []
    h.send(tele("outlet-01", outlet(T0 + 8 * H, 35, "charging", energy_wh=2000)))
    assert h.kinds(rid) == ["fire"]

    h2 = Harness(load_rules())
    for i in range(0, 10 * 12):  # a new session (energy back to 0) at 5 h
        energy = (i % 60) * 20.0
        h2.send(tele("outlet-02", outlet(T0 + i * 5 * MIN, 35, "charging", energy_wh=energy)))
    assert h2.kinds(rid) == []


def test_a_microwave_running_15_minutes_is_cut_off_once() -> None:
    h = Harness(load_rules())
    rid = "microwave-running-too-long"
    for i in range(0, 90):  # one 30-minute cycle, every 10 s
        h.send(tele("microwave-1", microwave(T0 + i * 10 * S, "running", 1800 - i * 10)))
    assert h.kinds(rid) == []
    h.send(tele("microwave-1", microwave(T0 + 15 * MIN, "running", 900)))
    assert h.kinds(rid) == ["fire", "action"]
    for i in range(1, 30):
        h.send(tele("microwave-1", microwave(T0 + 15 * MIN + i * 10 * S, "running", 900 - i * 10)))
    assert h.kinds(rid).count("action") == 1

    h.send(tele("microwave-1", microwave(T0 + 20 * MIN, "idle")))
    assert h.kinds(rid)[-1] == "resolve"


def test_back_to_back_microwave_cycles_are_separate_runs() -> None:
    h = Harness(load_rules())
    t = T0
    for _ in range(8):  # eight 3-minute cycles, no door-open reading between them
        for remaining in range(180, 0, -10):
            h.send(tele("microwave-1", microwave(t, "running", remaining)))
            t += 10 * S
    assert h.kinds("microwave-running-too-long") == []


def test_a_microwave_door_open_10_minutes_fires_minor() -> None:
    h = Harness(load_rules())
    for i in range(0, 61):
        h.send(tele("microwave-1", microwave(T0 + i * 10 * S, "door_open")))
    fire = h.of(TransitionKind.FIRE, "microwave-door-open-too-long")
    assert [(f.at_ms, f.severity.value) for f in fire] == [(T0 + 10 * MIN, "minor")]


def test_a_heater_not_hot_after_30_minutes_of_heating_fires() -> None:
    h = Harness(load_rules())
    rid = "heater-not-reaching-target"
    for i in range(0, 121):  # 30 min from 20 degC at 1 degC/min: never within 15 K of 95
        h.send(tele("heater-1", heater(T0 + i * 15 * S, 20 + i / 4, heating=True)))
    assert [f.at_ms for f in h.of(TransitionKind.FIRE, rid)] == [T0 + 30 * MIN]


# --- faults ---------------------------------------------------------------------------

FAULTS = ruleset(
    rule("outlet-fault", "fault_event", kind="charging_outlet"),
    rule("heater-fault", "fault_event", kind="water_heater", severity="critical"),
    rule("dry", "fault_event", kind="water_heater", codes=["DRY_BURN"], action="cut_power"),
    rule("mw-fault", "fault_event", kind="microwave", for_s=60),
)


def test_fault_events_raise_update_and_clear_one_alert() -> None:
    h = Harness(FAULTS)
    h.send(event("outlet-01", T0, EventType.FAULT_RAISED, "E12"))
    h.send(event("outlet-01", T0 + S, EventType.FAULT_RAISED, "E12"))  # repeated
    h.send(event("outlet-01", T0 + 2 * S, EventType.FAULT_RAISED, "OVERCURRENT"))
    h.send(event("outlet-01", T0 + 3 * S, EventType.FAULT_CLEARED, "E12"))
    assert h.kinds() == ["fire", "update"]
    assert h.of(TransitionKind.FIRE)[0].value == "E12"

    h.send(event("outlet-01", T0 + 4 * S, EventType.FAULT_CLEARED, "OVERCURRENT"))
    assert h.kinds() == ["fire", "update", "resolve"]


def test_late_or_historical_fault_events_change_nothing() -> None:
    h = Harness(FAULTS)
    h.send(event("outlet-01", T0 + 10 * S, EventType.FAULT_RAISED, "E1"))
    h.send(event("outlet-01", T0, EventType.FAULT_CLEARED), now=T0 + 11 * S)  # older
    assert h.kinds() == ["fire"]
    old = event("outlet-02", T0, EventType.FAULT_RAISED, "E1")
    h.send(type(old)(old.station, old.device, old.event.model_copy(update={"historical": True})))
    assert h.kinds() == ["fire"]


def test_telemetry_faults_a_heater_code_and_an_outlet_state() -> None:
    h = Harness(FAULTS)
    h.send(tele("heater-1", heater(T0, fault_code="DRY_BURN")))
    assert sorted(h.kinds()) == ["action", "fire", "fire"]  # heater-fault and dry
    assert {t.key.rule for t in h.of(TransitionKind.FIRE)} == {"heater-fault", "dry"}
    h.send(tele("heater-1", heater(T0 + 15 * S, fault_code=None)))
    assert h.kinds().count("resolve") == 2

    h.send(tele("outlet-01", outlet(T0, 25, "fault")))
    assert h.of(TransitionKind.FIRE, "outlet-fault")[0].value == "STATE_FAULT"


def test_a_code_filter_ignores_other_codes() -> None:
    h = Harness(FAULTS)
    h.send(tele("heater-1", heater(T0, fault_code="E04")))
    assert [t.key.rule for t in h.of(TransitionKind.FIRE)] == ["heater-fault"]


def test_a_fault_with_a_for_duration_fires_on_a_tick_without_more_data() -> None:
    h = Harness(FAULTS)
    h.send(event("microwave-1", T0, EventType.FAULT_RAISED, "F1"))
    h.tick(T0 + 59 * S)
    assert h.log == []
    h.tick(T0 + 60 * S)
    assert h.kinds() == ["fire"]


# --- rider reports --------------------------------------------------------------------


def test_a_rider_report_becomes_an_alert_and_more_reports_update_it() -> None:
    h = Harness(load_rules())
    h.send(report(T0, "no_hot_water", device="heater-1"))
    h.send(report(T0 + MIN, "no_hot_water", device="heater-1"))
    assert h.kinds() == ["fire", "update"]
    fire, update = h.log
    assert fire.key == AlertKey("rider-report", ST, "heater-1") and update.value == 2

    h.send(report(T0 + 2 * MIN, "smoke"))  # danger, no device picked: the station
    danger = h.of(TransitionKind.FIRE, "rider-report-danger")[0]
    assert danger.key == AlertKey("rider-report-danger", ST, None)
    assert danger.severity.value == "critical"


def test_rider_reports_can_need_several_and_expire() -> None:
    h = Harness(
        ruleset(
            rule("many", "rider_report", categories=["dirty"], min_reports=2, window_s=1800,
                 clear_after_s=3600, subject="station"),
        )
    )  # fmt: skip
    h.send(report(T0, "dirty"))
    h.send(report(T0 + 40 * MIN, "dirty"))  # the first is outside the window
    h.send(report(T0 + 41 * MIN, "other"))  # not this rule's category
    assert h.log == []
    h.send(report(T0 + 60 * MIN, "dirty"))
    assert h.kinds() == ["fire"]

    h.tick(T0 + 119 * MIN)
    assert h.kinds() == ["fire"]
    h.tick(T0 + 120 * MIN)  # an hour without new reports
    assert h.kinds() == ["fire", "resolve"]


def test_an_unknown_device_in_a_report_falls_back_to_the_station() -> None:
    h = Harness(load_rules())
    h.send(report(T0, "outlet_broken", device="outlet-99"))
    assert h.log[0].key == AlertKey("rider-report", ST, None)
