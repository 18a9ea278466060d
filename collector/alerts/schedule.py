"""When a `Tick` can next change a station: so that a tick evaluates only the stations
whose time has come, not all of them every second.

Every `StationState` carries its schedule:
- `due_ms`: no tick before this time can change the station (state or transitions);
- `wake_ms`: the part of that from timers and alerts (latched faults, rider-report
  expiry, the reopen window, silence of a device while another one reports);
- `floor_ms`: at most the silence deadline of every device of the station.

`due_ms = min(station part, wake_ms)`; the station part (station down or back, the
gateway rule's timers) is cheap and computed afresh after every input, the rest after
a tick that evaluated the station, and after a reading only for what that reading
changed: a reading can only push deadlines later, except that it may show that
another device is silent (a device is only called silent when another one reported
after its deadline), which `floor_ms` detects. Times are exact or earlier: an early
due time costs one evaluation that changes nothing, never a missed change. A
schedule of None means "not known": the next tick evaluates the station.

Anything that must be looked at on every tick (an active gateway-offline or silence
timer, which renews its alert each tick) makes the station due at once.
"""

import math

from collector.alerts.lifecycle import StationWork
from collector.alerts.rules import (
    FaultEventRule,
    GatewayOfflineRule,
    RiderReportRule,
    Rule,
    SilenceRule,
)
from collector.alerts.state import IDLE, Alert, StationState, Timer, slot
from warmnet.messages import GatewayState
from warmnet.registry import DeviceSpec

NEVER = 1 << 62  # nothing time-driven pending

Plan = tuple[int, int, int]  # (due_ms, wake_ms, floor_ms)


def _latest(*times: int | None) -> int | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def plan_of(st: StationState) -> Plan | None:
    """The schedule `st` carries (None: not known)."""
    if st.due_ms is None or st.wake_ms is None or st.floor_ms is None:
        return None
    return st.due_ms, st.wake_ms, st.floor_ms


def plan_full(work: StationWork) -> Plan:
    """The schedule of the station as `work` holds it now, from scratch."""
    wake, floor = _silence(work)
    now = work.now
    rules = work.rules
    enabled, ticking = rules.enabled_ids, rules.ticking
    for key, timer in work.timers.items():
        if wake <= now:
            break
        rule_id = key.partition("/")[0]
        if rule_id not in enabled:
            wake = now  # dropped on the next tick
            break
        rule = ticking.get(rule_id)
        if rule is not None:
            wake = min(wake, _ticking(rule, timer, now))
    for key, alert in work.alerts.items():
        if wake <= now:
            break
        wake = min(wake, _alert(work, key, alert))
    return min(station_due(work), wake), wake, floor


def plan_reading(work: StationWork, spec: DeviceSpec) -> Plan | None:
    """The schedule after a reading of `spec`, from the one before it (None: unknown).
    Only what the reading changed is looked at (`work.touched`, `work.touched_alerts`)."""
    old = work.old
    if old.wake_ms is None or old.floor_ms is None:
        return None
    wake, floor = old.wake_ms, old.floor_ms
    now = work.now
    rules = work.rules
    for key in work.touched:
        rule_id = key.partition("/")[0]
        rule = rules.by_id.get(rule_id)
        if rule is None or not rule.enabled:
            wake = now
        elif isinstance(rule, SilenceRule):
            d_wake, deadline = _silent_device(work, rule, spec, _others(work, spec.id))
            wake, floor = min(wake, d_wake), min(floor, deadline)
        elif rule_id in rules.ticking and key in work.timers:
            wake = min(wake, _ticking(rule, work.timers[key], now))
    for key in work.touched_alerts:
        alert = work.alerts.get(key)
        if alert is not None:
            wake = min(wake, _alert(work, key, alert))
    if work.last_seen.get(spec.id, -1) >= floor:
        # This device reported after another one's deadline: that one may be silent.
        s_wake, floor = _silence(work)
        wake = min(wake, s_wake)
    # After a quiet reading (station up, nothing due) the station's own due time can
    # only move later: keeping the old one is early, never late, and saves recomputing
    # it for every reading (the next tick past it recomputes it in full).
    due = old.due_ms if work.quiet and old.due_ms is not None else station_due(work)
    return min(due, wake), wake, floor


def quiet_reading(work: StationWork, spec: DeviceSpec, t: int) -> bool:
    """True when `evaluate_station(work, only=spec.id)` after a reading at `t` would
    change nothing: the station is up and nothing of it is due (new data only moves its
    deadlines later), and the device's silence timers are idle and far from due."""
    old = work.old
    if old.due_ms is None or work.down or work.now >= old.due_ms:
        return False
    for rule in work.rules.of_type(SilenceRule):
        if rule.kind is not None and spec.kind is not rule.kind:
            continue
        key = slot(rule.id, spec.id)
        timer = work.timers.get(key, IDLE)  # idle timers are not kept
        if timer.active or timer.pending_since is not None:
            return False
        if timer.clear_since is not None:
            return False
        alert = work.alerts.get(key)
        if alert is not None and alert.active:
            return False
        if work.now - t >= int(rule.intervals * spec.report_interval_s * 1000):
            return False  # old data: its deadline may have passed already
    return True


