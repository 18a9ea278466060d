"""One simulated station: a behaviour model per device and its reporting schedule."""

import logging
import random
from dataclasses import dataclass
from datetime import tzinfo

from simulators.env import StationEnv
from simulators.models import DeviceModel, Fields, build_model
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec, Station

log = logging.getLogger(__name__)

MAX_JITTER_S = 2.0  # first reports are spread over this much time after start
MAX_LAG_S = 300.0  # a device further behind than this skips its missed reports


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry reading as a device produced it (the gateway adds `seq`)."""

    station: str
    device: str
    kind: DeviceKind
    ts_ms: int
    fields: Fields


@dataclass(slots=True)
class _Slot:
    spec: DeviceSpec
    model: DeviceModel
    interval_ms: int
    next_due_ms: int


class SimulatedStation:
    """The devices of one station, reporting on their own intervals.

    Readings carry their scheduled time, not the time `due()` was called, so the data
    are the same however the caller's loop is timed: same seed, same readings.
    """

    def __init__(
        self,
        station: Station,
        tz: tzinfo,
        seed: int,
        *,
        start_ms: int | None = None,
        max_lag_s: float = MAX_LAG_S,
    ) -> None:
        self.station = station
        self.tz = tz
        self.seed = seed
        self.max_lag_ms = int(max_lag_s * 1000)
        self.skipped = 0  # report slots dropped because the caller fell far behind
        self.start_ms: int | None = None
        self._slots: list[_Slot] = []
        if start_ms is not None:
            self.start(start_ms)

    @property
    def id(self) -> str:
        return self.station.id

    def start(self, start_ms: int) -> None:
        """Build the models in their state at `start_ms`; `due()` does it on first call."""
        if self.start_ms is not None:
            raise RuntimeError(f"station {self.id} already started")
        self.start_ms = start_ms
        key = f"warmnet-sim:{self.seed}:{self.id}"
        env = StationEnv.for_station(self.station, self.tz, random.Random(f"{key}:env"))
        schedule = random.Random(f"{key}:schedule")
        for spec in self.station.devices:
            interval_ms = max(1, round(spec.report_interval_s * 1000))
            jitter_ms = int(schedule.uniform(0, min(MAX_JITTER_S * 1000, interval_ms - 1)))
            model = build_model(spec, env, f"{key}:{spec.id}", start_ms)
            self._slots.append(_Slot(spec, model, interval_ms, start_ms + jitter_ms))

    @property
    def models(self) -> dict[str, DeviceModel]:
        """The device models by device id (for tests and scenarios)."""
        return {s.spec.id: s.model for s in self._slots}

    def next_due_ms(self) -> int:
        """When the next reading is due (start the station first)."""
        if not self._slots:
            raise RuntimeError(f"station {self.id} not started")
        return min(s.next_due_ms for s in self._slots)

    def due(self, now_ms: int) -> list[Reading]:
        """All readings due at or before `now_ms` that were not returned yet, in time order."""
        if self.start_ms is None:
            self.start(now_ms)
        readings: list[Reading] = []
        skipped = 0
        for slot in self._slots:
            if now_ms - slot.next_due_ms > self.max_lag_ms:
                skipped += self._skip(slot, now_ms)
            while slot.next_due_ms <= now_ms:
                ts = slot.next_due_ms
                slot.model.advance(ts)
                readings.append(
                    Reading(self.id, slot.spec.id, slot.spec.kind, ts, slot.model.fields())
                )
                slot.next_due_ms += slot.interval_ms
        if skipped:
            log.warning(
                "simulation fell behind, skipped reports",
                extra={"station": self.id, "skipped": skipped, "at_ms": now_ms},
            )
        readings.sort(key=lambda r: (r.ts_ms, r.device))
        return readings

    def _skip(self, slot: _Slot, now_ms: int) -> int:
        # Catching up hours of backlog would flood the broker with stale data: keep the
        # schedule's phase, drop the missed slots (counted and logged by the caller).
        missed = (now_ms - slot.next_due_ms) // slot.interval_ms
        slot.next_due_ms += missed * slot.interval_ms
        self.skipped += missed
        return missed
