"""Threshold rules and the lifecycle every rule shares: for-duration, hysteresis,
clear-duration, one alert per (subject, rule), reopen, historical and late data."""

from alerts_support import MIN, ST, T0, Harness, S, heater, occupancy, outlet, rule, ruleset, tele

from collector.alerts import AlertKey, TransitionKind, load_rules
from warmnet.messages import CommandName

FIRE, UPDATE, RESOLVE, REOPEN, ACTION = (
    TransitionKind.FIRE,
    TransitionKind.UPDATE,
    TransitionKind.RESOLVE,
    TransitionKind.REOPEN,
    TransitionKind.ACTION,
)
HOT = ruleset(
    rule(
        "hot", "threshold", kind="charging_outlet", field="temp_c", op=">=", value=60,
        for_s=30, clear_value=50, clear_for_s=60, action="cut_power", severity="critical",
    )
)  # fmt: skip
KEY = AlertKey("hot", ST, "outlet-01")


def feed(h: Harness, start: int, temps: list[float], step_s: int = 10) -> None:
    for i, temp in enumerate(temps):
        h.send(tele("outlet-01", outlet(start + i * step_s * S, temp)))


def hot_alert(h: Harness, start: int = T0) -> int:
    """Drive the outlet into an active alert; returns the time it fired."""
    feed(h, start, [61, 61, 61, 61])
    assert h.kinds("hot")[-2:] == ["fire", "action"]
    return start + 30 * S


def test_fires_when_the_for_duration_has_passed_and_not_before() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0, 61)))
    h.send(tele("outlet-01", outlet(T0 + 29_999, 62)))
    assert h.log == []

    out = h.send(tele("outlet-01", outlet(T0 + 30 * S, 63)))

    assert [t.kind for t in out] == [FIRE, ACTION]
    fire, action = out
    assert fire.key == KEY and fire.at_ms == T0 + 30 * S and fire.value == 63
    assert fire.severity.value == "critical" and "temp_c 63 >= 60" in fire.detail
    assert action.command is CommandName.CUT_POWER and action.key.device == "outlet-01"
    assert action.alert_id == fire.alert_id


def test_a_dip_below_the_threshold_restarts_the_for_duration() -> None:
    h = Harness(HOT)
    feed(h, T0, [61, 61, 55, 61, 61, 61])  # 0, 10, (20: dip), 30, 40, 50
    assert h.log == []
    h.send(tele("outlet-01", outlet(T0 + 60 * S, 61)))
    assert h.kinds() == ["fire", "action"]


def test_flapping_around_the_threshold_raises_one_alert() -> None:
    h = Harness(HOT)
    fired = hot_alert(h)
    # Ten minutes between 58 and 62: above the clear value, so it stays one alert.
    feed(h, fired + 10 * S, [58, 62] * 30)

    assert h.kinds().count("fire") == 1 and "resolve" not in h.kinds()
    assert h.kinds().count("action") == 1  # power is cut once, not every reading
    updates = h.of(UPDATE)
    assert 8 <= len(updates) <= 11  # throttled: about one a minute
    assert all(u.alert_id == h.of(FIRE)[0].alert_id for u in updates)


def test_flapping_before_it_held_never_fires() -> None:
    h = Harness(HOT)
    feed(h, T0, [59, 61, 61, 59] * 20)
    assert h.log == []


def test_clear_needs_the_clear_value_held_for_its_duration() -> None:
    h = Harness(HOT)
    fired = hot_alert(h)
    t = fired + 10 * S
    feed(h, t, [45, 45, 45, 52, 45, 45, 45, 45, 45, 45])  # 52: back in the band at +30 s
    assert "resolve" not in h.kinds()  # cleared since +40 s: only 50 s so far

    out = h.send(tele("outlet-01", outlet(t + 100 * S, 44)))

    assert [x.kind for x in out] == [RESOLVE]
    assert out[0].at_ms == t + 100 * S and out[0].alert_id == h.of(FIRE)[0].alert_id
    assert h.active() == []


def test_refiring_within_30_minutes_reopens_the_same_alert() -> None:
    h = Harness(HOT)
    hot_alert(h)
    feed(h, T0 + 40 * S, [40] * 7)  # resolved at +100 s
    resolved = h.of(RESOLVE)[0]

    restart = resolved.at_ms + 20 * MIN
    feed(h, restart, [65, 65, 65, 65])

    assert h.kinds()[-2:] == ["reopen", "action"]
    assert h.of(REOPEN)[0].alert_id == h.of(FIRE)[0].alert_id
    assert len(h.of(FIRE)) == 1


def test_refiring_after_30_minutes_is_a_new_alert() -> None:
    h = Harness(HOT)
    hot_alert(h)
    feed(h, T0 + 40 * S, [40] * 7)
    resolved = h.of(RESOLVE)[0]

    later = resolved.at_ms + 31 * MIN
    h.tick(later)  # forgets resolved alerts past the reopen window
    feed(h, later, [65, 65, 65, 65])

    fires = h.of(FIRE)
    assert len(fires) == 2 and fires[0].alert_id != fires[1].alert_id
    assert h.of(REOPEN) == []


