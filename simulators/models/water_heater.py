"""Boiling-water heater (开水器): a tank with an electric element, a thermostat with
hysteresis, standby heat loss, rider draws at meal times and a cold-water refill
valve that opens when the level drops (the refill is what cools the tank).

Scenarios can break it: a failed element (`element_failure`: the thermostat calls for
heat, the element delivers a fraction of its power or nothing, so the water never
reaches the target), a refill valve stuck closed (`refill_failure`: the level falls
with every draw), a stuck temperature sensor (the thermostat believes it, so a sensor
stuck below the target keeps the element on), a controller fault (`fault_code`, the
element off). A power cut switches the element off; the controller keeps reporting."""

import math
from typing import Any, ClassVar

from simulators.env import StationEnv, next_arrival_ms
from simulators.models.base import DeviceModel, Fields, clamp
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec

DEFAULT_TARGET_C = 95.0
HYSTERESIS_K = 4.0  # element on at target - 4 K, off at target
WATER_J_PER_L_K = 4186.0
COLD_WATER_C = 14.0
BOILING_C = 100.0
REFILL_ON_PCT, REFILL_OFF_PCT = 85.0, 98.0
REFILL_L_PER_S = 4.0 / 60
DRY_PCT = 5.0  # below this the controller keeps the element off
DRAWS_PER_H = 40.0  # per station at full demand, shared by its heaters
FILL_STEP_MS = 20_000  # integration step while cold water mixes in
SENSOR = "water_temp_c"


