"""A station's surroundings as the device models see them: local time of day, opening
hours, how busy the station is, room temperature, and random arrivals of riders.

Everything here is a pure function of simulated time (epoch ms) and the station, so
models stay deterministic given their `random.Random`.
"""

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from warmnet.kinds import DeviceKind
from warmnet.registry import OpeningHours, Station

MS_PER_S = 1000
MS_PER_H = 3_600_000

# Relative rider demand by local hour (value at HH:00, linear in between), 1.0 = busiest.
# Riders rest and charge between orders: lunch and dinner peaks, a late-night tail from
# night delivery, a trough before dawn.
DEMAND_BY_HOUR: tuple[float, ...] = (
    0.30, 0.25, 0.18, 0.12, 0.08, 0.08, 0.15, 0.30,  # 00-07
    0.40, 0.40, 0.50, 0.85, 1.00, 0.85, 0.50, 0.40,  # 08-15
    0.45, 0.80, 1.00, 0.90, 0.60, 0.50, 0.45, 0.38,  # 16-23
)  # fmt: skip

# A station with this many seats has demand scale 1.0; bigger rooms see more riders.
REFERENCE_SEATS = 16


def demand_shape(local_hour: float) -> float:
    """Relative demand (0..1) at a local hour in [0, 24)."""
    h = local_hour % 24.0
    i = int(h)
    frac = h - i
    return DEMAND_BY_HOUR[i] * (1.0 - frac) + DEMAND_BY_HOUR[(i + 1) % 24] * frac


@dataclass(slots=True)
class StationEnv:
    """What the models of one station share.

    `shift_ms` moves the local time the models see (a scenario that starts at 11:00
    while the wall clock says 15:20); timestamps are not shifted. `demand_factor`
    scales demand while a scenario's rush lasts; it may not exceed `max_factor`, the
    bound that arrival thinning uses (set once, before the models are built).
    """

    tz: tzinfo
    hours: OpeningHours
    demand_scale: float = 1.0
    room_offset_c: float = 0.0
    shift_ms: int = 0
    demand_factor: float = 1.0
    max_factor: float = 1.0
    heaters: int = 1  # riders share the station's heaters and microwaves
    microwaves: int = 1

    @classmethod
    def for_station(
        cls,
        station: Station,
        tz: tzinfo,
        rng: random.Random,
        *,
        shift_ms: int = 0,
        max_factor: float = 1.0,
    ) -> "StationEnv":
        scale = min(1.6, max(0.4, (station.seats or REFERENCE_SEATS) / REFERENCE_SEATS))
        offset = rng.uniform(-2.0, 2.0)
        return cls(
            tz,
            station.opening_hours,
            scale,
            offset,
            shift_ms,
            max_factor=max_factor,
            heaters=max(1, len(station.devices_of(DeviceKind.WATER_HEATER))),
            microwaves=max(1, len(station.devices_of(DeviceKind.MICROWAVE))),
        )

    def set_demand_factor(self, factor: float) -> None:
        if not 0.0 <= factor <= self.max_factor:
            raise ValueError(f"demand factor {factor} outside [0, {self.max_factor}]")
        self.demand_factor = factor

    def _local(self, ts_ms: int) -> datetime:
        return datetime.fromtimestamp((ts_ms + self.shift_ms) / MS_PER_S, tz=self.tz)

    def local_hour(self, ts_ms: int) -> float:
        t = self._local(ts_ms)
        return t.hour + t.minute / 60 + (t.second + t.microsecond / 1e6) / 3600

    def is_open(self, ts_ms: int) -> bool:
        return self.hours.is_open(self._local(ts_ms).time())

    def demand(self, ts_ms: int) -> float:
        """Expected rider demand relative to a reference station at its busiest hour;
        0 while the station is closed."""
        t = self._local(ts_ms)
        if not self.hours.is_open(t.time()):
            return 0.0
        hour = t.hour + t.minute / 60 + t.second / 3600
        return demand_shape(hour) * self.demand_scale * self.demand_factor

    @property
    def max_demand(self) -> float:
        """Upper bound of `demand()` (for thinning)."""
        return max(DEMAND_BY_HOUR) * self.demand_scale * self.max_factor

    def room_temp_c(self, ts_ms: int) -> float:
        """Indoor temperature: about 16 °C before dawn, 22 °C mid-afternoon."""
        h = self.local_hour(ts_ms)
        return 19.0 + 3.0 * math.cos(2 * math.pi * (h - 15.0) / 24.0) + self.room_offset_c


# Arrivals of a non-homogeneous Poisson process are drawn by thinning: candidates at
# the maximum rate, each kept with probability rate(t) / max_rate. The draws depend
# only on the rng, not on how often the caller samples the model.
NEVER_MS = 2**62


def next_arrival_ms(
    rng: random.Random,
    after_ms: int,
    rate_per_h: Callable[[int], float],
    max_rate_per_h: float,
    *,
    horizon_h: float = 24 * 14,
) -> int:
    """Time of the next arrival after `after_ms`, or NEVER_MS if none within the horizon."""
    if max_rate_per_h <= 0:
        return NEVER_MS
    t = float(after_ms)
    limit = after_ms + horizon_h * MS_PER_H
    while True:
        t += rng.expovariate(max_rate_per_h) * MS_PER_H
        if t > limit:
            return NEVER_MS
        candidate = int(t) + 1  # strictly after `after_ms`
        if rng.random() * max_rate_per_h < rate_per_h(candidate):
            return candidate


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth; fine for the small means used here)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
