"""The rules file: the bundled default loads and says what the crews need; a bad
edit fails at load time with a message naming the rule and the field."""

from pathlib import Path

import pytest
from alerts_support import rule, ruleset

from collector.alerts import RulesError, Subject, load_rules
from collector.alerts.rules import (
    FaultEventRule,
    GatewayOfflineRule,
    RateOfChangeRule,
    SilenceRule,
    ThresholdRule,
    TooLongRule,
)
from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName
from warmnet.severity import Severity


def test_the_default_rules_file_loads_with_the_safety_rules() -> None:
    rules = load_rules()
    by_id = rules.by_id

    hot = by_id["outlet-socket-overheat"]
    assert isinstance(hot, ThresholdRule)
    assert (hot.kind, hot.field, hot.op, hot.value, hot.for_s) == (
        DeviceKind.CHARGING_OUTLET, "temp_c", ">=", 60, 30,
    )  # fmt: skip
    assert (hot.clear_value, hot.clear_for_s, hot.severity) == (50, 60, Severity.CRITICAL)
    assert hot.action is CommandName.CUT_POWER

    rising = by_id["outlet-socket-heating-fast"]
    assert isinstance(rising, RateOfChangeRule)
    assert rising.rate_per_min == 3 and rising.when == ("state == charging",)

    assert isinstance(by_id["outlet-fault"], FaultEventRule)
    assert by_id["heater-fault"].severity is Severity.CRITICAL
    low = by_id["heater-water-low"]
    assert isinstance(low, ThresholdRule)
    assert (low.op, low.value, low.clear_value, low.severity) == ("<", 15, 25, Severity.WARNING)
    mw = by_id["microwave-running-too-long"]
    assert isinstance(mw, TooLongRule) and mw.limit_s == 900
    door = by_id["microwave-door-open-too-long"]
    assert isinstance(door, TooLongRule) and (door.limit_s, door.severity) == (600, Severity.MINOR)
    assert by_id["occupancy-over-capacity"].severity is Severity.INFO
    silent = by_id["device-silent"]
    assert isinstance(silent, SilenceRule) and silent.intervals == 3
    offline = by_id["station-offline"]
    assert isinstance(offline, GatewayOfflineRule)
    assert (offline.subject, offline.severity) == (Subject.STATION, Severity.MAJOR)


def test_every_default_rule_has_both_languages() -> None:
    for r in load_rules().rules:
        assert r.description.zh and r.description.en, r.id


def test_a_rules_file_on_disk_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nrules:\n"
        "  - {id: hot, type: threshold, severity: critical, kind: charging_outlet,\n"
        "     field: temp_c, op: '>=', value: 70, description: {zh: 热, en: hot}}\n",
        encoding="utf-8",
    )
    assert load_rules(path).by_id["hot"].severity is Severity.CRITICAL


def _error(*rules: dict[str, object]) -> str:
    with pytest.raises(RulesError) as exc:
        ruleset(*rules)
    return str(exc.value)


def test_an_unknown_rule_type_is_named() -> None:
    msg = _error(rule("odd", "telepathy"))
    assert "rule 'odd' (rules[0])" in msg
    assert "unknown rule type 'telepathy'" in msg and "threshold" in msg


def test_a_bad_severity_is_named() -> None:
    msg = _error(rule("sev", "silence", severity="urgent"))
    assert "rule 'sev'" in msg and "severity" in msg and "critical" in msg


def test_a_missing_field_is_named() -> None:
    msg = _error(rule("nofield", "threshold", kind="charging_outlet", op=">=", value=60))
    assert "rule 'nofield'" in msg and "field: Field required" in msg


def test_an_unknown_device_kind_is_named() -> None:
    msg = _error(rule("k", "threshold", kind="toaster", field="temp_c", op=">=", value=1))
    assert "rule 'k'" in msg and "kind" in msg and "charging_outlet" in msg


def test_a_field_the_kind_does_not_report_is_named_with_the_fields_it_has() -> None:
    msg = _error(
        rule("wrong", "threshold", kind="microwave", field="temp_c", op=">=", value=60),
    )
    assert "rule 'wrong'" in msg
    assert "field 'temp_c': microwave telemetry has no such field" in msg
    assert "state, power_w, remaining_s" in msg


def test_conditions_are_checked_against_the_kind() -> None:
    bad_value = rule(
        "w1", "rate_of_change", kind="charging_outlet", field="temp_c", rate_per_min=3,
        when="state == boiling",
    )  # fmt: skip
    assert "charging_outlet.state is one of idle, charging, fault" in _error(bad_value)
    bad_field = rule(
        "w2", "too_long", kind="water_heater", field="heating", value=True, limit_s=60,
        when="water_temp_c < boiling_point",
    )  # fmt: skip
    assert "water_heater telemetry has no such field" in _error(bad_field)
    bad_syntax = rule(
        "w3", "stuck_sensor", kind="water_heater", field="water_temp_c", window_s=60,
        when="heating is on",
    )  # fmt: skip
    assert "expected 'field op value'" in _error(bad_syntax)


def test_threshold_checks_hysteresis_direction_and_types() -> None:
    wrong_side = rule(
        "h", "threshold", kind="charging_outlet", field="temp_c", op=">=", value=60,
        clear_value=70,
    )  # fmt: skip
    assert "clear_value 70 must be <= value 60" in _error(wrong_side)
    not_number = rule("n", "threshold", kind="charging_outlet", field="state", op=">=", value=1)
    assert "field 'state' of charging_outlet is not a number" in _error(not_number)
    too_long_value = rule(
        "t", "too_long", kind="microwave", field="state", value="melting", limit_s=60
    )
    assert "microwave.state is one of" in _error(too_long_value)


def test_extra_keys_and_misplaced_actions_are_refused() -> None:
    typo = rule("x", "silence", interval=3)
    assert "interval: Extra inputs are not permitted" in _error(typo)
    station_action = rule("a", "gateway_offline", action="cut_power")
    assert "action: cut_power needs a device-subject rule" in _error(station_action)
    public_action = rule("r", "rider_report", action="cut_power")
    assert "rule 'r'" in _error(public_action)


def test_duplicate_ids_are_refused() -> None:
    msg = _error(rule("same", "silence"), rule("same", "silence", intervals=5))
    assert "duplicate rule id 'same'" in msg


def test_every_problem_is_reported_at_once() -> None:
    msg = _error(rule("one", "silence", severity="loud"), rule("two", "nonsense"))
    assert "rule 'one'" in msg and "rule 'two'" in msg


def test_an_unreadable_or_malformed_file_says_where(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(RulesError, match="'rules' list"):
        load_rules(empty)
