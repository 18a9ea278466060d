"""The alert engine: `evaluate(rules, fleet, state, input, now_ms)` gives the new state
and the transitions. Pure: no I/O, no clock reads; the caller owns time and effects.

Time: data inputs count in their own timestamps (clamped to `now_ms`, so a device
clock running ahead cannot push timers into the future); time-driven rules (silence,
offline, latched faults, expiry) count in `now_ms`. Historical (replayed) data is
ignored; data older than what a timer has seen is late and ignored.
"""

from collections.abc import Iterable
from dataclasses import replace
from typing import Literal

from collector.alerts import observe
from collector.alerts.lifecycle import Obs, StationWork, step
from collector.alerts.model import (
    AlertKey,
    EventInput,
    GatewayInput,
    Input,
    RiderReportInput,
    Subject,
    TelemetryInput,
    Tick,
    Transition,
    TransitionKind,
)
from collector.alerts.rules import (
    RATE,
    STUCK,
    THRESHOLD,
    TOO_LONG,
    FaultEventRule,
    RiderReportRule,
    RuleSet,
)
from collector.alerts.schedule import Plan, plan_full, plan_of, plan_reading, quiet_reading
from collector.alerts.state import (
    EngineState,
    GatewayMemo,
    StationState,
    Timer,
    slot,
    station_map,
    unslot,
)
from collector.alerts.topology import evaluate_station
from warmnet.messages import GatewayState, GatewayStatus, supersedes
from warmnet.registry import DeviceSpec, Fleet
from warmnet.severity import Severity

# Holding a condition needs evidence: a gap of this many reporting intervals in a
# device's data restarts threshold, rate and stuck durations.
GAP_INTERVALS = 3

ManualAction = Literal["resolve", "acknowledge"]


def evaluate(
    rules: RuleSet,
    fleet: Fleet,
    state: EngineState,
    inp: Input,
    now_ms: int,
    *,
    sweep: bool = False,
) -> tuple[EngineState, list[Transition]]:
    """Apply one input at `now_ms`; the given state is not changed.

    A `Tick` evaluates only the stations whose due time has come (`schedule.py`).
    `sweep=True` evaluates every station on every tick and keeps no schedule: the
    reference the scheduled engine must equal (tests, bench/alerts.py)."""
    out: list[Transition] = []
    watch = state.watch_since_ms if state.watch_since_ms is not None else now_ms
    if not sweep:
        basis = state.basis
        if basis is None or basis[0] is not rules or basis[1] is not fleet:
            state = _rebased(state, rules, fleet)
    if isinstance(inp, Tick):
        wanted: Iterable[str] = (
            inp.stations if inp.stations is not None else (s.id for s in fleet.stations)
        )
        stations = state.stations
        changed = {}
        for sid in wanted:
            if not sweep:
                st = stations.get(sid)
                if st is not None and st.due_ms is not None and st.due_ms > now_ms:
                    continue  # nothing of it can change before then
            work = _work(rules, fleet, state, sid, now_ms, watch, out)
            if work is not None:
                _tick(work)
                changed[sid] = work.freeze(None if sweep else plan_full(work))
        return _with(state, changed, watch), out
    work = _work(rules, fleet, state, inp.station, now_ms, watch, out)
    if work is None:
        return _with(state, {}, watch), out  # not a station of this fleet
    plan: Plan | None = None
    if isinstance(inp, TelemetryInput):
        spec = _telemetry(work, inp, quick=not sweep)
        if not sweep:  # ignored (spec None): nothing changed, the schedule holds
            plan = plan_reading(work, spec) if spec is not None else plan_of(work.old)
    else:
        if isinstance(inp, EventInput):
            _event(work, fleet, inp)
        elif isinstance(inp, GatewayInput):
            _gateway(work, inp.status)
        else:
            _report(work, inp)
        plan = None if sweep else plan_full(work)
    return _with_one(state, inp.station, work.freeze(plan), watch), out


def _work(
    rules: RuleSet,
    fleet: Fleet,
    state: EngineState,
    station_id: str,
    now_ms: int,
    watch: int,
    out: list[Transition],
) -> StationWork | None:
    station = fleet.station(station_id)
    if station is None:
        return None
    return StationWork(rules, station, state.station(station_id), now_ms, watch, out)


def _with(state: EngineState, changed: dict[str, StationState], watch: int) -> EngineState:
    fresh = {k: v for k, v in changed.items() if state.stations.get(k) is not v}
    if not fresh and state.watch_since_ms == watch:
        return state
    stations = station_map(state.stations).updated(fresh)
    # The constructor, not `replace`: once per input, and `replace` costs 4 us.
    return EngineState(stations, watch, state.version, state.basis)


