"""Alert rules are data: `collector/rules.yaml` (commented) loaded and validated here.

Each rule has a `type`; the types and their fields are below. Errors name the rule id
and the field at fault, so a bad edit fails at start-up with a readable message.
"""

from collections.abc import Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from collector.alerts.fields import Condition, check_value, numeric_field, parse_condition
from collector.alerts.model import Subject
from warmnet.explain import explain
from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName, GatewayState
from warmnet.severity import Severity

DEFAULT_RULES = "rules.yaml"  # beside the collector package
T = TypeVar("T")

Seconds = Annotated[float, Field(ge=0, le=7 * 86_400, description="duration, s")]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]
Code = Annotated[str, Field(pattern=r"^[A-Z0-9_]{1,16}$")]
Category = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class RulesError(ValueError):
    """The rules file is unreadable or invalid; the message names rule and field."""


class Text(BaseModel):
    """Short text for crews, in both languages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=160)


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


When = Annotated[tuple[str, ...], BeforeValidator(_as_list)]


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    description: Text
    severity: Severity
    subject: Subject = Subject.DEVICE
    action: CommandName | None = Field(
        default=None, description="command sent to the device when the alert fires"
    )
    enabled: bool = True

    # Types whose alerts may not command a device (nothing to act on, or untrusted).
    _no_action: ClassVar[bool] = False

    @model_validator(mode="after")
    def _action_target(self) -> "RuleBase":
        if self.action is not None and (self._no_action or self.subject is not Subject.DEVICE):
            raise ValueError(
                f"action: {self.action.value} needs a device-subject rule of a type "
                "that observes the device"
            )
        return self


class _KindField(RuleBase):
    """A rule on one field of one device kind, optionally only `when` conditions hold."""

    kind: DeviceKind
    field: str
    when: When = ()

    @model_validator(mode="after")
    def _fields(self) -> "_KindField":
        _ = self.conditions  # parse now: a bad condition fails at load time
        return self

    @cached_property
    def conditions(self) -> tuple[Condition, ...]:
        return tuple(parse_condition(t, self.kind) for t in self.when)

    @cached_property
    def not_when(self) -> str:
        """What an observation says when the `when` conditions do not hold."""
        return f"not {' and '.join(self.when)}"


_CLEAR_OPS = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


class ThresholdRule(_KindField):
    """`field op value` for `for_s`; clears at `clear_value` (hysteresis) for `clear_for_s`."""

    type: Literal["threshold"]
    op: Literal[">=", "<=", ">", "<"]
    value: float | None = None
    value_field: str | None = Field(default=None, description="compare with another field")
    clear_value: float | None = Field(default=None, description="default: value")
    for_s: Seconds = 0
    clear_for_s: Seconds = 0

    @model_validator(mode="after")
    def _threshold(self) -> "ThresholdRule":
        numeric_field(self.kind, self.field)
        if (self.value is None) == (self.value_field is None):
            raise ValueError("give exactly one of value or value_field")
        if self.value_field is not None:
            numeric_field(self.kind, self.value_field)
            if self.clear_value is not None:
                raise ValueError("clear_value needs a numeric value, not value_field")
        if self.value is not None and self.clear_value is not None:
            rising = self.op in (">=", ">")
            if (rising and self.clear_value > self.value) or (
                not rising and self.clear_value < self.value
            ):
                side = "<=" if rising else ">="
                raise ValueError(
                    f"clear_value {self.clear_value:g} must be {side} value {self.value:g}"
                )
        return self

    @property
    def clear_op(self) -> str:
        return _CLEAR_OPS[self.op]


class RateOfChangeRule(_KindField):
    """`field` changing faster than `rate_per_min` (units per minute) over `window_s`."""

    type: Literal["rate_of_change"]
    rate_per_min: float = Field(gt=0)
    direction: Literal["rising", "falling"] = "rising"
    window_s: Seconds = Field(default=120, gt=0)
    clear_rate_per_min: float | None = Field(default=None, ge=0, description="default: rate")
    for_s: Seconds = 0
    clear_for_s: Seconds = 0

    @model_validator(mode="after")
    def _rate(self) -> "RateOfChangeRule":
        numeric_field(self.kind, self.field)
        if self.clear_rate_per_min is not None and self.clear_rate_per_min > self.rate_per_min:
            raise ValueError("clear_rate_per_min must be <= rate_per_min")
        return self


class StuckSensorRule(_KindField):
    """`field` varies by at most `max_variation` for `window_s` where it should move."""

    type: Literal["stuck_sensor"]
    window_s: Seconds = Field(gt=0)
    max_variation: float = Field(default=0.0, ge=0)
    _no_action: ClassVar[bool] = True

    @model_validator(mode="after")
    def _stuck(self) -> "StuckSensorRule":
        numeric_field(self.kind, self.field)
        return self


class TooLongRule(_KindField):
    """`field == value` held for longer than `limit_s` (charging, running, door open).

    `restart_field` marks a new episode when it rises (or drops): a new microwave
    cycle (remaining_s jumps up), a new charging session (energy_wh falls to 0), so
    back-to-back uses are not one long one."""

    type: Literal["too_long"]
    value: float | bool | str
    limit_s: Seconds = Field(gt=0)
    restart_field: str | None = None
    restart_on: Literal["rise", "drop"] = "rise"

    @model_validator(mode="after")
    def _held(self) -> "TooLongRule":
        check_value(self.kind, self.field, self.value)
        if self.restart_field is not None:
            numeric_field(self.kind, self.restart_field)
        return self


class SilenceRule(RuleBase):
    """No data from a device for `intervals` of its reporting interval."""

    type: Literal["silence"]
    kind: DeviceKind | None = None  # None: every kind
    intervals: float = Field(default=3, ge=1, le=1000)
    _no_action: ClassVar[bool] = True

    @model_validator(mode="after")
    def _device(self) -> "SilenceRule":
        if self.subject is not Subject.DEVICE:
            raise ValueError("subject: silence is per device; a silent station is gateway_offline")
        return self


class GatewayOfflineRule(RuleBase):
    """A station unreachable: its gateway's status (or last will) says so, or no device
    of the station reported for `silent_intervals` of its longest reporting interval.
    While it holds, the station's device silence alerts are suppressed."""

    type: Literal["gateway_offline"]
    subject: Subject = Subject.STATION
    states: tuple[GatewayState, ...] = (GatewayState.OFFLINE, GatewayState.STOPPED)
    silent_intervals: float | None = Field(default=3, ge=1, le=1000)
    for_s: Seconds = 0
    clear_for_s: Seconds = 0
    _no_action: ClassVar[bool] = True

    @model_validator(mode="after")
    def _station(self) -> "GatewayOfflineRule":
        if self.subject is not Subject.STATION:
            raise ValueError("subject: gateway_offline is a station alert")
        if GatewayState.ONLINE in self.states:
            raise ValueError("states: 'online' is not an offline state")
        return self


