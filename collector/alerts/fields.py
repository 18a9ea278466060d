"""Telemetry fields as rules see them, and `when` conditions such as
`state == charging` or `heating == true`.

Fields come from `warmnet.messages.TELEMETRY_MODELS`, so a rule that names a field
its kind does not report is refused when the rules file loads, not at 3 a.m.
"""

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args, get_origin

from warmnet.kinds import DeviceKind
from warmnet.messages import TELEMETRY_MODELS, Reading

FieldType = Literal["number", "bool", "enum", "text"]
Scalar = float | bool | str


@dataclass(frozen=True, slots=True)
class FieldInfo:
    type: FieldType
    choices: tuple[str, ...] = ()  # enum fields


@cache
def telemetry_fields(kind: DeviceKind) -> dict[str, FieldInfo]:
    """The measurement fields of `kind` (without ts/seq/historical)."""
    out: dict[str, FieldInfo] = {}
    for name, info in TELEMETRY_MODELS[kind].model_fields.items():
        if name in Reading.model_fields:
            continue
        ann = info.annotation
        if ann is bool:
            out[name] = FieldInfo("bool")
        elif ann in (int, float):
            out[name] = FieldInfo("number")
        elif get_origin(ann) is Literal:
            out[name] = FieldInfo("enum", tuple(str(a) for a in get_args(ann)))
        else:
            out[name] = FieldInfo("text")
    return out


def field_info(kind: DeviceKind, name: str) -> FieldInfo:
    """The field, or ValueError naming the fields `kind` does have."""
    fields = telemetry_fields(kind)
    if name not in fields:
        raise ValueError(
            f"field {name!r}: {kind.value} telemetry has no such field "
            f"(it has: {', '.join(fields)})"
        )
    return fields[name]


def numeric_field(kind: DeviceKind, name: str) -> None:
    if field_info(kind, name).type != "number":
        raise ValueError(f"field {name!r} of {kind.value} is not a number")


def check_value(kind: DeviceKind, name: str, value: Scalar) -> None:
    """`value` is something field `name` of `kind` can equal."""
    info = field_info(kind, name)
    ok = {
        "bool": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "enum": isinstance(value, str) and value in info.choices,
        "text": isinstance(value, str),
    }[info.type]
    if not ok:
        expected = f"one of {', '.join(info.choices)}" if info.choices else f"a {info.type}"
        raise ValueError(f"{name} {value!r}: {kind.value}.{name} is {expected}")


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}

_COND_RE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(==|!=|>=|<=|>|<)\s*(\S.*?)\s*$")


_REF_RE = re.compile(r"^([a-z_][a-z0-9_]*)\s*(?:([+-])\s*(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True, slots=True)
class Condition:
    """`field op literal` or `field op other_field [+|- number]`, on one reading."""

    field: str
    op: str
    value: Scalar
    ref: str | None = None  # compare with this field (+ value) instead

    def holds(self, reading: object) -> bool:
        actual = getattr(reading, self.field, None)
        other = self.value
        if self.ref is not None:
            base = getattr(reading, self.ref, None)
            if base is None:
                return False
            other = base + self.value
        if actual is None:
            return False
        try:
            return OPS[self.op](actual, other)
        except TypeError:
            return False


def parse_condition(text: str, kind: DeviceKind) -> Condition:
    """Parse and check `text` against the fields of `kind`."""
    m = _COND_RE.match(text)
    if m is None:
        raise ValueError(f"when {text!r}: expected 'field op value', e.g. 'state == charging'")
    name, op, raw = m.groups()
    info = field_info(kind, name)
    value = _literal(raw)
    if info.type == "number" and isinstance(value, str | bool):
        ref = _REF_RE.match(raw)
        if ref is None or isinstance(value, bool):
            raise ValueError(f"when {text!r}: {name} is a number")
        other, sign, offset = ref.groups()
        if field_info(kind, other).type != "number":
            raise ValueError(f"when {text!r}: {other} is not a number")
        delta = float(offset or 0) * (-1 if sign == "-" else 1)
        return Condition(name, op, delta, other)
    if info.type != "number" and op not in ("==", "!="):
        raise ValueError(f"when {text!r}: {name} can only be compared with == or !=")
    if info.type != "number":
        check_value(kind, name, value)
    return Condition(name, op, value)


def _literal(raw: str) -> Scalar:
    if raw in ("true", "false"):
        return raw == "true"
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    try:
        return float(raw)
    except ValueError:
        return raw
