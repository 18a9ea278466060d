"""Silence and station topology: a silent device alerts only while its station is
reachable; an offline gateway (last will, status or total silence) raises one station
alert and suppresses its devices' silence alerts; both resolve when it is back."""

from alerts_support import (
    ST,
    T0,
    Harness,
    S,
    gateway,
    heater,
    microwave,
    occupancy,
    outlet,
    rule,
    ruleset,
    tele,
)

from collector.alerts import AlertKey, TelemetryInput, Transition, TransitionKind
from warmnet.messages import GatewayState

ONLINE, OFFLINE, STOPPED = GatewayState.ONLINE, GatewayState.OFFLINE, GatewayState.STOPPED
RULES = ruleset(
    rule("silent", "silence", intervals=3, severity="warning"),
    rule("offline", "gateway_offline", states=["offline", "stopped"], silent_intervals=3),
)
DEVICES = ("outlet-01", "outlet-02", "heater-1", "microwave-1", "occupancy")
STATION_KEY = AlertKey("offline", ST, None)


def reading(device: str, t: int) -> TelemetryInput:
    if device.startswith("outlet"):
        return tele(device, outlet(t))
    if device == "heater-1":
        return tele(device, heater(t))
    if device == "microwave-1":
        return tele(device, microwave(t))
    return tele(device, occupancy(t, 2))


def changes(h: Harness) -> list[Transition]:
    """Transitions but the throttled `update`s of a standing alert."""
    return [t for t in h.log if t.kind is not TransitionKind.UPDATE]


def kinds(h: Harness) -> list[str]:
    return [t.kind.value for t in changes(h)]


def run(h: Harness, start: int, end: int, *, without: tuple[str, ...] = ()) -> None:
    """Every device of st-1 but `without` reports at every full 10 s; st-1 ticks every
    second (st-2 never reports: it would be offline, but these tests are about st-1)."""
    for t in range(start, end, S):
        if (t - T0) % (10 * S) == 0:
            for d in DEVICES:
                if d not in without:
                    h.send(reading(d, t))
        h.tick(t, stations=frozenset({ST}))


def test_a_silent_device_fires_after_3_intervals_and_resolves_when_it_reports() -> None:
    h = Harness(RULES)
    run(h, T0, T0 + 10 * S)  # everyone reported at T0
    run(h, T0 + 10 * S, T0 + 30 * S, without=("outlet-02",))
    assert h.log == []
    run(h, T0 + 30 * S, T0 + 31 * S, without=("outlet-02",))  # 3 x 10 s since T0

    fire = h.of(TransitionKind.FIRE)
    assert [(f.key, f.at_ms, f.severity.value) for f in fire] == [
        (AlertKey("silent", ST, "outlet-02"), T0 + 30 * S, "warning")
    ]
    run(h, T0 + 31 * S, T0 + 5 * 60 * S, without=("outlet-02",))
    assert len(h.of(TransitionKind.FIRE)) == 1  # one alert, updates at most once a minute

    h.send(reading("outlet-02", T0 + 300 * S))
    assert h.kinds()[-1] == "resolve"
    assert h.active() == []


def test_silence_is_judged_on_each_devices_own_interval() -> None:
    h = Harness(RULES)
    run(h, T0, T0 + 10 * S)
    run(h, T0 + 10 * S, T0 + 90 * S, without=("occupancy",))  # 30 s interval: 90 s
    assert h.log == []
    run(h, T0 + 90 * S, T0 + 91 * S, without=("occupancy",))
    assert [f.key.device for f in h.of(TransitionKind.FIRE)] == ["occupancy"]


def test_a_device_that_never_reported_is_silent_from_the_first_evaluation() -> None:
    h = Harness(RULES)
    run(h, T0, T0 + 50 * S, without=("heater-1",))  # heater interval 15 s: 45 s
    # Silent since T0 + 45 s, but only data after that proves the uplink works.
    assert h.log == []
    run(h, T0 + 50 * S, T0 + 51 * S, without=("heater-1",))
    fire = h.of(TransitionKind.FIRE)
    assert [(f.key.device, f.at_ms) for f in fire] == [("heater-1", T0 + 50 * S)]
    assert "never reported" in fire[0].detail


def test_a_last_will_raises_one_station_alert_and_no_device_alerts() -> None:
    h = Harness(RULES)
    h.send(gateway(ONLINE, 1, T0))
    run(h, T0, T0 + 60 * S)
    h.send(gateway(OFFLINE, 1, T0), now=T0 + 75 * S)  # the will carries the session start
    run(h, T0 + 75 * S, T0 + 20 * 60 * S, without=DEVICES)

    assert [(t.kind.value, t.key) for t in changes(h)] == [("fire", STATION_KEY)]
    assert h.log[0].at_ms == T0 + 75 * S and "gateway offline (session 1)" in h.log[0].detail

    h.send(gateway(ONLINE, 2, T0 + 20 * 60 * S))
    assert kinds(h) == ["fire", "resolve"]
    run(h, T0 + 20 * 60 * S, T0 + 30 * 60 * S)
    assert kinds(h) == ["fire", "resolve"]


