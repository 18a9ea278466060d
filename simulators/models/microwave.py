"""Microwave oven: idle most of the time; riders heat lunch in short cycles, mostly at
meal times. A use is: door open (load) → running → door open (unload); riders who
arrive while it is busy queue and go next. Events: `door_opened` / `door_closed`.

With its power cut or a fault the oven does nothing (riders walk away); a cut during a
cycle stops it, a fault shows `state: fault`."""

import math
from typing import ClassVar, Literal

from simulators.env import NEVER_MS, StationEnv, next_arrival_ms
from simulators.models.base import DeviceModel, Fields, clamp
from warmnet.kinds import DeviceKind
from warmnet.messages import EventType
from warmnet.registry import DeviceSpec

Phase = Literal["idle", "load", "running", "unload"]

USES_PER_H = 18.0  # per station at full demand, shared by its microwaves
MAX_QUEUE = 4  # riders beyond this give up and eat cold
RUN_MIN_S, RUN_MAX_S = 60.0, 240.0
STANDBY_W = 2.0
# Duration range of each timed phase, seconds.
PHASE_S: dict[Phase, tuple[float, float]] = {
    "load": (4.0, 15.0),
    "running": (RUN_MIN_S, RUN_MAX_S),
    "unload": (3.0, 12.0),
}
DOOR_OPEN: frozenset[Phase] = frozenset({"load", "unload"})


class MicrowaveModel(DeviceModel):
    kind: ClassVar[DeviceKind] = DeviceKind.MICROWAVE

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        super().__init__(spec, env, seed_key, start_ms)
        self.running_w = self.events.uniform(1000.0, 1150.0)
        self.phase: Phase = "idle"
        self.phase_end_ms = NEVER_MS
        self.queue = 0
        self.next_use_ms = self._next_use(start_ms)

    def _uses_per_h(self, t_ms: int) -> float:
        return USES_PER_H * self.env.demand(t_ms) / self.env.microwaves

    def _next_use(self, after_ms: int) -> int:
        return next_arrival_ms(
            self.events,
            after_ms,
            self._uses_per_h,
            USES_PER_H * self.env.max_demand / self.env.microwaves,
        )

    def _advance(self, now_ms: int) -> None:
        while True:
            t = min(self.phase_end_ms, self.next_use_ms)
            if t > now_ms:
                return
            if self.next_use_ms <= self.phase_end_ms:
                self._arrive(t)
                self.next_use_ms = self._next_use(t)
            else:
                self._end_phase(t)

    def _arrive(self, t_ms: int) -> None:
        if not self.working:
            return  # a dead oven: the rider leaves
        if self.phase == "idle":
            self._enter("load", t_ms)
        elif self.queue < MAX_QUEUE:
            self.queue += 1

    def _end_phase(self, t_ms: int) -> None:
        if self.phase == "load":
            self._enter("running", t_ms)
        elif self.phase == "running":
            self._enter("unload", t_ms)
        elif self.queue > 0:  # the next rider puts food in while the door is open
            self.queue -= 1
            self._enter("load", t_ms)
        else:
            self._enter("idle", t_ms)

    def _enter(self, phase: Phase, t_ms: int) -> None:
        was_open, now_open = self.phase in DOOR_OPEN, phase in DOOR_OPEN
        self.phase = phase
        if now_open and not was_open:
            self.emit(t_ms, EventType.DOOR_OPENED)
        elif was_open and not now_open:
            self.emit(t_ms, EventType.DOOR_CLOSED)
        if phase == "idle":
            self.phase_end_ms = NEVER_MS
            return
        low, high = PHASE_S[phase]
        self.phase_end_ms = t_ms + int(self.events.uniform(low, high) * 1000)

    def _stop(self) -> None:
        """Abort the current use: a cut or a fault stops the oven; the door closes."""
        self.queue = 0
        if self.phase != "idle":
            self._enter("idle", self.t_ms)

    def _on_fault(self) -> None:
        self._stop()

    def _power_cut(self) -> None:
        self._stop()

    def fields(self) -> Fields:
        if self.phase == "running":
            power = clamp(self.running_w * (1.0 + self.noise.gauss(0.0, 0.015)), 900.0, 1250.0)
            remaining = math.ceil((self.phase_end_ms - self.t_ms) / 1000)
            state = "running"
        else:
            power = max(0.0, STANDBY_W + self.noise.gauss(0.0, 0.2)) if self.powered else 0.0
            remaining = 0
            state = "idle" if self.phase == "idle" else "door_open"
            if self.fault is not None:
                state = "fault"
        return {"state": state, "power_w": round(power, 1), "remaining_s": remaining}
