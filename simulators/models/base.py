"""The interface every device behaviour model implements, and what all models share:
events, a power switch, injected faults and stuck sensors."""

import random
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from simulators.env import StationEnv
from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName, EventType
from warmnet.registry import DeviceSpec

Fields = dict[str, Any]

MAX_PENDING_EVENTS = 1000  # per model, until the station takes them; older ones are dropped


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """A discrete event as the device produced it (the gateway adds `seq`)."""

    ts_ms: int
    type: EventType
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ActiveFault:
    code: str
    detail: str | None = None


class DeviceModel(ABC):
    """One simulated device.

    A model owns its state at simulated time `t_ms`. `advance(now_ms)` moves it
    forward by any step (coarse or fine: models integrate internally); `fields()`
    returns the telemetry fields of its kind at `t_ms`, exactly as
    `warmnet.messages` defines them (without `ts`/`seq`, which the gateway adds);
    `report()` is `fields()` with stuck sensors applied (what the device sends).

    Two random streams: `events` drives behaviour (sessions, uses, arrivals) and does
    not depend on how often the model is sampled; `noise` adds measurement noise to
    each reading.

    Discrete events (sessions, doors, faults) are queued with their exact time and
    taken with `take_events()`. `command()` is the device side of the gateway's
    downlink; `raise_fault()`/`clear_fault()` and `stick()` are how scenarios break a
    device. All of them act at `t_ms`.
    """

    kind: ClassVar[DeviceKind]
    has_power_switch: ClassVar[bool] = True

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        if spec.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} cannot simulate a {spec.kind} ({spec.id})")
        self.spec = spec
        self.env = env
        self.t_ms = start_ms
        # str seeds are hashed with SHA-512 by `random`: stable across runs and processes.
        self.events = random.Random(f"{seed_key}:events")
        self.noise = random.Random(f"{seed_key}:noise")
        self.powered = True
        self.fault: ActiveFault | None = None
        self.stuck: Fields = {}  # field -> frozen value (a stuck sensor)
        self._pending: deque[ModelEvent] = deque(maxlen=MAX_PENDING_EVENTS)
        self.events_dropped = 0

    def advance(self, now_ms: int) -> None:
        if now_ms < self.t_ms:
            raise ValueError(f"time went backwards: {now_ms} < {self.t_ms} ({self.spec.id})")
        if now_ms > self.t_ms:
            self._advance(now_ms)
            self.t_ms = now_ms

    @abstractmethod
    def _advance(self, now_ms: int) -> None:
        """Move the state from `self.t_ms` to `now_ms` (> `self.t_ms`)."""

    @abstractmethod
    def fields(self) -> Fields:
        """Telemetry fields at `self.t_ms`, floats rounded to 1-2 decimals."""

    def report(self) -> Fields:
        """What the device sends: `fields()` with stuck sensors frozen."""
        out = self.fields()
        for name, value in self.stuck.items():
            if name in out:
                out[name] = value
        return out

    # -- events

    def emit(
        self, ts_ms: int, type_: EventType, code: str | None = None, detail: str | None = None
    ) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.events_dropped += 1
        self._pending.append(ModelEvent(ts_ms, type_, code, detail))

    def take_events(self) -> list[ModelEvent]:
        out = list(self._pending)
        self._pending.clear()
        return out

    # -- faults and sensors (scenarios)

    def raise_fault(self, code: str, detail: str | None = None) -> None:
        """The device's controller reports a fault (`fault_raised`) and stops working."""
        self.fault = ActiveFault(code, detail)
        self._on_fault()
        self.emit(self.t_ms, EventType.FAULT_RAISED, code, detail)

    def clear_fault(self, detail: str | None = None) -> bool:
        if self.fault is None:
            return False
        code, self.fault = self.fault.code, None
        self.emit(self.t_ms, EventType.FAULT_CLEARED, code, detail)
        self._on_fault_cleared()
        return True

    def stick(self, field: str, value: Any = None) -> None:
        """Freeze a sensor: `field` reports `value` (default: its current value)."""
        current = self.fields()
        if field not in current:
            raise ValueError(f"{self.kind} has no field {field!r}")
        self.stuck[field] = current[field] if value is None else value

    def unstick(self, field: str) -> None:
        self.stuck.pop(field, None)

    # -- downlink

    def command(self, name: CommandName) -> tuple[bool, str]:
        """Carry out a downlink command now: (succeeded, note)."""
        if name is CommandName.RESET:
            cleared = self.fault.code if self.fault is not None else None
            self._reset()
            if cleared is not None:
                self.clear_fault("reset by command")
                return True, f"controller reset, fault {cleared} cleared"
            return True, "controller reset"
        if not self.has_power_switch:
            return False, f"a {self.kind} has no power switch"
        if name is CommandName.CUT_POWER:
            if not self.powered:
                return True, "power already cut"
            self.powered = False
            self._power_cut()
            return True, "power cut"
        if self.powered:
            return True, "power already on"
        self.powered = True
        self._power_restored()
        return True, "power restored"

    # Hooks for the kinds (all at `self.t_ms`).
    def _on_fault(self) -> None:  # noqa: B027 (an optional hook)
        """A fault was raised: stop what the device was doing."""

    def _on_fault_cleared(self) -> None:  # noqa: B027 (an optional hook)
        """The fault is gone: resume normal behaviour if powered."""

    def _power_cut(self) -> None:  # noqa: B027 (an optional hook)
        """The power switch opened."""

    def _power_restored(self) -> None:  # noqa: B027 (an optional hook)
        """The power switch closed again."""

    def _reset(self) -> None:  # noqa: B027 (an optional hook)
        """The controller rebooted (before a fault is cleared)."""

    @property
    def working(self) -> bool:
        """Powered and without a fault: can riders use it?"""
        return self.powered and self.fault is None


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
