"""The two layers every rule shares.

1. `step`: one observation moves a timer. The trigger condition must hold for the
   for-duration to confirm; once confirmed, the clear condition must hold for the
   clear-duration to release. Between the two (hysteresis band) nothing moves.
2. `StationWork.apply`: a timer's confirm/renew/release becomes alert transitions for
   its subject: fire or reopen, throttled update, resolve. One alert per (subject,
   rule); a station-subject alert stands while any of its devices is confirmed.
"""

from dataclasses import dataclass, replace
from enum import Enum

from collector.alerts.model import AlertKey, Subject, Transition, TransitionKind, Value
from collector.alerts.rules import Rule, RuleSet
from collector.alerts.state import IDLE, Alert, GatewayMemo, StationState, Timer, slot
from warmnet.registry import Station


@dataclass(slots=True)
class Obs:
    """One look at a condition at time `t` (data time, or evaluation time).

    Not frozen: about five are made per reading and none is kept or changed; a frozen
    dataclass's `__init__` (one `object.__setattr__` per field) costs three times as
    much. Treat it as immutable."""

    t: int
    trigger: bool
    clear: bool  # may be False with trigger False: the hysteresis band, or "unknown"
    value: Value = None
    detail: str = ""


class Change(Enum):
    CONFIRM = "confirm"  # became active
    RENEW = "renew"  # active and still triggering
    RELEASE = "release"  # cleared for the clear-duration


def step(
    timer: Timer,
    obs: Obs,
    *,
    for_ms: int,
    clear_for_ms: int = 0,
    gap_ms: int | None = None,
    data: bool = True,
) -> tuple[Timer, Change | None]:
    """Move `timer` by `obs`. Callers drop late data before; `data=False` marks a
    time-driven look (it must not move `last_ts`, which is in device time). A gap in
    the data longer than `gap_ms` restarts the durations: holding needs evidence."""
    pending, clearing, active = timer.pending_since, timer.clear_since, timer.active
    if gap_ms is not None and timer.last_ts is not None and obs.t - timer.last_ts > gap_ms:
        pending = clearing = None
    change: Change | None = None
    if not active:
        clearing = None
        rearmed = timer.rearm_ms is None or obs.t >= timer.rearm_ms
        if obs.trigger and rearmed:
            pending = obs.t if pending is None else pending
            if obs.t - pending >= for_ms:
                active, change = True, Change.CONFIRM
        elif not obs.trigger:
            pending = None
    elif obs.trigger:
        clearing, change = None, Change.RENEW
    elif obs.clear:
        clearing = obs.t if clearing is None else clearing
        if obs.t - clearing >= clear_for_ms:
            active, pending, clearing, change = False, None, None, Change.RELEASE
    else:
        clearing = None
    last_ts = timer.last_ts
    if data:
        last_ts = obs.t if last_ts is None else max(last_ts, obs.t)
    same = (last_ts, pending, clearing, active) == (
        timer.last_ts,
        timer.pending_since,
        timer.clear_since,
        timer.active,
    )
    if same:
        return timer, change
    new = timer.moved(last_ts, pending, clearing, active)
    return new, change


