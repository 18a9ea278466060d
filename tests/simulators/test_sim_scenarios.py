"""Scenario files: every bundled one loads and checks out against the fleet and the
default alert rules; broken ones fail with errors that say where and why."""

from pathlib import Path

import pytest
import yaml

from simulators.fault_types import parse_duration
from simulators.scenario import (
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    parse_scenario,
)
from warmnet.registry import load_fleet

FLEET = load_fleet()
RULES_FILE = Path(__file__).resolve().parents[2] / "collector" / "rules.yaml"
REQUIRED = {
    "normal-day",
    "lunch-rush",
    "heater-element-failure",
    "outlet-thermal-runaway",
    "stuck-sensor",
    "device-silent",
    "gateway-partition",
    "gateway-crash-restart",
    "clock-skew",
    "duplicate-out-of-order",
    "malformed-payloads",
}


def test_the_required_scenarios_are_bundled() -> None:
    assert set(list_scenarios()) >= REQUIRED


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_scenario_loads_and_checks_out_against_the_fleet(name: str) -> None:
    scenario = load_scenario(name, FLEET)
    assert scenario.name == name
    assert scenario.description.strip()
    assert scenario.duration > 0 and scenario.speed > 0
    for f in scenario.faults:
        assert f.at < scenario.duration
    for a in scenario.expect.alerts:
        assert a.after <= a.by <= scenario.duration


def test_expectations_name_rules_of_the_default_rule_file() -> None:
    rules = {r["id"] for r in yaml.safe_load(RULES_FILE.read_text())["rules"]}
    for name in list_scenarios():
        expect = load_scenario(name).expect
        used = {a.rule for a in expect.alerts} | {a.rule for a in expect.allowed}
        assert used <= rules, f"{name}: {sorted(used - rules)} not in collector/rules.yaml"


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("10m") == 600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5h") == 5400
    assert parse_duration(45) == 45
    for bad in ("ten minutes", "", "5 d", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


GOOD = """
name: tiny
description: a test scenario
stations: [wmq-01]
start: "14:00"
duration: 30m
faults:
  - {at: 5m, station: wmq-01, device: outlet-03, type: thermal_runaway}
expect:
  alerts:
    - {rule: outlet-socket-overheat, station: wmq-01, device: outlet-03, by: 20m}
"""


def test_a_good_scenario_parses_with_defaults() -> None:
    s = parse_scenario(GOOD, "tiny.yaml")
    assert isinstance(s, Scenario)
    (fault,) = s.faults
    assert fault.type_name == "thermal_runaway"
    assert fault.params.rate_c_per_min == 5.0  # type: ignore[union-attr]
    assert s.speed == 60 and s.seed == 7 and s.start.hour == 14
    s.check(FLEET)


BROKEN = [  # (what to change in GOOD, the error message that must appear)
    (("thermal_runaway", "meteor_strike"), "does not match any of the expected"),
    (
        ("type: thermal_runaway", "type: thermal_runaway, params: {rate_c_per_min: 99}"),
        "faults[0].thermal_runaway.params.rate_c_per_min: Input should be less than or equal",
    ),
    (("at: 5m", "at: 2h"), "faults[0] (thermal_runaway): at is not before the end"),
    (("duration: 30m", "duration: half an hour"), "duration: duration 'half an hour'"),
    (("device: outlet-03, ", ""), "needs one station and a device"),
    (('"14:00"', '"2pm"'), "start '2pm': expected local time HH:MM"),
    (("by: 20m", "by: 20m, colour: red"), "expect.alerts[0].colour: Extra inputs"),
    (("by: 20m}", "by: 20m}\n  bogus: 1"), "expect.bogus: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "message"), BROKEN)
def test_a_broken_scenario_says_where_and_why(change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    with pytest.raises(ScenarioError) as info:
        parse_scenario(GOOD.replace(*change), "broken.yaml")
    assert str(info.value).startswith("broken.yaml: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("- just a list", "a scenario is a mapping"), ("name: [unclosed", "not valid YAML")],
)
def test_a_scenario_that_is_not_a_yaml_mapping_is_refused(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, "broken.yaml")


MISFITS = [  # (what to change in GOOD, the error message `check(fleet)` must give)
    (("device: outlet-03", "device: outlet-99"), "(thermal_runaway): no device 'outlet-99'"),
    (
        ("device: outlet-03, type", "device: heater-1, type"),
        "heater-1 is a water_heater, the fault needs a charging_outlet",
    ),
    (("stations: [wmq-01]", "stations: [wmq-01, wmq-77]"), "no station 'wmq-77'"),
    (
        ("station: wmq-01, device: outlet-03, by", "station: wmq-02, device: outlet-03, by"),
        "expect.alerts[0]: station 'wmq-02' is not one of the scenario's stations",
    ),
]


@pytest.mark.parametrize(("change", "message"), MISFITS)
def test_a_scenario_that_does_not_fit_the_fleet_is_refused(
    change: tuple[str, str], message: str
) -> None:
    assert change[0] in GOOD
    scenario = parse_scenario(GOOD.replace(*change), "misfit.yaml")
    with pytest.raises(ScenarioError, match="scenario tiny") as info:
        scenario.check(FLEET)
    assert message in str(info.value)


def test_stuck_sensor_fields_are_checked_against_the_device_kind() -> None:
    text = GOOD.replace(
        "type: thermal_runaway", "type: stuck_sensor, params: {field: water_temp_c}"
    )
    with pytest.raises(ScenarioError, match="a charging_outlet has no field 'water_temp_c'"):
        parse_scenario(text).check(FLEET)


def test_loading_by_name_or_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario named 'nope'; bundled: clock-skew"):
        load_scenario("nope")
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    assert load_scenario(path, FLEET).name == "tiny"
    other = tmp_path / "other.yaml"
    other.write_text(GOOD)
    with pytest.raises(ScenarioError, match="name 'tiny' differs from the file name 'other'"):
        load_scenario(str(other))
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.yaml")
