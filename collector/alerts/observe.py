"""What each rule type sees in one reading, event or report: an observation for the
timer, plus the type's own memory (rate window, stuck run, fault codes, reports).

Pure functions of (rule, timer, input, t); lateness is checked by the caller.
"""

from dataclasses import replace

from collector.alerts.fields import OPS
from collector.alerts.lifecycle import Obs
from collector.alerts.rules import (
    FaultEventRule,
    RateOfChangeRule,
    RiderReportRule,
    StuckSensorRule,
    ThresholdRule,
    TooLongRule,
)
from collector.alerts.state import Timer
from warmnet.messages import DeviceEvent, EventType, Telemetry

MS_PER_MIN = 60_000
WINDOW_SAMPLES = 32  # rate windows keep at most about this many samples
STATE_FAULT = "STATE_FAULT"  # a reading with state=fault but no fault code


def _num(reading: Telemetry, name: str) -> float:
    return float(getattr(reading, name))


def _when(
    rule: ThresholdRule | TooLongRule | RateOfChangeRule | StuckSensorRule, reading: Telemetry
) -> bool:
    """All of the rule's `when` conditions hold (most rules have none: no generator)."""
    for c in rule.conditions:  # noqa: SIM110 (a loop: no generator per call)
        if not c.holds(reading):
            return False
    return True


def threshold(rule: ThresholdRule, timer: Timer, reading: Telemetry, t: int) -> tuple[Timer, Obs]:
    v = _num(reading, rule.field)
    if not _when(rule, reading):
        return timer, Obs(t, False, True, v, f"{rule.field} {v}: {rule.not_when}")
    ref = rule.value if rule.value is not None else _num(reading, rule.value_field or "")
    clear_ref = rule.clear_value if rule.clear_value is not None else ref
    trigger = OPS[rule.op](v, ref)
    clear = OPS[rule.clear_op](v, clear_ref)
    shown = f"{ref:g}" if rule.value_field is None else f"{rule.value_field} {ref:g}"
    op, ref_text = (rule.op, shown) if trigger or not clear else (rule.clear_op, f"{clear_ref:g}")
    return timer, Obs(t, trigger, clear, v, f"{rule.field} {v:g} {op} {ref_text}")


def too_long(rule: TooLongRule, timer: Timer, reading: Telemetry, t: int) -> tuple[Timer, Obs]:
    v = getattr(reading, rule.field)
    held = v == rule.value and _when(rule, reading)
    if rule.restart_field is not None:
        cur = _num(reading, rule.restart_field)
        prev = timer.window[-1][1] if timer.window else None
        timer = timer.with_window(((t, cur),))
        moved = prev is not None and (cur > prev if rule.restart_on == "rise" else cur < prev)
        if moved and timer.active:  # that episode ended; the next reading starts anew
            return timer, Obs(t, False, True, v, f"{rule.field} {v}: new {rule.restart_field}")
        if moved:
            timer = replace(timer, pending_since=None)
    since = timer.pending_since if held and timer.pending_since is not None else t
    detail = (
        f"{rule.field} {v} for {(t - since) / MS_PER_MIN:.0f} min (limit {rule.limit_s / 60:g})"
    )
    return timer, Obs(t, held, not held, v, detail)


def rate(
    rule: RateOfChangeRule, timer: Timer, reading: Telemetry, t: int, gap_ms: int
) -> tuple[Timer, Obs]:
    v = _num(reading, rule.field)
    if not _when(rule, reading):
        return timer.with_window(()), Obs(t, False, True, v, rule.not_when)
    window_ms = int(rule.window_s * 1000)
    samples = list(timer.window)
    if samples and t - samples[-1][0] > gap_ms:
        samples = []  # a gap: old samples say nothing about now
    if not samples or t - samples[-1][0] >= window_ms // WINDOW_SAMPLES:
        samples.append((t, v))
    samples = [(ts, x) for ts, x in samples if ts >= t - window_ms]
    timer = timer.with_window(tuple(samples))
    if samples[-1][0] - samples[0][0] < window_ms // 2:
        return timer, Obs(t, False, False, v, "not enough data for a rate")
    per_min = _slope(samples) * MS_PER_MIN * (1 if rule.direction == "rising" else -1)
    clear_rate = (
        rule.clear_rate_per_min if rule.clear_rate_per_min is not None else rule.rate_per_min
    )
    detail = f"{rule.field} {rule.direction} {per_min:.2f}/min over {rule.window_s:g} s"
    return timer, Obs(
        t, per_min >= rule.rate_per_min, per_min < clear_rate, round(per_min, 3), detail
    )


