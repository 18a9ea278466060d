"""E-bike battery charging outlet: idle → charging session → idle.

A session follows a CC/CV-like curve: constant power for most of it, then an
exponential taper until the charger stops. Energy is the exact integral of that curve;
the socket temperature follows power and room temperature with a first-order lag.
"""

import math
from dataclasses import dataclass, replace
from typing import ClassVar

from simulators.env import MS_PER_H, StationEnv, demand_shape, next_arrival_ms
from simulators.models.base import DeviceModel, Fields, clamp
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec

MS_PER_WH = 3_600_000  # W x ms per Wh

# Session starts per hour for one idle outlet: a floor plus a share of rider demand.
BASE_STARTS_PER_H = 0.08
DEMAND_STARTS_PER_H = 0.35
SESSION_MIN_H, SESSION_MODE_H, SESSION_MAX_H = 2.0, 3.5, 6.0
POWER_MIN_W, POWER_MAX_W = 150.0, 400.0
SOCKET_LAG_MS = 20 * 60_000  # socket temperature time constant


@dataclass(frozen=True, slots=True)
class Session:
    start_ms: int
    end_ms: int
    cc_power_w: float
    cc_ms: float  # length of the constant-power phase
    tau_ms: float  # taper time constant

    def power_w(self, t_ms: int) -> float:
        s = t_ms - self.start_ms
        if s <= self.cc_ms:
            return self.cc_power_w
        return self.cc_power_w * math.exp(-(s - self.cc_ms) / self.tau_ms)

    def energy_wh(self, t_ms: int) -> float:
        s = max(0, t_ms - self.start_ms)
        e = self.cc_power_w * min(s, self.cc_ms)
        if s > self.cc_ms:
            e += self.cc_power_w * self.tau_ms * (1.0 - math.exp(-(s - self.cc_ms) / self.tau_ms))
        return e / MS_PER_WH


class ChargingOutletModel(DeviceModel):
    kind: ClassVar[DeviceKind] = DeviceKind.CHARGING_OUTLET

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        super().__init__(spec, env, seed_key, start_ms)
        rng = self.events
        self.nominal_v = rng.uniform(226.0, 231.0)
        self.heat_c_per_w = rng.uniform(0.03, 0.045)  # socket warming per watt (contacts)
        self.session: Session | None = None
        self.next_start_ms = 0
        self.socket_c = env.room_temp_c(start_ms)
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
        end_ratio = rng.uniform(0.08, 0.15)  # charger stops at this fraction of CC power
        tau_ms = (length_ms - cc_ms) / math.log(1.0 / end_ratio)
        power = rng.uniform(POWER_MIN_W, POWER_MAX_W)
        return Session(start_ms, start_ms + int(length_ms), power, cc_ms, tau_ms)

    def _advance(self, now_ms: int) -> None:
        t = self.t_ms
        while t < now_ms:
            session = self.session
            if session is None:
                until = min(now_ms, self.next_start_ms)
                self._relax(t, until, 0.0)
                t = until
                if t == self.next_start_ms:
                    self.session = self._new_session(t)
                continue
            until = min(now_ms, session.end_ms)
            mean_w = (session.energy_wh(until) - session.energy_wh(t)) * MS_PER_WH / (until - t)
            self._relax(t, until, mean_w)
            t = until
            if t == session.end_ms:
                self.session = None
                self.next_start_ms = self._next_start(t)

    def _relax(self, t0: int, t1: int, power_w: float) -> None:
        """First-order lag of the socket temperature towards room + heating by power."""
        if t1 <= t0:
            return
        target = self.env.room_temp_c(t1) + self.heat_c_per_w * power_w
        self.socket_c = target + (self.socket_c - target) * math.exp(-(t1 - t0) / SOCKET_LAG_MS)

    def fields(self) -> Fields:
        t = self.t_ms
        sag = 2.5 * demand_shape(self.env.local_hour(t))  # evening load lowers the mains
        voltage = clamp(self.nominal_v - sag + self.noise.gauss(0.0, 0.7), 220.0, 235.0)
        session = self.session
        if session is None:
            state, power, energy = "idle", 0.0, 0.0
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
            "temp_c": round(self.socket_c + self.noise.gauss(0.0, 0.1), 1),
        }