def _with_one(state: EngineState, sid: str, new: StationState, watch: int) -> EngineState:
    """`_with(state, {sid: new}, watch)`, quicker (every reading)."""
    held = state.stations
    if held.get(sid) is not new:
        stations = station_map(held).with_station(sid, new)
    elif state.watch_since_ms == watch:
        return state
    else:
        stations = station_map(held)
    return EngineState(stations, watch, state.version, state.basis)


def _rebased(state: EngineState, rules: RuleSet, fleet: Fleet) -> EngineState:
    """Schedules were made for other rules or another fleet: forget them."""
    stale = {k: st.unplanned() for k, st in state.stations.items() if st.due_ms is not None}
    stations = station_map(state.stations).updated(stale)
    return replace(state, stations=stations, basis=(rules, fleet))


def _telemetry(work: StationWork, inp: TelemetryInput, *, quick: bool = False) -> DeviceSpec | None:
    """The reading moves the device's rule timers. None: ignored (nothing changed)."""
    reading = inp.reading
    spec = work.station.device(inp.device)  # work.station: the input's station
    if inp.historical or reading.historical or spec is None or spec.kind is not inp.kind:
        return None
    device = inp.device
    t = min(reading.ts, work.now)
    work.seen(device, t)
    work.read(device, t)
    newest = work.reading_ts[device]  # what this device's timers at rest hold
    at_rest = Timer(last_ts=newest)
    gap_ms = int(GAP_INTERVALS * spec.report_interval_s * 1000)
    for rule, code, for_ms, clear_ms, gapped in work.rules.telemetry_steps[spec.kind]:
        key = slot(rule.id, device)
        timer = work.timers.get(key) or at_rest
        if timer.last_ts is not None and t < timer.last_ts:
            continue  # late: never roll a timer back
        if code == THRESHOLD:
            timer, obs = observe.threshold(rule, timer, reading, t)  # type: ignore[arg-type]
        elif code == RATE:
            timer, obs = observe.rate(rule, timer, reading, t, gap_ms)  # type: ignore[arg-type]
        elif code == STUCK:
            timer, obs = observe.stuck(rule, timer, reading, t, gap_ms)  # type: ignore[arg-type]
        elif code == TOO_LONG:
            timer, obs = observe.too_long(rule, timer, reading, t)  # type: ignore[arg-type]
        else:
            timer, obs = observe.fault_reading(rule, timer, reading, t)  # type: ignore[arg-type]
        timer, change = step(
            timer, obs, for_ms=for_ms, clear_for_ms=clear_ms, gap_ms=gap_ms if gapped else None
        )
        work.set_reading_timer(key, timer, newest)
        if change is not None:
            work.apply(rule, device, change, obs)
    if quick and quiet_reading(work, spec, t):
        work.quiet = True
    else:
        evaluate_station(work, only=device)
    return spec


def _event(work: StationWork, fleet: Fleet, inp: EventInput) -> None:
    event = inp.event
    spec = fleet.device(inp.station, inp.device)
    if event.historical or spec is None:
        return
    t = min(event.ts, work.now)
    work.seen(inp.device, t)  # an event proves the device is alive
    for rule in _fault_rules(work.rules, spec):
        timer = work.timer(rule.id, inp.device)
        if timer.event_ts is not None and t < timer.event_ts:
            continue
        seen = observe.fault_event(rule, timer, event, t)
        if seen is None:
            continue
        timer, obs = seen
        # Events and readings interleave in time: only readings move `last_ts`.
        timer, change = step(timer, obs, for_ms=_ms(rule.for_s), data=False)
        work.set_timer(rule.id, inp.device, timer)
        work.apply(rule, inp.device, change, obs)
    evaluate_station(work, only=inp.device)


def _fault_rules(rules: RuleSet, spec: DeviceSpec) -> list[FaultEventRule]:
    return [r for r in rules.of_type(FaultEventRule) if r.kind in (None, spec.kind)]


def _gateway(work: StationWork, status: GatewayStatus) -> None:
    held = work.gateway
    if not supersedes(status, held):  # the contract's session rule (stale wills, replays)
        return
    back = status.state is GatewayState.ONLINE and (held is None or held.state is not status.state)
    since = work.now if back else (held.online_since_ms if held is not None else None)
    work.gateway = GatewayMemo(status.state, status.session, status.ts, since)
    evaluate_station(work)