class StationWork:
    """A scratch copy of one station's state for one evaluation; `freeze()` gives the
    new immutable state (the old one is untouched)."""

    def __init__(
        self,
        rules: RuleSet,
        station: Station,
        st: StationState,
        now_ms: int,
        watch_since_ms: int,
        out: list[Transition],
    ) -> None:
        self.rules = rules
        self.station = station
        self.now = now_ms
        self.watch_since = watch_since_ms
        self.out = out
        self.old = st
        self.quiet = False  # a reading that provably changed nothing station-wide
        self._dirty = False
        # Keys of the timers and alerts this evaluation changed (for the schedule).
        self.touched: list[str] = []
        self.touched_alerts: list[str] = []
        self.timers = dict(st.timers)
        self.alerts = dict(st.alerts)
        self.last_seen = dict(st.last_seen)
        self.reading_ts = dict(st.reading_ts)
        self.gateway: GatewayMemo | None = st.gateway
        self.down = st.down
        self.back_ms = st.back_ms

    @property
    def max_interval_s(self) -> float:
        return self.station.max_interval_s  # cached by the station, not per evaluation

    def freeze(self, plan: tuple[int, int, int] | None = None) -> StationState:
        """The new state, with its schedule `plan` (due, wake, floor; None: unknown)."""
        old = self.old
        due, wake, floor = plan if plan is not None else (None, None, None)
        if (
            not self._dirty
            and (self.gateway, self.down, self.back_ms) == (old.gateway, old.down, old.back_ms)
            and self.reading_ts == old.reading_ts
            and (due, wake, floor) == (old.due_ms, old.wake_ms, old.floor_ms)
        ):
            return old
        return StationState(
            self.timers, self.alerts, self.last_seen, self.gateway, self.down, self.back_ms,
            self.reading_ts, due, wake, floor,
        )  # fmt: skip

    def set_alert(self, k: str, alert: Alert) -> None:
        self.alerts[k] = alert
        self.touched_alerts.append(k)
        self._dirty = True

    def drop(self, timer_key: str | None = None, alert_key: str | None = None) -> None:
        if timer_key is not None:
            del self.timers[timer_key]
            self.touched.append(timer_key)
        if alert_key is not None:
            del self.alerts[alert_key]
        self._dirty = True

    def set_reading_timer(self, k: str, timer: Timer, newest: int) -> None:
        """`set_timer` for a telemetry rule of a device whose newest reading is at
        `newest` (the per-reading path: what rest is, the caller already knows)."""
        self._put(k, timer, newest)

    def _put(self, k: str, timer: Timer, rest_ts: int | None) -> None:
        """Keep `timer` under `k`, or drop it when it is at rest (`last_ts == rest_ts`,
        nothing else held): a missing timer reads back as exactly that."""
        held = self.timers.get(k)
        if timer.last_ts == rest_ts and timer.at_rest():
            if held is None:
                return
            del self.timers[k]
        elif held is not timer and held != timer:
            self.timers[k] = timer
        else:
            return
        self.touched.append(k)
        self._dirty = True

    def read(self, device: str, t: int) -> None:
        """A live reading of `device` at `t` that is not late: first, before its rule
        timers move (they are at rest with this time when not kept)."""
        if t > self.reading_ts.get(device, -1):
            self.reading_ts[device] = t
            self._dirty = True

    def seen(self, device: str, t: int) -> None:
        """Newest live data of `device` (never rolls back)."""
        if t > self.last_seen.get(device, -1):
            self.last_seen[device] = t
            self._dirty = True

    def _rest_ts(self, rule: str, device: str | None) -> int | None:
        """`last_ts` of a missing timer: the device's newest reading time for a rule
        its readings move, else None."""
        if device is None:
            return None
        ts = self.reading_ts.get(device)
        if ts is None:
            return None
        spec = self.station.device(device)
        if spec is None or rule not in self.rules.telemetry_ids[spec.kind]:
            return None
        return ts

    def timer(self, rule: str, device: str | None) -> Timer:
        held = self.timers.get(slot(rule, device))
        if held is not None:
            return held
        ts = self._rest_ts(rule, device)
        return IDLE if ts is None else Timer(last_ts=ts)

    def set_timer(self, rule: str, device: str | None, timer: Timer) -> None:
        """A timer at rest is not kept (a missing one is at rest, see `timer`): most
        timers of a city's 50,000 devices are, and each kept one costs ~200 bytes."""
        self._put(slot(rule, device), timer, self._rest_ts(rule, device))

    def key(self, rule: Rule, device: str | None) -> AlertKey:
        return AlertKey(
            rule.id, self.station.id, device if rule.subject is Subject.DEVICE else None
        )

    def emit(
        self, kind: TransitionKind, rule: Rule, key: AlertKey, alert: Alert, at_ms: int, detail: str
    ) -> None:
        self.out.append(
            Transition(
                kind,
                alert.id,
                key,
                rule.severity,
                at_ms,
                alert.value,
                detail,
                rule.action if kind is TransitionKind.ACTION else None,
            )
        )

    def apply(
        self, rule: Rule, device: str | None, change: Change | None, obs: Obs, *, news: bool = False
    ) -> None:
        """Turn a timer change of `device` (None: the station) into transitions.
        `news`: every renew is worth an update (a new rider report), no throttling."""
        if change is None:
            return
        key = self.key(rule, device)
        alert = self.alerts.get(slot(key.rule, key.device))
        if change is Change.CONFIRM:
            self._confirm(rule, key, alert, obs)
        elif change is Change.RENEW and alert is not None and alert.active:
            self._renew(rule, key, alert, obs, news)
        elif change is Change.RELEASE and alert is not None and alert.active:
            if rule.subject is Subject.STATION and self._any_active(rule):
                return  # another device still holds the station alert
            self.resolve(rule, key, alert, obs.t, obs.detail or "cleared")

    def _confirm(self, rule: Rule, key: AlertKey, alert: Alert | None, obs: Obs) -> None:
        if alert is not None and alert.active:
            self._renew(rule, key, alert, obs, news=True)  # e.g. a second device of the station
            return
        reopen_ms = int(self.rules.reopen_window_s * 1000)
        recent = alert is not None and alert.resolved_ms is not None
        if alert is not None and recent and obs.t - (alert.resolved_ms or 0) <= reopen_ms:
            alert = replace(
                alert,
                active=True,
                resolved_ms=None,
                last_seen_ms=obs.t,
                updated_ms=obs.t,
                value=obs.value,
                suppressed=False,
            )
            kind = TransitionKind.REOPEN
        else:
            alert = Alert(f"{key}@{obs.t}", True, obs.t, obs.t, obs.t, value=obs.value)
            kind = TransitionKind.FIRE
        self.set_alert(slot(key.rule, key.device), alert)
        self.emit(kind, rule, key, alert, obs.t, obs.detail)
        if rule.action is not None:
            self.emit(TransitionKind.ACTION, rule, key, alert, obs.t, obs.detail)

    def _renew(self, rule: Rule, key: AlertKey, alert: Alert, obs: Obs, news: bool) -> None:
        interval_ms = int(self.rules.update_interval_s * 1000)
        changed_code = isinstance(obs.value, str) and obs.value != alert.value
        due = obs.t - alert.updated_ms >= interval_ms
        alert = replace(alert, last_seen_ms=max(alert.last_seen_ms, obs.t), value=obs.value)
        if news or changed_code or due:
            alert = replace(alert, updated_ms=obs.t)
            self.emit(TransitionKind.UPDATE, rule, key, alert, obs.t, obs.detail)
        self.set_alert(slot(key.rule, key.device), alert)

    def resolve(self, rule: Rule, key: AlertKey, alert: Alert, at_ms: int, detail: str) -> None:
        alert = replace(alert, active=False, resolved_ms=at_ms, suppressed=False)
        self.set_alert(slot(key.rule, key.device), alert)
        self.emit(TransitionKind.RESOLVE, rule, key, alert, at_ms, detail)

    def suppress(self, rule: Rule, device: str, hide: bool, detail: str) -> None:
        """Hide an active alert of `device` (its station is down), or show it again."""
        key = AlertKey(rule.id, self.station.id, device)
        alert = self.alerts.get(slot(rule.id, device))
        if alert is None or not alert.active or alert.suppressed == hide:
            return
        alert = replace(alert, suppressed=hide)
        self.set_alert(slot(rule.id, device), alert)
        kind = TransitionKind.SUPPRESS if hide else TransitionKind.UNSUPPRESS
        self.emit(kind, rule, key, alert, self.now, detail)

    def _any_active(self, rule: Rule) -> bool:
        prefix = f"{rule.id}/"
        return any(t.active for k, t in self.timers.items() if k.startswith(prefix))
