"""Time-driven station rules: device silence and the station-offline alert.

A station is *down* when its gateway said offline/stopped (status or last will), or
when no device of it reported for `silent_intervals` of its longest interval. While a
station is down its devices' silence alerts are suppressed and one station alert
stands for them. A single device is only called silent when another device of the
same station reported after its deadline: otherwise we cannot tell a dead device from
a dead uplink, and the station rule speaks instead. When a station is back, each of
its devices gets its own intervals to report again before it counts as silent.
"""

from dataclasses import dataclass

from collector.alerts.lifecycle import Obs, StationWork, step
from collector.alerts.rules import GatewayOfflineRule, SilenceRule
from warmnet.messages import GatewayState


@dataclass(frozen=True, slots=True)
class Down:
    down: bool
    why: str = ""


def _latest(*times: int | None) -> int | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def station_silent(work: StationWork, intervals: float) -> tuple[bool, int | None]:
    """(silent, ms since the newest data of any device)."""
    newest = max(work.last_seen.values(), default=None)
    online = work.gateway.online_since_ms if work.gateway else None
    base = _latest(newest, work.watch_since, online)
    limit_ms = intervals * 1000 * work.max_interval_s
    quiet = None if newest is None else work.now - newest
    return base is not None and work.now - base >= limit_ms, quiet


def station_down(work: StationWork) -> Down:
    gw = work.gateway
    if gw is not None and gw.state is not GatewayState.ONLINE:
        return Down(True, f"gateway {gw.state.value} (session {gw.session})")
    for rule in work.rules.of_type(GatewayOfflineRule):
        if rule.silent_intervals is not None:
            silent, quiet = station_silent(work, rule.silent_intervals)
            if silent:
                since = "ever" if quiet is None else f"{quiet / 1000:.0f} s"
                return Down(True, f"no data from any device for {since}")
    return Down(False)


def evaluate_station(work: StationWork, only: str | None = None) -> None:
    """Look at the time-driven rules of one station at `work.now`; with `only`, just
    that device's silence (it reported: the cheap path taken for every reading)."""
    down = station_down(work)
    if work.down and not down.down:
        work.back_ms = work.now  # devices come back one by one: give each its intervals
    work.down = down.down
    for gw_rule in work.rules.of_type(GatewayOfflineRule):
        _gateway(work, gw_rule)
    for rule in work.rules.of_type(SilenceRule):
        _silence(work, rule, down, only)


def _gateway(work: StationWork, rule: GatewayOfflineRule) -> None:
    gw = work.gateway
    by_status = gw is not None and gw.state in rule.states
    silent, quiet = (False, None)
    if rule.silent_intervals is not None:
        silent, quiet = station_silent(work, rule.silent_intervals)
    if by_status and gw is not None:
        value, detail = gw.state.value, f"gateway {gw.state.value} (session {gw.session})"
    elif silent:
        value = "no_data"
        detail = "no data from any device" + ("" if quiet is None else f" for {quiet / 1000:.0f} s")
    else:
        value, detail = "online", "station reporting again"
    trigger = by_status or silent
    obs = Obs(work.now, trigger, not trigger, value, detail)
    timer, change = step(
        work.timer(rule.id, None),
        obs,
        for_ms=int(rule.for_s * 1000),
        clear_for_ms=int(rule.clear_for_s * 1000),
        data=False,
    )
    work.set_timer(rule.id, None, timer)
    work.apply(rule, None, change, obs)


def _silence(work: StationWork, rule: SilenceRule, down: Down, only: str | None) -> None:
    online = work.gateway.online_since_ms if work.gateway else None
    if only is None:
        specs = work.station.devices
    else:
        one = work.station.device(only)
        specs = [] if one is None else [one]
    # The two newest reporters are enough to find "another device" for each device.
    seen = [] if only else sorted(work.last_seen.items(), key=lambda kv: -kv[1])[:2]
    for spec in specs:
        if rule.kind is not None and spec.kind is not rule.kind:
            continue
        timer = work.timer(rule.id, spec.id)
        limit_ms = int(rule.intervals * spec.report_interval_s * 1000)
        last = work.last_seen.get(spec.id)
        base = _latest(last, work.watch_since, online, work.back_ms, timer.rearm_ms)
        deadline = (base or work.now) + limit_ms
        # Another device reported after this one's deadline: the uplink works. (A
        # device that just reported is not silent: no need to look, `only` is cheap.)
        others = None if only else next((ts for dev, ts in seen if dev != spec.id), None)
        alive = others is not None and others >= deadline
        trigger = work.now >= deadline and alive and not down.down
        clear = last is not None and work.now - last < limit_ms
        quiet = "never reported" if last is None else f"silent for {(work.now - last) / 1000:.0f} s"
        silent_s = None if last is None else round((work.now - last) / 1000, 1)
        obs = Obs(work.now, trigger, clear, silent_s, f"{spec.id} {quiet}")
        timer, change = step(timer, obs, for_ms=0, data=False)
        work.set_timer(rule.id, spec.id, timer)
        work.apply(rule, spec.id, change, obs)
        if down.down:
            work.suppress(rule, spec.id, True, f"station down: {down.why}")
        elif trigger:
            work.suppress(rule, spec.id, False, f"{spec.id} still silent with the station back")