def _report(work: StationWork, inp: RiderReportInput) -> None:
    device = inp.device if inp.device in {d.id for d in work.station.devices} else None
    t = min(inp.ts_ms, work.now)
    for rule in work.rules.of_type(RiderReportRule):
        if rule.categories and inp.category not in rule.categories:
            continue
        subject = device if rule.subject is Subject.DEVICE else None
        timer, obs = observe.rider_report(
            rule, work.timer(rule.id, subject), inp.category, inp.note, t
        )
        timer, change = step(timer, obs, for_ms=0, data=False)
        work.set_timer(rule.id, subject, timer)
        work.apply(rule, subject, change, obs, news=True)


def _tick(work: StationWork) -> None:
    evaluate_station(work)
    rules = work.rules
    for key, timer in list(work.timers.items()):
        rule_id, device = unslot(key)
        if rule_id not in rules.enabled_ids:
            work.drop(timer_key=key)
            continue
        rule = rules.ticking.get(rule_id)  # most rules move only with data
        if isinstance(rule, FaultEventRule) and not timer.active:
            obs = observe.fault_latched(rule, timer, work.now)
            timer, change = step(timer, obs, for_ms=_ms(rule.for_s), data=False)
            work.set_timer(rule_id, device, timer)
            work.apply(rule, device, change, obs)
        elif isinstance(rule, RiderReportRule) and rule.clear_after_s is not None and timer.active:
            last = max((ts for ts, _ in timer.window), default=work.now)
            if work.now - last >= rule.clear_after_s * 1000:
                obs = Obs(work.now, False, True, None, "no new rider reports")
                timer, change = step(timer, obs, for_ms=0, data=False)
                work.set_timer(rule_id, device, replace(timer, window=()))
                work.apply(rule, device, change, obs)
    _prune(work)


def _prune(work: StationWork) -> None:
    """Forget alerts past the reopen window; resolve alerts of removed rules."""
    reopen_ms = _ms(work.rules.reopen_window_s)
    for key, alert in list(work.alerts.items()):
        rule_id, device = unslot(key)
        rule = work.rules.by_id.get(rule_id)
        if alert.active and (rule is None or not rule.enabled):
            gone = Transition(
                TransitionKind.RESOLVE,
                alert.id,
                AlertKey(rule_id, work.station.id, device),
                rule.severity if rule is not None else Severity.INFO,
                work.now,
                alert.value,
                "rule removed or disabled",
            )
            work.out.append(gone)
            work.drop(alert_key=key)
        elif not alert.active and work.now - (alert.resolved_ms or 0) > reopen_ms:
            work.drop(alert_key=key)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def apply_manual(
    state: EngineState,
    key: AlertKey,
    action: ManualAction,
    now_ms: int,
    *,
    rules: RuleSet,
    fleet: Fleet,
) -> EngineState:
    """A crew resolved (or acknowledged) an alert in the store.

    Resolving re-arms the rule: its timers restart from `now_ms`, so a condition that
    still holds re-fires after its for-duration (as a reopen), and evidence from
    before the crew's visit does not count. Acknowledging changes nothing here.
    """
    st = state.stations.get(key.station)
    if action != "resolve" or st is None:
        return state
    alert = st.alerts.get(slot(key.rule, key.device))
    if alert is None or not alert.active:
        return state
    resolved = replace(alert, active=False, resolved_ms=now_ms, suppressed=False)
    alerts = {**st.alerts, slot(key.rule, key.device): resolved}
    timers = dict(st.timers)
    # Telemetry timers at rest are not kept (`StationWork.timer`), re-arming holds them
    # too: a station-subject rule's other devices (a device-subject alert's own timer
    # is held while it is active): which devices, the rules and the fleet say.
    station = fleet.station(key.station)
    if key.device is None and station is not None:
        for device_id, ts in st.reading_ts.items():
            spec = station.device(device_id)
            k = slot(key.rule, device_id)
            if spec is not None and key.rule in rules.telemetry_ids[spec.kind] and k not in timers:
                timers[k] = Timer(last_ts=ts)
    for k, timer in list(timers.items()):
        rule_id, device = unslot(k)
        if rule_id == key.rule and (key.device is None or device == key.device):
            timers[k] = replace(
                timer,
                active=False,
                pending_since=None,
                clear_since=None,
                rearm_ms=now_ms,
                window=(),
                run=None,
                codes=(),
            )
    # The schedule is forgotten: the next tick evaluates the station and makes a new one.
    new = replace(st, alerts=alerts, timers=timers).unplanned()
    return replace(state, stations=station_map(state.stations).updated({key.station: new}))
