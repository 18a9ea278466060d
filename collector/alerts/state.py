"""The alert engine's memory: per-(subject, rule) timers and alerts, per device the
newest data, per station the gateway status. Immutable values: `evaluate` returns a
new state and never changes the one it was given.

The state serialises to JSON (`to_json`/`from_json`) so timers survive a collector
restart: an alert half-way through its for-duration still fires on time.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from pydantic import TypeAdapter, ValidationError

from collector.alerts.model import AlertKey, Value
from warmnet.messages import GatewayState

STATE_VERSION = 1


class StateError(ValueError):
    """A saved state that cannot be restored (corrupt, or another version)."""


@dataclass(frozen=True, slots=True)
class Timer:
    """What one rule knows about one source (a device, or the station)."""

    last_ts: int | None = None  # newest data seen: older data is late and ignored
    pending_since: int | None = None  # trigger condition holding since
    clear_since: int | None = None  # clear condition holding since (while active)
    active: bool = False  # condition confirmed (for-duration passed)
    rearm_ms: int | None = None  # resolved by a crew then: older evidence does not count
    # Per-type memory:
    window: tuple[tuple[int, float], ...] = ()  # rate_of_change samples; rider report times
    run: tuple[int, float, float] | None = None  # stuck_sensor: (since, low, high)
    codes: tuple[str, ...] = ()  # fault codes raised by events, not yet cleared
    event_ts: int | None = None  # newest event seen (events and telemetry order apart)
    telemetry_fault: str | None = None  # fault the latest reading shows

    def moved(
        self, last_ts: int | None, pending: int | None, clearing: int | None, active: bool
    ) -> "Timer":
        """A copy with new times (`replace` is several times slower: every reading)."""
        return Timer(
            last_ts, pending, clearing, active, self.rearm_ms, self.window, self.run,
            self.codes, self.event_ts, self.telemetry_fault,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a subject; kept after it resolves for the reopen window."""

    id: str
    active: bool
    fired_ms: int
    last_seen_ms: int
    updated_ms: int  # last fire/reopen/update transition (throttles updates)
    resolved_ms: int | None = None
    value: Value = None
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class GatewayMemo:
    state: GatewayState
    session: int
    ts: int
    online_since_ms: int | None = None  # evaluation time it came (back) online


@dataclass(frozen=True, slots=True)
class StationState:
    # Keys are "rule/device" ("rule/" for the station): ids never contain '/'.
    timers: Mapping[str, Timer] = field(default_factory=dict)
    alerts: Mapping[str, Alert] = field(default_factory=dict)
    last_seen: Mapping[str, int] = field(default_factory=dict)  # device -> newest live ts
    gateway: GatewayMemo | None = None
    down: bool = False  # unreachable (gateway status, or every device silent)
    back_ms: int | None = None  # when it was last reachable again: silence counts from here


def slot(rule: str, device: str | None) -> str:
    return f"{rule}/{device or ''}"


def unslot(key: str) -> tuple[str, str | None]:
    rule, _, device = key.partition("/")
    return rule, device or None


@dataclass(frozen=True, slots=True)
class EngineState:
    stations: Mapping[str, StationState] = field(default_factory=dict)
    # Silence is counted from here at the earliest: from the first evaluation, or from
    # a restart (`resume`), so that data queued in the broker can arrive first.
    watch_since_ms: int | None = None
    version: int = STATE_VERSION

    def station(self, station: str) -> StationState:
        return self.stations.get(station) or StationState()

    def resume(self, now_ms: int) -> "EngineState":
        """The state to continue with after a restart at `now_ms`."""
        return replace(self, watch_since_ms=now_ms)

    def alerts(self, *, active_only: bool = True) -> Iterator[tuple[AlertKey, Alert]]:
        """Alerts held (the store can reconcile with these after a restart)."""
        for station, st in sorted(self.stations.items()):
            for key, alert in sorted(st.alerts.items()):
                if alert.active or not active_only:
                    rule, device = unslot(key)
                    yield AlertKey(rule, station, device), alert

    def alert(self, key: AlertKey) -> Alert | None:
        return self.station(key.station).alerts.get(slot(key.rule, key.device))

    def to_json(self) -> str:
        return _ADAPTER.dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> "EngineState":
        try:
            state = _ADAPTER.validate_json(text)
        except ValidationError as exc:
            raise StateError(f"cannot restore alert engine state: {exc}") from None
        if state.version != STATE_VERSION:
            raise StateError(f"alert engine state version {state.version}, need {STATE_VERSION}")
        return state


_ADAPTER = TypeAdapter(EngineState)
