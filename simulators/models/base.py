"""The interface every device behaviour model implements."""

import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from simulators.env import StationEnv
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec

Fields = dict[str, Any]


class DeviceModel(ABC):
    """One simulated device.

    A model owns its state at simulated time `t_ms`. `advance(now_ms)` moves it
    forward by any step (coarse or fine: models integrate internally); `fields()`
    returns the telemetry fields of its kind at `t_ms`, exactly as
    `warmnet.messages` defines them (without `ts`/`seq`, which the gateway adds).

    Two random streams: `events` drives behaviour (sessions, uses, arrivals) and does
    not depend on how often the model is sampled; `noise` adds measurement noise to
    each reading.
    """

    kind: ClassVar[DeviceKind]

    def __init__(self, spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> None:
        if spec.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} cannot simulate a {spec.kind} ({spec.id})")
        self.spec = spec
        self.env = env
        self.t_ms = start_ms
        # str seeds are hashed with SHA-512 by `random`: stable across runs and processes.
        self.events = random.Random(f"{seed_key}:events")
        self.noise = random.Random(f"{seed_key}:noise")

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


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