def test_an_offline_gateway_suppresses_device_alerts_and_both_resolve_when_back() -> None:
    h = Harness(RULES)
    h.send(gateway(ONLINE, 1, T0))
    run(h, T0, T0 + 10 * S)
    run(h, T0 + 10 * S, T0 + 60 * S, without=("outlet-02",))  # outlet-02 died first
    device_key = AlertKey("silent", ST, "outlet-02")
    assert [t.key for t in h.of(TransitionKind.FIRE)] == [device_key]

    h.send(gateway(OFFLINE, 1, T0), now=T0 + 60 * S)
    assert [(t.kind.value, t.key) for t in h.log[-2:]] == [
        ("fire", STATION_KEY),
        ("suppress", device_key),
    ]
    run(h, T0 + 61 * S, T0 + 600 * S, without=DEVICES)
    assert kinds(h) == ["fire", "fire", "suppress"]  # nothing more while it is down

    back = T0 + 600 * S
    h.send(gateway(ONLINE, 2, back))
    run(h, back, back + 60 * S)  # every device reports again, outlet-02 too
    resolved = {t.key for t in h.of(TransitionKind.RESOLVE)}
    assert resolved == {STATION_KEY, device_key}
    assert h.active() == []


def test_a_device_still_silent_after_the_station_is_back_is_shown_again() -> None:
    h = Harness(RULES)
    h.send(gateway(ONLINE, 1, T0))
    run(h, T0, T0 + 10 * S)
    run(h, T0 + 10 * S, T0 + 60 * S, without=("outlet-02",))
    h.send(gateway(OFFLINE, 1, T0), now=T0 + 60 * S)
    back = T0 + 300 * S
    h.send(gateway(ONLINE, 2, back))

    run(h, back, back + 30 * S, without=("outlet-02",))
    assert "unsuppress" not in h.kinds()  # the device gets its intervals to report
    run(h, back + 30 * S, back + 31 * S, without=("outlet-02",))
    assert kinds(h)[-1] == "unsuppress"
    assert h.active() == [AlertKey("silent", ST, "outlet-02")]


def test_a_stale_will_of_an_older_session_changes_nothing() -> None:
    h = Harness(RULES)
    h.send(gateway(ONLINE, 2, T0 + 10 * S))
    h.send(gateway(OFFLINE, 1, T0), now=T0 + 11 * S)
    run(h, T0 + 11 * S, T0 + 120 * S)
    assert h.log == []


def test_a_station_gone_silent_without_a_will_is_one_station_alert() -> None:
    h = Harness(RULES)
    run(h, T0, T0 + 10 * S)  # last data at T0; the longest interval is 30 s
    run(h, T0 + 10 * S, T0 + 90 * S, without=DEVICES)
    assert h.log == []
    run(h, T0 + 90 * S, T0 + 10 * 60 * S, without=DEVICES)

    assert [(t.kind.value, t.key, t.at_ms) for t in changes(h)] == [
        ("fire", STATION_KEY, T0 + 90 * S)
    ]
    assert "no data from any device for 90 s" in h.log[0].detail
    h.send(reading("heater-1", T0 + 10 * 60 * S))
    assert kinds(h) == ["fire", "resolve"]


def test_a_clean_stop_counts_unless_the_rule_leaves_it_out() -> None:
    h = Harness(RULES)
    h.send(gateway(STOPPED, 1, T0))
    assert h.kinds() == ["fire"] and h.log[0].value == "stopped"

    only_will = ruleset(rule("offline", "gateway_offline", states=["offline"]))
    h2 = Harness(only_will)
    h2.send(gateway(STOPPED, 1, T0))
    assert h2.log == []


def test_a_station_never_heard_of_is_offline_and_ticks_cover_only_their_stations() -> None:
    h = Harness(RULES)
    run(h, T0, T0 + 10 * 60 * S)
    assert h.log == []  # st-2 was not ticked

    h.tick(T0 + 10 * 60 * S)  # every station of the fleet
    assert [(t.kind.value, t.key) for t in h.log] == [("fire", AlertKey("offline", "st-2"))]
    assert "no data from any device" in h.log[0].detail


def test_devices_trickling_back_after_a_silent_spell_raise_no_device_alerts() -> None:
    h = Harness(RULES)
    run(h, T0, T0 + 10 * S)
    run(h, T0 + 10 * S, T0 + 5 * 60 * S, without=DEVICES)  # station alert at +90 s
    back = T0 + 5 * 60 * S
    h.send(reading("occupancy", back))  # the first device back resolves the station
    assert kinds(h) == ["fire", "resolve"]

    # The others come back over the next 20 s; outlet-02 does not.
    run(h, back + S, back + 20 * S, without=("outlet-01", "outlet-02", "heater-1"))
    run(h, back + 20 * S, back + 30 * S, without=("outlet-02",))
    assert kinds(h) == ["fire", "resolve"]
    run(h, back + 30 * S, back + 31 * S, without=("outlet-02",))
    assert [(t.kind.value, t.key.device) for t in changes(h)][2:] == [("fire", "outlet-02")]