def station_due(work: StationWork) -> int:
    """When a tick can next change the station as a whole: down/back, gateway timers."""
    now = work.now
    gw = work.gateway
    gw_rules = work.rules.of_type(GatewayOfflineRule)
    gw_down = gw is not None and gw.state is not GatewayState.ONLINE
    newest = max(work.last_seen.values(), default=None)
    online = gw.online_since_ms if gw is not None else None
    base = _latest(newest, work.watch_since, online)
    if base is None:
        return now
    silent_at = [
        base + math.ceil(r.silent_intervals * 1000 * work.max_interval_s)
        if r.silent_intervals is not None
        else NEVER
        for r in gw_rules
    ]
    first_silent = min(silent_at, default=NEVER)
    down = gw_down or now >= first_silent
    if down != work.down:
        return now
    due = NEVER if down else first_silent  # down only goes from False to True in time
    for rule, at in zip(gw_rules, silent_at, strict=True):
        timer = work.timers.get(slot(rule.id, None), IDLE)  # idle timers are not kept
        if timer.active or timer.clear_since is not None:
            return now  # renewed (or clearing) on every tick
        trigger_at = 0 if gw is not None and gw.state in rule.states else at
        if now >= trigger_at:
            if timer.rearm_ms is not None and now < timer.rearm_ms:
                due = min(due, timer.rearm_ms)
            elif timer.pending_since is None:
                return now
            else:
                due = min(due, timer.pending_since + int(rule.for_s * 1000))
        elif timer.pending_since is not None:
            return now
        else:
            due = min(due, trigger_at)
    return due


def _silence(work: StationWork) -> tuple[int, int]:
    """(wake, floor) of every device's silence timers."""
    rules = work.rules.of_type(SilenceRule)
    wake = floor = NEVER
    if not rules:
        return wake, floor
    seen = sorted(work.last_seen.items(), key=lambda kv: -kv[1])[:2]
    for rule in rules:
        for spec in work.station.devices:
            if rule.kind is not None and spec.kind is not rule.kind:
                continue
            others = next((ts for dev, ts in seen if dev != spec.id), None)
            d_wake, deadline = _silent_device(work, rule, spec, others)
            wake, floor = min(wake, d_wake), min(floor, deadline)
    return wake, floor


def _others(work: StationWork, device: str) -> int | None:
    return max((ts for dev, ts in work.last_seen.items() if dev != device), default=None)


def _silent_device(
    work: StationWork, rule: SilenceRule, spec: DeviceSpec, others: int | None
) -> tuple[int, int]:
    """(wake, deadline) of one device's silence timer (as `topology._silence` sees it)."""
    now = work.now
    key = slot(rule.id, spec.id)
    timer = work.timers.get(key, IDLE)  # idle timers are not kept
    online = work.gateway.online_since_ms if work.gateway else None
    base = _latest(
        work.last_seen.get(spec.id), work.watch_since, online, work.back_ms, timer.rearm_ms
    )
    deadline = (base or now) + int(rule.intervals * spec.report_interval_s * 1000)
    if timer.active or timer.pending_since is not None:
        return now, deadline
    if timer.clear_since is not None:
        return now, deadline
    alert = work.alerts.get(key)
    if alert is not None and alert.active:
        return now, deadline  # suppressed or shown again as the station goes and comes
    if others is not None and others >= deadline:
        return deadline, deadline  # another device reported after the deadline
    return NEVER, deadline


def _ticking(rule: Rule, timer: Timer, now: int) -> int:
    """When the tick's look at a latched fault or a rider report can move `timer`."""
    if isinstance(rule, FaultEventRule):
        if timer.active:
            return NEVER
        if timer.clear_since is not None:
            return now
        if timer.codes or timer.telemetry_fault:
            if timer.rearm_ms is not None and now < timer.rearm_ms:
                return timer.rearm_ms
            if timer.pending_since is None:
                return now
            return timer.pending_since + int(rule.for_s * 1000)
        return now if timer.pending_since is not None else NEVER
    if isinstance(rule, RiderReportRule) and rule.clear_after_s is not None and timer.active:
        if not timer.window:
            return now
        last = max(ts for ts, _ in timer.window)
        return last + math.ceil(rule.clear_after_s * 1000)
    return NEVER


def _alert(work: StationWork, key: str, alert: Alert) -> int:
    """When the tick's prune can change `alert` (or a silence alert's suppression)."""
    rule = work.rules.by_id.get(key.partition("/")[0])
    if alert.active:
        if rule is None or not rule.enabled or isinstance(rule, SilenceRule):
            return work.now
        return NEVER
    return (alert.resolved_ms or 0) + int(work.rules.reopen_window_s * 1000) + 1