class WaterHeaterModel(DeviceModel):
    kind: ClassVar[DeviceKind] = DeviceKind.WATER_HEATER

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        super().__init__(spec, env, seed_key, start_ms)
        rng = self.events
        self.target_c = spec.target_temp_c if spec.target_temp_c is not None else DEFAULT_TARGET_C
        self.tank_l = rng.uniform(30.0, 50.0)
        self.element_w = rng.uniform(3000.0, 4500.0)  # 30-50 L of boiling water an hour
        self.loss_w_per_k = rng.uniform(1.2, 1.8)
        # Start warm: hot water is mostly ready when the simulation begins.
        self.water_c = self.target_c - rng.uniform(0.0, HYSTERESIS_K)
        self.level_pct = rng.uniform(86.0, 100.0)
        self.heating = rng.random() < 0.3
        self.filling = False
        self.element_factor = 1.0  # share of its power the element delivers
        self.refill_ok = True
        self.next_draw_ms = self._next_draw(start_ms)

    def _draws_per_h(self, t_ms: int) -> float:
        return DRAWS_PER_H * self.env.demand(t_ms) / self.env.heaters

    def _next_draw(self, after_ms: int) -> int:
        return next_arrival_ms(
            self.events,
            after_ms,
            self._draws_per_h,
            DRAWS_PER_H * self.env.max_demand / self.env.heaters,
        )

    @property
    def sensor_c(self) -> float:
        """What the controller's temperature sensor says (a stuck one lies)."""
        stuck = self.stuck.get(SENSOR)
        return float(stuck) if stuck is not None else self.water_c

    @property
    def heat_w(self) -> float:
        return self.element_w * self.element_factor if self.heating else 0.0

    def _advance(self, now_ms: int) -> None:
        room_c = self.env.room_temp_c(now_ms)  # changes slowly: once per call is enough
        t = self.t_ms
        while t < now_ms:
            if self.next_draw_ms <= t:
                self._draw(self.events.uniform(0.3, 0.8))
                self.next_draw_ms = self._next_draw(self.next_draw_ms)
                continue
            t1 = min(now_ms, self.next_draw_ms)
            if self.filling or (self.refill_ok and self.level_pct < REFILL_ON_PCT):
                t1 = min(t1, t + FILL_STEP_MS)
            else:
                # Closed form between events: jump straight to the thermostat switch.
                switch_ms = self._ms_to_switch(room_c)
                if switch_ms is not None:
                    t1 = min(t1, t + max(1, math.ceil(switch_ms)))
            self._step((t1 - t) / 1000.0, room_c)
            t = t1

    def _ms_to_switch(self, room_c: float) -> float | None:
        """Time until the thermostat flips with the current element state, if ever."""
        if SENSOR in self.stuck or not self.working:
            return None  # a frozen sensor never crosses a threshold; a dead one never heats
        if self.heating:
            t_eq, threshold = room_c + self.heat_w / self.loss_w_per_k, self.target_c
            if self.water_c >= threshold:
                return 0.0
            if t_eq <= threshold:
                return None  # a weak element never gets there
        else:
            t_eq, threshold = room_c, self.target_c - HYSTERESIS_K
            if self.water_c <= threshold:
                return 0.0
            if t_eq >= threshold:
                return None
        tau_s = self._heat_capacity(self.tank_l * self.level_pct / 100.0) / self.loss_w_per_k
        return tau_s * math.log((self.water_c - t_eq) / (threshold - t_eq)) * 1000.0

    def _draw(self, litres: float) -> None:
        # Drawing hot water lowers the level, not the temperature.
        self.level_pct = max(0.0, self.level_pct - litres / self.tank_l * 100.0)

    def _step(self, dt_s: float, room_c: float) -> None:
        if self.refill_ok and self.level_pct < REFILL_ON_PCT:
            self.filling = True
        volume_l = self.tank_l * self.level_pct / 100.0
        if self.filling:
            add_l = min(REFILL_L_PER_S * dt_s, self.tank_l * REFILL_OFF_PCT / 100.0 - volume_l)
            if add_l > 0:
                self.water_c = (self.water_c * volume_l + COLD_WATER_C * add_l) / (volume_l + add_l)
                volume_l += add_l
                self.level_pct = volume_l / self.tank_l * 100.0
            if self.level_pct >= REFILL_OFF_PCT - 1e-9 or not self.refill_ok:
                self.filling = False
        # Exact solution of C dT/dt = P - UA (T - room) for constant P over the step.
        heat_capacity = self._heat_capacity(volume_l)
        t_eq = room_c + self.heat_w / self.loss_w_per_k
        decay = math.exp(-self.loss_w_per_k * dt_s / heat_capacity)
        self.water_c = min(BOILING_C, t_eq + (self.water_c - t_eq) * decay)
        self._thermostat()

    def _thermostat(self) -> None:
        # Hysteresis on what the sensor says; never heat an (almost) empty tank.
        sensor = self.sensor_c
        if not self.working or self.level_pct < DRY_PCT or sensor >= self.target_c:
            self.heating = False
        elif sensor <= self.target_c - HYSTERESIS_K:
            self.heating = True

    def _heat_capacity(self, volume_l: float) -> float:
        return max(volume_l, self.tank_l * DRY_PCT / 100.0) * WATER_J_PER_L_K  # J/K

    # -- scenarios and commands

    def fail_element(self, power_factor: float) -> None:
        self.element_factor = power_factor

    def repair_element(self) -> None:
        self.element_factor = 1.0

    def block_refill(self, blocked: bool = True) -> None:
        self.refill_ok = not blocked
        if blocked:
            self.filling = False

    def stick(self, field: str, value: Any = None) -> None:
        super().stick(field, value)
        self._thermostat()  # the controller reacts to the frozen reading at once

    def unstick(self, field: str) -> None:
        super().unstick(field)
        self._thermostat()

    def _on_fault(self) -> None:
        self.heating = False

    def _on_fault_cleared(self) -> None:
        self._thermostat()

    def _power_cut(self) -> None:
        self.heating = False

    def _power_restored(self) -> None:
        self._thermostat()

    def fields(self) -> Fields:
        power = self.heat_w * (1.0 + self.noise.gauss(0.0, 0.005)) if self.heat_w > 0 else 0.0
        return {
            "water_temp_c": round(clamp(self.water_c + self.noise.gauss(0.0, 0.1), 0.0, 110.0), 1),
            "target_temp_c": round(self.target_c, 1),
            "heating": self.heating,
            "level_pct": round(clamp(self.level_pct, 0.0, 100.0), 1),
            "power_w": round(power, 1),
            "fault_code": self.fault.code if self.fault is not None else None,
        }
