"""One simulated station: a behaviour model per device, its reporting schedule, the
scenario actions due at given times, and the station's side of the downlink."""

import heapq
import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo

from simulators.env import StationEnv
from simulators.models import DeviceModel, Fields, build_model
from warmnet.clock import Clock
from warmnet.kinds import DeviceKind
from warmnet.messages import DeviceCommand, EventType
from warmnet.registry import DeviceSpec, Station

log = logging.getLogger(__name__)

MAX_JITTER_S = 2.0  # first reports are spread over this much time after start
MAX_LAG_S = 300.0  # a device further behind than this skips its missed reports
MAX_PENDING_EVENTS = 10_000  # events not taken yet; beyond, the oldest are dropped


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry reading as a device produced it (the gateway adds `seq`)."""

    station: str
    device: str
    kind: DeviceKind
    ts_ms: int
    fields: Fields


@dataclass(frozen=True, slots=True)
class Event:
    """One device event as the device produced it (the gateway adds `seq`)."""

    station: str
    device: str
    kind: DeviceKind
    ts_ms: int
    type: EventType
    code: str | None = None
    detail: str | None = None


Action = Callable[["SimulatedStation", int], None]
"""A scenario action: called with the station and its time, all readings before it
already produced (use `device_at` to reach a model)."""


@dataclass(order=True, slots=True)
class _Scheduled:
    at_ms: int
    order: int
    label: str = field(compare=False)
    action: Action = field(compare=False)


@dataclass(slots=True)
class _Slot:
    spec: DeviceSpec
    model: DeviceModel
    interval_ms: int
    next_due_ms: int
    silent: bool = False


class SimulatedStation:
    """The devices of one station, reporting on their own intervals.

    Readings carry their scheduled time, not the time `due()` was called, so the data
    are the same however the caller's loop is timed: same seed (and scenario), same
    readings. Events (sessions, doors, faults) are kept until `take_events()`.

    Thread-safe: `execute()` (the `gateway.downlink.DeviceControl` protocol) runs on a
    gateway thread while the runner calls `due()`. A command acts on the device at the
    station clock's time if one was given (bounded by the device's next report), else
    at the device's latest report.
    """

    def __init__(
        self,
        station: Station,
        tz: tzinfo,
        seed: int,
        *,
        start_ms: int | None = None,
        max_lag_s: float = MAX_LAG_S,
        clock: Clock | None = None,
        shift_ms: int = 0,
        max_demand_factor: float = 1.0,
    ) -> None:
        self.station = station
        self.tz = tz
        self.seed = seed
        self.clock = clock
        self.shift_ms = shift_ms
        self.max_demand_factor = max_demand_factor
        self.max_lag_ms = int(max_lag_s * 1000)
        self.skipped = 0  # report slots dropped because the caller fell far behind
        self.silenced = 0  # reports not sent by a silent device
        self.events_dropped = 0  # events of silent devices, or never taken
        self.start_ms: int | None = None
        self.env: StationEnv | None = None
        self._slots: list[_Slot] = []
        self._by_id: dict[str, _Slot] = {}
        self._actions: list[_Scheduled] = []
        self._order = 0
        self._events: deque[Event] = deque(maxlen=MAX_PENDING_EVENTS)
        self._lock = threading.RLock()
        if start_ms is not None:
            self.start(start_ms)

    @property
    def id(self) -> str:
        return self.station.id

    def start(self, start_ms: int) -> None:
        """Build the models in their state at `start_ms`; `due()` does it on first call."""
        with self._lock:
            if self.start_ms is not None:
                raise RuntimeError(f"station {self.id} already started")
            self.start_ms = start_ms
            key = f"warmnet-sim:{self.seed}:{self.id}"
            env = StationEnv.for_station(
                self.station,
                self.tz,
                random.Random(f"{key}:env"),
                shift_ms=self.shift_ms,
                max_factor=self.max_demand_factor,
            )
            self.env = env
            schedule = random.Random(f"{key}:schedule")
            for spec in self.station.devices:
                interval_ms = max(1, round(spec.report_interval_s * 1000))
                jitter_ms = int(schedule.uniform(0, min(MAX_JITTER_S * 1000, interval_ms - 1)))
                model = build_model(spec, env, f"{key}:{spec.id}", start_ms)
                slot = _Slot(spec, model, interval_ms, start_ms + jitter_ms)
                self._slots.append(slot)
                self._by_id[spec.id] = slot

    @property
    def models(self) -> dict[str, DeviceModel]:
        """The device models by device id (for tests and scenarios)."""
        return {s.spec.id: s.model for s in self._slots}

    def next_due_ms(self) -> int:
        """When the next reading (or scenario action) is due (start the station first)."""
        if not self._slots:
            raise RuntimeError(f"station {self.id} not started")
        due = min(s.next_due_ms for s in self._slots)
        return min(due, self._actions[0].at_ms) if self._actions else due

    # -- scenario actions

    def schedule(self, at_ms: int, label: str, action: Action) -> None:
        """Run `action` at simulated time `at_ms` (before readings due at that time)."""
        with self._lock:
            self._order += 1
            heapq.heappush(self._actions, _Scheduled(at_ms, self._order, label, action))

    def device_at(self, device_id: str, at_ms: int) -> DeviceModel:
        """The model of `device_id`, advanced to `at_ms` (inside an action)."""
        slot = self._slot(device_id)
        slot.model.advance(at_ms)
        return slot.model

    def set_silent(self, device_id: str, silent: bool) -> None:
        """A silent device keeps working but nothing it reports arrives."""
        self._slot(device_id).silent = silent

    def _slot(self, device_id: str) -> _Slot:
        slot = self._by_id.get(device_id)
        if slot is None:
            raise KeyError(f"no device {device_id!r} at station {self.id}")
        return slot

    # -- the reporting loop

    def due(self, now_ms: int) -> list[Reading]:
        """All readings due at or before `now_ms` that were not returned yet, in time
        order, after applying the scenario actions due by then."""
        with self._lock:
            if self.start_ms is None:
                self.start(now_ms)
            readings: list[Reading] = []
            while self._actions and self._actions[0].at_ms <= now_ms:
                item = heapq.heappop(self._actions)
                readings += self._produce(item.at_ms - 1)
                log.info(
                    "scenario action",
                    extra={"station": self.id, "action": item.label, "at_ms": item.at_ms},
                )
                item.action(self, item.at_ms)
            readings += self._produce(now_ms)
            self._collect_events()
        readings.sort(key=lambda r: (r.ts_ms, r.device))
        return readings

    def _produce(self, now_ms: int) -> list[Reading]:
        readings: list[Reading] = []
        skipped = 0
        for slot in self._slots:
            if now_ms - slot.next_due_ms > self.max_lag_ms:
                skipped += self._skip(slot, now_ms)
            while slot.next_due_ms <= now_ms:
                ts = slot.next_due_ms
                slot.model.advance(ts)
                fields = slot.model.report()
                if slot.silent:
                    self.silenced += 1
                else:
                    readings.append(Reading(self.id, slot.spec.id, slot.spec.kind, ts, fields))
                slot.next_due_ms += slot.interval_ms
        if skipped:
            log.warning(
                "simulation fell behind, skipped reports",
                extra={"station": self.id, "skipped": skipped, "at_ms": now_ms},
            )
        return readings

    def _skip(self, slot: _Slot, now_ms: int) -> int:
        # Catching up hours of backlog would flood the broker with stale data: keep the
        # schedule's phase, drop the missed slots (counted and logged by the caller).
        missed = (now_ms - slot.next_due_ms) // slot.interval_ms
        slot.next_due_ms += missed * slot.interval_ms
        self.skipped += missed
        return missed

    def _collect_events(self) -> None:
        for slot in self._slots:
            taken = slot.model.take_events()
            if slot.silent:
                self.events_dropped += len(taken)
                continue
            for e in taken:
                if len(self._events) == self._events.maxlen:
                    self.events_dropped += 1
                self._events.append(
                    Event(self.id, slot.spec.id, slot.spec.kind, e.ts_ms, e.type, e.code, e.detail)
                )

    def take_events(self) -> list[Event]:
        """Events produced since the last call, in time order."""
        with self._lock:
            self._collect_events()
            out = sorted(self._events, key=lambda e: e.ts_ms)
            self._events.clear()
        return out

    # -- downlink (gateway.downlink.DeviceControl)

    def execute(self, device_id: str, command: DeviceCommand) -> tuple[bool, str]:
        with self._lock:
            slot = self._by_id.get(device_id)
            if slot is None:
                return False, f"no device {device_id} at {self.id}"
            model = slot.model
            at = model.t_ms
            if self.clock is not None:
                limit = slot.next_due_ms - 1
                if self._actions:
                    limit = min(limit, self._actions[0].at_ms - 1)
                at = max(at, min(self.clock.now_ms(), limit))
            model.advance(at)
            ok, detail = model.command(command.command)
        log.info(
            "device command",
            extra={
                "station": self.id,
                "device": device_id,
                "command": command.command.value,
                "ok": ok,
                "detail": detail,
                "at_ms": at,
            },
        )
        return ok, detail
