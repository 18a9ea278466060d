"""Occupancy sensor: people in the room. Riders arrive with the demand of the hour and
stay a while (longer at night, when they rest between late orders); everyone leaves
when a station closes. The count can exceed the seats a little at peaks. A sensor has
no power switch (commands other than `reset` fail) and no fault field: a fault is only
its events."""

import heapq
import math
from typing import ClassVar

from simulators.env import DEMAND_BY_HOUR, MS_PER_H, StationEnv, next_arrival_ms, poisson
from simulators.models.base import DeviceModel, Fields
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec

PEAK_FILL = 0.75  # mean share of seats taken at the busiest hour
DAY_STAY_H, NIGHT_STAY_H = 25 / 60, 50 / 60
OVERFLOW = 1.2  # riders stop coming in beyond this share of seats
MAX_OCCUPIED = 1000  # contract limit


class OccupancySensorModel(DeviceModel):
    kind: ClassVar[DeviceKind] = DeviceKind.OCCUPANCY_SENSOR
    has_power_switch: ClassVar[bool] = False

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        super().__init__(spec, env, seed_key, start_ms)
        self.capacity = spec.capacity or 1
        self.max_people = min(MAX_OCCUPIED, math.ceil(self.capacity * OVERFLOW))
        self.departures: list[int] = []  # heap of departure times, one per person
        # Start in the steady state of the hour (stays are memoryless).
        mean = self._arrivals_per_h(start_ms) * self._stay_h(start_ms)
        for _ in range(min(self.max_people, poisson(self.events, mean))):
            self._enter(start_ms)
        self.next_arrival_ms = self._next_arrival(start_ms)

    def _arrivals_per_h(self, t_ms: int) -> float:
        shape = self.env.demand(t_ms) / self.env.demand_scale  # seats already scale it
        return PEAK_FILL * self.capacity * shape / DAY_STAY_H

    def _stay_h(self, t_ms: int) -> float:
        h = self.env.local_hour(t_ms)
        return NIGHT_STAY_H if h < 6.0 or h >= 23.0 else DAY_STAY_H

    def _next_arrival(self, after_ms: int) -> int:
        peak = max(DEMAND_BY_HOUR) * self.env.max_factor
        max_rate = PEAK_FILL * self.capacity * peak / DAY_STAY_H
        return next_arrival_ms(self.events, after_ms, self._arrivals_per_h, max_rate)

    def _enter(self, t_ms: int) -> None:
        stay_ms = self.events.expovariate(1.0 / self._stay_h(t_ms)) * MS_PER_H
        heapq.heappush(self.departures, t_ms + int(stay_ms) + 1)

    def _leave_until(self, t_ms: int) -> None:
        while self.departures and self.departures[0] <= t_ms:
            heapq.heappop(self.departures)

    def _advance(self, now_ms: int) -> None:
        while self.next_arrival_ms <= now_ms:
            t = self.next_arrival_ms
            self._leave_until(t)
            if len(self.departures) < self.max_people:
                self._enter(t)
            self.next_arrival_ms = self._next_arrival(t)
        self._leave_until(now_ms)
        if not self.env.is_open(now_ms):
            self.departures.clear()

    def fields(self) -> Fields:
        return {"occupied": len(self.departures), "capacity": self.capacity}