class FaultEventRule(RuleBase):
    """Device faults: fault_raised/fault_cleared events, telemetry `fault_code`, or a
    telemetry `state` of `fault`. `codes` limits it to some codes (empty: any)."""

    type: Literal["fault_event"]
    kind: DeviceKind | None = None
    codes: tuple[Code, ...] = ()
    for_s: Seconds = 0


class RiderReportRule(RuleBase):
    """Reports from the rider app become an alert once `min_reports` came within
    `window_s`; resolved by a crew, or after `clear_after_s` without new reports."""

    type: Literal["rider_report"]
    categories: tuple[Category, ...] = ()  # empty: any category
    min_reports: int = Field(default=1, ge=1, le=100)
    window_s: Seconds = Field(default=1800, gt=0)
    clear_after_s: Seconds | None = None
    _no_action: ClassVar[bool] = True  # the public must not switch devices off


Rule = Annotated[
    ThresholdRule
    | RateOfChangeRule
    | StuckSensorRule
    | TooLongRule
    | SilenceRule
    | GatewayOfflineRule
    | FaultEventRule
    | RiderReportRule,
    Field(discriminator="type"),
]
RULE_TYPES = (
    "threshold", "rate_of_change", "stuck_sensor", "too_long",
    "silence", "gateway_offline", "fault_event", "rider_report",
)  # fmt: skip
DeviceRule = ThresholdRule | RateOfChangeRule | StuckSensorRule | TooLongRule
# How a reading moves each telemetry rule's timer (RuleSet.telemetry_steps).
THRESHOLD, RATE, STUCK, TOO_LONG, FAULT = range(5)
TelemetryStep = tuple[DeviceRule | FaultEventRule, int, int, int, bool]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


