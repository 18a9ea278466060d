"""Alert quality, offline: every bundled scenario played through the collector's
classification and the real alert engine with the default rules (simulated time,
`now` = arrival time, a Tick every 15 simulated seconds, alert actions executed by
the simulated devices). Each fault scenario raises exactly what its `expect:` says,
in its window, resolved in time, and nothing else."""

import pytest
from scenario_support import check_expectations, payload, play

from collector.alerts import AlertKey, TransitionKind
from simulators.offline import OfflinePlayer
from simulators.scenario import Scenario, list_scenarios, load_scenario
from warmnet import topics
from warmnet.registry import load_fleet

pytestmark = pytest.mark.scenarios

FLEET = load_fleet()

# Player plus engine cost ~0.7 s per station-hour here (the engine ~150 us a
# reading): the whole network for a day (normal-day) would take ~10 min and lunch-rush
# (all stations, 3 h 30) over a minute. Both run on a few stations of different kinds
# instead. normal-day: wmq-07 (24 h commercial, 14 devices), wmq-15 (park, closes at
# 21:00), wmq-22 (community, 07:00-22:00) - about 30 s, most of this file's time (with
# wmq-01 + wmq-30 instead it is ~52 s; it was checked quiet too). Its
# `expect.availability` names wmq-01/wmq-30 and needs a live collector: dropped here.
# lunch-rush: wmq-01 (named by its availability), wmq-13 (community, 07:00-22:00),
# wmq-15 (park).
REDUCED: dict[str, tuple[str, ...]] = {
    "normal-day": ("wmq-07", "wmq-15", "wmq-22"),
    "lunch-rush": ("wmq-01", "wmq-13", "wmq-15"),
}


def scenario(name: str) -> Scenario:
    s = load_scenario(name, FLEET)
    if name in REDUCED:
        expect = s.expect.model_copy(
            update={
                "availability": tuple(
                    a for a in s.expect.availability if a.station in REDUCED[name]
                )
            }
        )
        s = s.model_copy(update={"stations": REDUCED[name], "expect": expect})
        s.check(FLEET)
    return s


def test_every_bundled_scenario_is_covered() -> None:
    assert len(list_scenarios()) >= 11
    assert set(REDUCED) <= set(list_scenarios())


@pytest.mark.parametrize("name", list_scenarios())
def test_scenario_raises_exactly_what_it_expects(name: str) -> None:
    played = play(scenario(name), FLEET)

    assert played.readings > 100, "the scenario produced (almost) no data"
    if name == "normal-day":  # a normal day is quiet: not even an update or a suppress
        assert played.readings > 30_000
        assert played.transitions == [], "\n".join(played.summary())
    problems = check_expectations(played)
    assert problems == [], "\n".join([*problems, "--- transitions:", *played.summary()])
    # Actions happen only with the alerts that carry them.
    expected_commands = {
        (c.station, c.device, c.command.value) for c in played.scenario.expect.commands
    }
    sent = {(k.station, k.device, cmd) for _, k, cmd, _, _ in played.commands}
    assert sent == expected_commands, played.summary()


def test_thermal_runaway_power_is_cut_and_the_outlet_reports_it() -> None:
    s = scenario("outlet-thermal-runaway")
    played = play(s, FLEET, keep=True)
    key = AlertKey("outlet-socket-overheat", "wmq-01", "outlet-03")

    actions = [t for t in played.of(key) if t.kind is TransitionKind.ACTION]
    assert [a.command.value for a in actions if a.command] == ["cut_power"]
    fire = next(t for t in played.of(key) if t.kind is TransitionKind.FIRE)
    assert actions[0].at_ms == fire.at_ms
    (cmd_at, cmd_key, command, ok, detail) = played.commands[0]
    assert (cmd_key, command, ok) == (key, "cut_power", True), detail
    expected = s.expect.commands[0]
    assert played.offset_s(cmd_at) <= expected.by

    # The outlet answers with a command_result event, then reports idle at 0 W.
    events = [
        payload(d)
        for d in played.deliveries
        if d.topic == topics.event("wmq-01", "outlet-03") and d.at_ms >= cmd_at
    ]
    results = [e for e in events if e["type"] == "command_result"]
    assert len(results) == 1 and results[0]["code"] == "OK", events
    assert any(e["type"] == "session_stopped" and e.get("code") == "POWER_CUT" for e in events)
    after = [
        payload(d)
        for d in played.deliveries
        if d.topic == topics.telemetry("wmq-01", "outlet-03") and d.at_ms > cmd_at
    ]
    assert len(after) > 100
    assert all(r["state"] == "idle" and r["power_w"] == 0 for r in after), after[:3]
    # ... and the socket cools: the alerts resolve (checked against expect above too).
    assert after[-1]["temp_c"] < 50


def test_thermal_runaway_without_the_command_trips_the_outlet_cutoff() -> None:
    """Control: nobody cuts the power, the outlet's own cutoff (fault OVERTEMP) trips —
    so the cut_power above is what made the difference."""
    played = play(scenario("outlet-thermal-runaway"), FLEET, apply_actions=False, keep=True)

    events = [
        payload(d) for d in played.deliveries if d.topic == topics.event("wmq-01", "outlet-03")
    ]
    assert any(e["type"] == "fault_raised" for e in events), events
    assert not any(e["type"] == "command_result" for e in events)


def test_offline_play_is_deterministic() -> None:
    s = scenario("device-silent")
    first = [(d.at_ms, d.topic, d.payload) for d in OfflinePlayer(s, FLEET).run()]
    second = [(d.at_ms, d.topic, d.payload) for d in OfflinePlayer(s, FLEET).run()]
    assert first == second
