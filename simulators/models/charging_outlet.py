"""E-bike battery charging outlet: idle → charging session → idle.

A session follows a CC/CV-like curve: power rises a little while the charger holds a
constant current (the battery voltage climbs), then tapers exponentially at constant
voltage until the charger stops. Energy is the exact integral of that curve; the
socket temperature follows power and room temperature with a first-order lag.

Scenarios can start a thermal runaway (a damaged battery or a loose contact): while
that session charges, the socket heats at a scripted rate on top of the normal curve,
until the power is cut, the session ends, or the outlet's own thermal cutoff trips
(fault `OVERTEMP`). Events: `session_started` / `session_stopped` (code COMPLETE,
POWER_CUT or FAULT), `fault_raised` / `fault_cleared`.
"""

import math
from dataclasses import dataclass, replace
from typing import ClassVar

from simulators.env import MS_PER_H, NEVER_MS, StationEnv, demand_shape, next_arrival_ms
from simulators.models.base import DeviceModel, Fields, clamp
from warmnet.kinds import DeviceKind
from warmnet.messages import EventType
from warmnet.registry import DeviceSpec

MS_PER_WH = 3_600_000  # W x ms per Wh
MS_PER_MIN = 60_000

# Session starts per hour for one idle outlet: a floor plus a share of rider demand.
BASE_STARTS_PER_H = 0.08
DEMAND_STARTS_PER_H = 0.35
SESSION_MIN_H, SESSION_MODE_H, SESSION_MAX_H = 2.0, 3.5, 6.0
POWER_MIN_W, POWER_MAX_W = 150.0, 400.0
SOCKET_LAG_MS = 20 * MS_PER_MIN  # socket temperature time constant
RUNAWAY_COOL_MS = 10 * MS_PER_MIN  # the excess heat of a runaway fades this fast
TRIP_MARGIN_C = 0.05


@dataclass(frozen=True, slots=True)
class Session:
    start_ms: int
    end_ms: int
    cc_power_w: float  # power at the start
    cc_ms: float  # length of the constant-current phase
    rise: float  # relative power rise over the constant-current phase
    tau_ms: float  # taper time constant

    @property
    def peak_w(self) -> float:
        return self.cc_power_w * (1.0 + self.rise)

    def power_w(self, t_ms: int) -> float:
        s = t_ms - self.start_ms
        if s <= self.cc_ms:
            return self.cc_power_w * (1.0 + self.rise * max(0, s) / self.cc_ms)
        return self.peak_w * math.exp(-(s - self.cc_ms) / self.tau_ms)

    def energy_wh(self, t_ms: int) -> float:
        s = max(0, t_ms - self.start_ms)
        c = min(s, self.cc_ms)
        e = self.cc_power_w * (c + self.rise * c * c / (2.0 * self.cc_ms))
        if s > self.cc_ms:
            e += self.peak_w * self.tau_ms * (1.0 - math.exp(-(s - self.cc_ms) / self.tau_ms))
        return e / MS_PER_WH


@dataclass(frozen=True, slots=True)
class Runaway:
    rate_c_per_ms: float
    trip_c: float