_RULE = TypeAdapter[Rule](Rule)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    reopen_window_s: Seconds = Field(
        default=1800, description="a resolved alert that re-fires within this is reopened"
    )
    update_interval_s: Seconds = Field(
        default=60, description="at most one `update` per alert this often"
    )
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique(self) -> "RuleSet":
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"duplicate rule id {r.id!r}")
            seen.add(r.id)
        return self

    @cached_property
    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    @cached_property
    def enabled_ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.enabled)

    @cached_property
    def ticking(self) -> dict[str, Rule]:
        """Rules (besides silence and gateway) whose timers move with time alone."""
        return {
            r.id: r
            for r in self.enabled
            if (isinstance(r, FaultEventRule) and r.for_s > 0)
            or (isinstance(r, RiderReportRule) and r.clear_after_s is not None)
        }

    @cached_property
    def _telemetry(self) -> dict[DeviceKind, tuple[DeviceRule | FaultEventRule, ...]]:
        out: dict[DeviceKind, tuple[DeviceRule | FaultEventRule, ...]] = {}
        for kind in DeviceKind:
            out[kind] = tuple(
                r
                for r in self.enabled
                if (isinstance(r, DeviceRule) and r.kind is kind)
                or (isinstance(r, FaultEventRule) and r.kind in (None, kind))
            )
        return out

    @cached_property
    def telemetry_ids(self) -> dict[DeviceKind, frozenset[str]]:
        """Per kind, the ids of the rules its readings move (their timers at rest are
        not kept: see `StationWork.timer`)."""
        return {kind: frozenset(r.id for r in rules) for kind, rules in self._telemetry.items()}

    @cached_property
    def telemetry_steps(self) -> dict[DeviceKind, tuple[TelemetryStep, ...]]:
        """Per kind, the enabled rules that look at its readings, with what each reading
        needs precomputed: (rule, type code (THRESHOLD...FAULT), for-duration ms,
        clear-duration ms, gapped)."""
        out: dict[DeviceKind, tuple[TelemetryStep, ...]] = {}
        for kind, rules in self._telemetry.items():
            steps: list[TelemetryStep] = []
            for r in rules:
                if isinstance(r, ThresholdRule):
                    steps.append((r, THRESHOLD, _ms(r.for_s), _ms(r.clear_for_s), True))
                elif isinstance(r, RateOfChangeRule):
                    steps.append((r, RATE, _ms(r.for_s), _ms(r.clear_for_s), True))
                elif isinstance(r, StuckSensorRule):
                    steps.append((r, STUCK, 0, 0, True))
                elif isinstance(r, TooLongRule):
                    steps.append((r, TOO_LONG, _ms(r.limit_s), 0, False))
                else:
                    steps.append((r, FAULT, _ms(r.for_s), 0, False))
            out[kind] = tuple(steps)
        return out

    @cached_property
    def type_index(self) -> dict[type, tuple[Any, ...]]:
        return {}  # filled by of_type: evaluation asks for the same types all the time

    def of_type(self, cls: type[T]) -> tuple[T, ...]:
        """Enabled rules of one type."""
        found = self.type_index.get(cls)
        if found is None:
            found = self.type_index[cls] = tuple(r for r in self.enabled if isinstance(r, cls))
        return found


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a rules file (the bundled `collector/rules.yaml` by default)."""
    if path is None:
        text = resources.files("collector").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        where = f"collector/{DEFAULT_RULES}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"{where}: cannot read rules (UTF-8 YAML): {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{where}: not valid YAML: {exc}") from None
    return parse_rules(data, where)


def parse_rules(data: Any, where: str = "rules") -> RuleSet:
    """Validate rules one by one so every message names its rule."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{where}: expected a mapping with a 'rules' list")
    problems: list[str] = []
    rules: list[Rule] = []
    for i, raw in enumerate(data["rules"]):
        name = f"rule {raw.get('id')!r} (rules[{i}])" if isinstance(raw, dict) else f"rules[{i}]"
        try:
            rules.append(_RULE.validate_python(raw))
        except ValidationError as exc:
            problems += [f"  {name}: {line}" for line in _explain(exc, raw)]
    if problems:
        raise RulesError(f"{where}: invalid rules:\n" + "\n".join(problems[:30]))
    try:
        return RuleSet.model_validate({**data, "rules": rules})
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in _explain(exc, data))
        raise RulesError(f"{where}: invalid rules:\n{lines}") from None


def _explain(exc: ValidationError, raw: Any) -> list[str]:
    def describe(err: ErrorDetails) -> str | None:
        if err["type"] == "union_tag_invalid":
            got = raw.get("type") if isinstance(raw, dict) else raw
            return f"type: unknown rule type {got!r} (expected one of: {', '.join(RULE_TYPES)})"
        if err["type"] == "union_tag_not_found":
            return f"type: missing (one of: {', '.join(RULE_TYPES)})"
        return None

    def untagged(loc: Sequence[int | str]) -> Sequence[int | str]:
        # pydantic puts the discriminator tag first; a crew edits fields, not tags.
        return loc[1:] if loc and loc[0] in RULE_TYPES else loc

    return explain(exc, limit=100, rename=untagged, describe=describe)