def test_historical_data_never_starts_or_advances_a_timer() -> None:
    h = Harness(HOT)
    for i in range(10):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 80, historical=True)))
    assert h.log == [] and h.state.station(ST).timers == {}

    h.send(tele("outlet-01", outlet(T0 + 100 * S, 61)))
    h.send(tele("outlet-01", outlet(T0 + 110 * S, 80, historical=True)))
    h.send(tele("outlet-01", outlet(T0 + 140 * S, 80, historical=True)))
    assert h.log == []  # the live reading alone started the for-duration


def test_late_data_never_rolls_a_timer_back() -> None:
    h = Harness(HOT)
    feed(h, T0, [61, 61, 61])  # pending since T0; newest T0+20
    h.send(tele("outlet-01", outlet(T0 + 5 * S, 25)), now=T0 + 21 * S)  # late and cool
    h.send(tele("outlet-01", outlet(T0 + 30 * S, 61)))
    assert h.kinds() == ["fire", "action"]

    # Nor does late cool data clear an active alert.
    for i in range(10):
        h.send(tele("outlet-01", outlet(T0 + i * S, 20)), now=T0 + 31 * S + i * S)
    assert h.kinds() == ["fire", "action"]


def test_a_device_clock_ahead_cannot_push_timers_into_the_future() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0 + 3_600 * S, 61)), now=T0)  # clamped to T0
    for i in range(1, 4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))  # not "late"
    assert h.kinds() == ["fire", "action"]


def test_a_gap_in_the_data_restarts_the_for_duration() -> None:
    h = Harness(HOT)
    h.send(tele("outlet-01", outlet(T0, 61)))
    h.send(tele("outlet-01", outlet(T0 + 5 * MIN, 61)))  # 5 min without data
    assert h.log == []  # holding needs evidence; the duration restarted
    h.send(tele("outlet-01", outlet(T0 + 5 * MIN + 30 * S, 61)))
    assert h.kinds() == ["fire", "action"]


def test_devices_are_independent_subjects() -> None:
    h = Harness(HOT)
    for i in range(4):
        h.send(tele("outlet-01", outlet(T0 + i * 10 * S, 61)))
        h.send(tele("outlet-02", outlet(T0 + i * 10 * S, 61)))
    assert sorted(t.key.device or "" for t in h.of(FIRE)) == ["outlet-01", "outlet-02"]


def test_a_station_subject_alert_stands_while_any_device_holds() -> None:
    h = Harness(
        ruleset(
            rule(
                "hot-room", "threshold", kind="charging_outlet", field="temp_c", op=">=",
                value=60, subject="station",
            )
        )
    )  # fmt: skip
    h.send(tele("outlet-01", outlet(T0, 61)))
    h.send(tele("outlet-02", outlet(T0 + S, 61)))
    h.send(tele("outlet-01", outlet(T0 + 2 * S, 30)))
    assert h.kinds() == ["fire", "update"]  # outlet-02 joined the same station alert
    assert h.of(FIRE)[0].key == AlertKey("hot-room", ST, None)

    h.send(tele("outlet-02", outlet(T0 + 3 * S, 30)))
    assert h.kinds() == ["fire", "update", "resolve"]


def test_threshold_against_another_field_and_a_when_condition() -> None:
    h = Harness(
        ruleset(
            rule("crowd", "threshold", kind="occupancy_sensor", field="occupied", op=">",
                 value_field="capacity", for_s=60),
            rule("dry", "threshold", kind="water_heater", field="level_pct", op="<", value=5,
                 when="heating == true", clear_value=10),
        )
    )  # fmt: skip
    h.send(tele("occupancy", occupancy(T0, 12, capacity=10)))
    h.send(tele("occupancy", occupancy(T0 + 30 * S, 10, capacity=10)))  # at capacity: fine
    h.send(tele("occupancy", occupancy(T0 + 60 * S, 11, capacity=10)))
    h.send(tele("occupancy", occupancy(T0 + 90 * S, 11, capacity=10)))
    assert h.kinds("crowd") == []
    h.send(tele("occupancy", occupancy(T0 + 120 * S, 13, capacity=10)))
    assert h.kinds("crowd") == ["fire"]

    h.send(tele("heater-1", heater(T0, level_pct=3, heating=False)))  # empty but off: fine
    assert h.kinds("dry") == []
    h.send(tele("heater-1", heater(T0 + 15 * S, level_pct=3, heating=True)))
    assert h.kinds("dry") == ["fire"]
    h.send(tele("heater-1", heater(T0 + 30 * S, level_pct=3, heating=False)))
    assert h.kinds("dry") == ["fire", "resolve"]  # element off: no dry burn


def test_the_default_rules_cut_power_to_an_overheating_outlet_and_clear_at_50() -> None:
    h = Harness(load_rules())
    feed(h, T0, [25, 61, 62, 63])
    assert h.kinds("outlet-socket-overheat") == []
    h.send(tele("outlet-01", outlet(T0 + 40 * S, 64)))
    assert h.kinds("outlet-socket-overheat") == ["fire", "action"]

    feed(h, T0 + 50 * S, [55, 52, 51, 50.5])  # cooling, still >= 50: stays
    feed(h, T0 + 90 * S, [49] * 7)  # below 50 for 60 s
    assert h.kinds("outlet-socket-overheat") == ["fire", "action", "resolve"]