class ChargingOutletModel(DeviceModel):
    kind: ClassVar[DeviceKind] = DeviceKind.CHARGING_OUTLET

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        super().__init__(spec, env, seed_key, start_ms)
        rng = self.events
        self.nominal_v = rng.uniform(226.0, 231.0)
        self.heat_c_per_w = rng.uniform(0.03, 0.045)  # socket warming per watt (contacts)
        self.session: Session | None = None
        self.next_start_ms = NEVER_MS
        self.socket_c = env.room_temp_c(start_ms)
        self.runaway: Runaway | None = None
        self.excess_c = 0.0  # runaway heat on top of the normal socket temperature
        # Start realistically: 30-60 % of outlets (by hour) are already charging.
        busy = 0.3 + 0.3 * demand_shape(env.local_hour(start_ms))
        if not env.is_open(start_ms):
            busy = 0.05
        if rng.random() < busy:
            session = self._new_session(start_ms)
            elapsed = int(rng.uniform(0.0, session.end_ms - session.start_ms - 1))
            self.session = replace(
                session, start_ms=start_ms - elapsed, end_ms=session.end_ms - elapsed
            )
            self.socket_c += self.heat_c_per_w * self.session.power_w(start_ms)
        else:
            self.next_start_ms = self._next_start(start_ms)

    @property
    def temp_c(self) -> float:
        return self.socket_c + self.excess_c

    def _starts_per_h(self, t_ms: int) -> float:
        d = self.env.demand(t_ms)
        return BASE_STARTS_PER_H + DEMAND_STARTS_PER_H * d if d > 0 else 0.0

    def _next_start(self, after_ms: int) -> int:
        max_rate = BASE_STARTS_PER_H + DEMAND_STARTS_PER_H * self.env.max_demand
        return next_arrival_ms(self.events, after_ms, self._starts_per_h, max_rate)

    def _new_session(self, start_ms: int) -> Session:
        rng = self.events
        length_ms = rng.triangular(SESSION_MIN_H, SESSION_MAX_H, SESSION_MODE_H) * MS_PER_H
        cc_ms = length_ms * rng.uniform(0.55, 0.75)
        end_ratio = rng.uniform(0.08, 0.15)  # charger stops at this fraction of peak power
        tau_ms = (length_ms - cc_ms) / math.log(1.0 / end_ratio)
        power = rng.uniform(POWER_MIN_W, POWER_MAX_W / 1.1)
        rise = rng.uniform(0.04, 0.10)
        return Session(start_ms, start_ms + int(length_ms), power, cc_ms, rise, tau_ms)

    # -- time

    def _advance(self, now_ms: int) -> None:
        t = self.t_ms
        while t < now_ms:
            session = self.session
            if session is None:
                until = min(now_ms, self.next_start_ms)
                self._relax(t, until, 0.0)
                t = self.t_ms = until
                if t == self.next_start_ms:
                    self._start_session(t)
                continue
            until = min(now_ms, session.end_ms)
            runaway = self.runaway
            if runaway is not None:
                gap = runaway.trip_c - self.temp_c
                until = min(until, t + max(1, math.ceil(gap / runaway.rate_c_per_ms)))
            mean_w = (session.energy_wh(until) - session.energy_wh(t)) * MS_PER_WH / (until - t)
            self._relax(t, until, mean_w)
            t = self.t_ms = until
            if runaway is not None and self.temp_c >= runaway.trip_c - TRIP_MARGIN_C:
                self.raise_fault("OVERTEMP", f"thermal cutoff at {self.temp_c:.0f} degC")
            elif t == session.end_ms:
                self._stop_session("COMPLETE", "charge complete")

    def _relax(self, t0: int, t1: int, power_w: float) -> None:
        """First-order lag of the socket temperature towards room + heating by power;
        a runaway adds heat at its rate, and its excess fades once it is over."""
        if t1 <= t0:
            return
        target = self.env.room_temp_c(t1) + self.heat_c_per_w * power_w
        self.socket_c = target + (self.socket_c - target) * math.exp(-(t1 - t0) / SOCKET_LAG_MS)
        if self.runaway is not None:
            self.excess_c += self.runaway.rate_c_per_ms * (t1 - t0)
        elif self.excess_c:
            self.excess_c *= math.exp(-(t1 - t0) / RUNAWAY_COOL_MS)
            if self.excess_c < 0.01:
                self.excess_c = 0.0

    def _start_session(self, t_ms: int) -> None:
        self.session = self._new_session(t_ms)
        self.next_start_ms = NEVER_MS
        detail = f"{self.session.cc_power_w:.0f} W"
        self.emit(t_ms, EventType.SESSION_STARTED, detail=detail)

    def _stop_session(self, code: str, detail: str) -> None:
        session, self.session = self.session, None
        self.runaway = None
        if session is None:
            return
        energy = session.energy_wh(self.t_ms)
        self.emit(self.t_ms, EventType.SESSION_STOPPED, code, f"{detail}, {energy:.0f} Wh")
        self.next_start_ms = self._next_start(self.t_ms) if self.working else NEVER_MS

    # -- scenarios and commands

    def start_runaway(self, rate_c_per_min: float, trip_c: float, *, plug_in: bool = True) -> bool:
        """A damaged battery: the socket heats at `rate_c_per_min` while this session
        charges. With `plug_in`, an idle working outlet starts that session now.
        False if there is no session to run away in."""
        if self.session is None:
            if not (plug_in and self.working):
                return False
            self._start_session(self.t_ms)
        self.runaway = Runaway(rate_c_per_min / MS_PER_MIN, trip_c)
        return True

    def _on_fault(self) -> None:
        self._stop_session("FAULT", "stopped by a fault")
        self.next_start_ms = NEVER_MS

    def _on_fault_cleared(self) -> None:
        if self.working and self.session is None:
            self.next_start_ms = self._next_start(self.t_ms)

    def _power_cut(self) -> None:
        self._stop_session("POWER_CUT", "power cut")
        self.next_start_ms = NEVER_MS

    def _power_restored(self) -> None:
        self._on_fault_cleared()

    def fields(self) -> Fields:
        t = self.t_ms
        sag = 2.5 * demand_shape(self.env.local_hour(t))  # evening load lowers the mains
        voltage = clamp(self.nominal_v - sag + self.noise.gauss(0.0, 0.7), 220.0, 235.0)
        session = self.session
        if session is None:
            state = "fault" if self.fault is not None else "idle"
            power, energy = 0.0, 0.0
        else:
            state = "charging"
            power = max(0.0, session.power_w(t) * (1.0 + self.noise.gauss(0.0, 0.01)))
            energy = session.energy_wh(t)
        return {
            "state": state,
            "power_w": round(power, 1),
            "voltage_v": round(voltage, 1),
            "current_a": round(power / voltage, 2),
            "energy_wh": round(energy, 2),
            "temp_c": round(clamp(self.temp_c + self.noise.gauss(0.0, 0.1), -40.0, 200.0), 1),
        }