def _slope(samples: list[tuple[int, float]]) -> float:
    """Least-squares slope, units per ms: one noisy sample does not make a trend."""
    n = len(samples)
    mt = sum(ts for ts, _ in samples) / n
    mv = sum(x for _, x in samples) / n
    den = sum((ts - mt) ** 2 for ts, _ in samples)
    return sum((ts - mt) * (x - mv) for ts, x in samples) / den if den else 0.0


def stuck(
    rule: StuckSensorRule, timer: Timer, reading: Telemetry, t: int, gap_ms: int
) -> tuple[Timer, Obs]:
    v = _num(reading, rule.field)
    if not _when(rule, reading):
        return timer.with_run(None), Obs(t, False, True, v, rule.not_when)
    run = timer.run
    if run is not None and t - (timer.last_ts or t) > gap_ms:
        run = None
    if run is not None and max(run[2], v) - min(run[1], v) <= rule.max_variation:
        run = (run[0], min(run[1], v), max(run[2], v))
    else:
        run = (t, v, v)  # it moved: a new run starts here
    held_ms = t - run[0]
    trigger = held_ms >= rule.window_s * 1000
    detail = f"{rule.field} within {run[1]:g}..{run[2]:g} for {held_ms / MS_PER_MIN:.0f} min"
    return timer.with_run(run), Obs(t, trigger, not trigger, v, detail)


def _fault(rule: FaultEventRule, timer: Timer, t: int) -> Obs:
    codes = timer.codes + ((timer.telemetry_fault,) if timer.telemetry_fault else ())
    code = codes[0] if codes else None
    detail = f"fault {', '.join(dict.fromkeys(codes))}" if codes else "no fault"
    return Obs(t, bool(codes), not codes, code, detail)


def _wanted(rule: FaultEventRule, code: str) -> bool:
    return not rule.codes or code in rule.codes


def fault_reading(
    rule: FaultEventRule, timer: Timer, reading: Telemetry, t: int
) -> tuple[Timer, Obs]:
    fields = type(reading).model_fields
    code = reading.fault_code if "fault_code" in fields else None  # type: ignore[union-attr]
    if code is None and "state" in fields and reading.state == "fault":  # type: ignore[union-attr]
        code = STATE_FAULT
    code = code if code and _wanted(rule, code) else None
    if code != timer.telemetry_fault:
        timer = replace(timer, telemetry_fault=code)
    return timer, _fault(rule, timer, t)


def fault_event(
    rule: FaultEventRule, timer: Timer, event: DeviceEvent, t: int
) -> tuple[Timer, Obs] | None:
    """None: the event means nothing to this rule."""
    codes = list(timer.codes)
    if event.type is EventType.FAULT_RAISED:
        code = event.code or STATE_FAULT
        if not _wanted(rule, code):
            return None
        if code not in codes:
            codes.append(code)
    elif event.type is EventType.FAULT_CLEARED:
        codes = [c for c in codes if c != event.code] if event.code else []
    else:
        return None
    timer = replace(timer, codes=tuple(codes), event_ts=t)
    return timer, _fault(rule, timer, t)


def fault_latched(rule: FaultEventRule, timer: Timer, now: int) -> Obs:
    """A look at a held fault when time passes (for a for-duration)."""
    return _fault(rule, timer, now)


def rider_report(
    rule: RiderReportRule, timer: Timer, category: str, note: str | None, t: int
) -> tuple[Timer, Obs]:
    window_ms = int(rule.window_s * 1000)
    times = [(ts, 1.0) for ts, _ in timer.window if ts > t - window_ms] + [(t, 1.0)]
    n = len(times)
    detail = f"{n} rider report(s) in {rule.window_s / 60:g} min: {category}"
    if note:
        detail += f" ({note[:80]})"
    return replace(timer, window=tuple(times[-100:])), Obs(
        t, n >= rule.min_reports, False, n, detail
    )
