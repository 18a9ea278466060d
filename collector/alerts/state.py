"""The alert engine's memory: per-(subject, rule) timers and alerts, per device the
newest data, per station the gateway status. Immutable values: `evaluate` returns a
new state and never changes the one it was given.

The state serialises to JSON (`to_json`/`from_json`) so timers survive a collector
restart: an alert half-way through its for-duration still fires on time. Fields at
their default are left out of the JSON (a file with them all, as written before, loads
the same). `write_state` streams it station by station (the collector saves every few
seconds; a city's state is tens of megabytes: never one string).

Each `StationState` also carries its schedule (`due_ms`, `wake_ms`, `floor_ms`, see
`schedule.py`): derived from the rest, not compared, not saved.
"""

import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, TextIO

from pydantic import Field, TypeAdapter, ValidationError

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

    def at_rest(self) -> bool:
        """Nothing held but `last_ts`: a timer like this is not kept (`IDLE`, or for a
        telemetry rule rebuilt from the device's newest reading time)."""
        return (
            self.pending_since is None
            and self.clear_since is None
            and not self.active
            and self.rearm_ms is None
            and not self.window
            and self.run is None
            and not self.codes
            and self.event_ts is None
            and self.telemetry_fault is None
        )

    def with_window(self, window: tuple[tuple[int, float], ...]) -> "Timer":
        if window is self.window or not (window or self.window):
            return self  # () again: a rate rule's timer while its `when` does not hold
        return Timer(
            self.last_ts, self.pending_since, self.clear_since, self.active, self.rearm_ms,
            window, self.run, self.codes, self.event_ts, self.telemetry_fault,
        )  # fmt: skip

    def with_run(self, run: tuple[int, float, float] | None) -> "Timer":
        if run is self.run:
            return self  # None again: a stuck rule's timer while its `when` does not hold
        return Timer(
            self.last_ts, self.pending_since, self.clear_since, self.active, self.rearm_ms,
            self.window, run, self.codes, self.event_ts, self.telemetry_fault,
        )  # fmt: skip


IDLE = Timer()  # what a missing timer is: nothing seen, nothing pending


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


Derived = Annotated[int | None, Field(exclude=True)]


@dataclass(frozen=True, slots=True)
class StationState:
    # Keys are "rule/device" ("rule/" for the station): ids never contain '/'.
    timers: Mapping[str, Timer] = field(default_factory=dict)
    alerts: Mapping[str, Alert] = field(default_factory=dict)
    last_seen: Mapping[str, int] = field(default_factory=dict)  # device -> newest live ts
    gateway: GatewayMemo | None = None
    down: bool = False  # unreachable (gateway status, or every device silent)
    back_ms: int | None = None  # when it was last reachable again: silence counts from here
    # device -> newest reading ts: the `last_ts` of its telemetry timers at rest, which
    # are not kept (one number per device instead of a timer per rule and device).
    reading_ts: Mapping[str, int] = field(default_factory=dict)
    # The schedule (schedule.py), derived from the fields above; None: not known.
    due_ms: Derived = field(default=None, compare=False, repr=False)  # a tick may change it
    wake_ms: Derived = field(default=None, compare=False, repr=False)  # ... timers, alerts
    floor_ms: Derived = field(default=None, compare=False, repr=False)  # <= silence deadlines

    def unplanned(self) -> "StationState":
        """The same state with its schedule forgotten (the next tick evaluates it)."""
        if self.due_ms is None:
            return self
        return StationState(
            self.timers, self.alerts, self.last_seen, self.gateway, self.down, self.back_ms,
            self.reading_ts,
        )  # fmt: skip


def slot(rule: str, device: str | None) -> str:
    return f"{rule}/{device or ''}"


def unslot(key: str) -> tuple[str, str | None]:
    rule, _, device = key.partition("/")
    return rule, device or None


class StationMap(Mapping[str, StationState]):
    """An immutable station -> state mapping with structural sharing: `updated` copies
    one small shard per changed station instead of the whole mapping (a dict copy of
    3,600 stations on every reading cost ~10 us; this ~1 us)."""

    __slots__ = ("_len", "_shards")
    SHARDS = 64  # a power of two

    def __init__(self, items: Mapping[str, StationState] | None = None) -> None:
        shards: list[dict[str, StationState]] = [{} for _ in range(self.SHARDS)]
        mask = self.SHARDS - 1
        for k, v in (items or {}).items():
            shards[hash(k) & mask][k] = v
        self._shards: tuple[dict[str, StationState], ...] = tuple(shards)
        self._len = sum(len(s) for s in shards)

    def __getitem__(self, key: str) -> StationState:
        return self._shards[hash(key) & (self.SHARDS - 1)][key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._shards[hash(key) & (self.SHARDS - 1)].get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._shards[hash(key) & (self.SHARDS - 1)]

    def __iter__(self) -> Iterator[str]:
        for shard in self._shards:
            yield from shard

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"StationMap({dict(self.items())!r})"

    def updated(self, changes: Mapping[str, StationState]) -> "StationMap":
        """A new mapping with `changes` applied; this one is not changed."""
        if not changes:
            return self
        shards = list(self._shards)
        mask = self.SHARDS - 1
        copied: set[int] = set()
        n = self._len
        for k, v in changes.items():
            i = hash(k) & mask
            if i not in copied:
                shards[i] = dict(shards[i])
                copied.add(i)
            n += k not in shards[i]
            shards[i][k] = v
        new = StationMap.__new__(StationMap)
        new._shards, new._len = tuple(shards), n
        return new

    def with_station(self, key: str, value: StationState) -> "StationMap":
        """`updated({key: value})`, quicker (one input changes one station)."""
        shards = list(self._shards)
        i = hash(key) & (self.SHARDS - 1)
        shard = shards[i] = dict(shards[i])
        new = StationMap.__new__(StationMap)
        new._len = self._len + (key not in shard)
        shard[key] = value
        new._shards = tuple(shards)
        return new


def station_map(stations: Mapping[str, StationState]) -> StationMap:
    return stations if isinstance(stations, StationMap) else StationMap(stations)


@dataclass(frozen=True, slots=True)
class EngineState:
    stations: Mapping[str, StationState] = field(default_factory=StationMap)
    # Silence is counted from here at the earliest: from the first evaluation, or from
    # a restart (`resume`), so that data queued in the broker can arrive first.
    watch_since_ms: int | None = None
    version: int = STATE_VERSION
    # The rules and fleet the stations' schedules were made for (not compared, not
    # saved): evaluating with others forgets every schedule first.
    basis: Annotated[tuple[Any, Any] | None, Field(exclude=True)] = field(
        default=None, compare=False, repr=False
    )

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
        out = io.StringIO()
        write_state(self, out)
        return out.getvalue()

    @classmethod
    def from_json(cls, text: str | bytes) -> "EngineState":
        try:
            state = _ADAPTER.validate_json(text)
        except ValidationError as exc:
            raise StateError(f"cannot restore alert engine state: {exc}") from None
        if state.version != STATE_VERSION:
            raise StateError(f"alert engine state version {state.version}, need {STATE_VERSION}")
        return replace(state, stations=StationMap(state.stations))


def write_state(state: EngineState, out: TextIO, between: Callable[[], None] | None = None) -> None:
    """Write `state.to_json()` to `out` one station at a time: a city's state is tens
    of megabytes of JSON, and building it as one string doubles the collector's peak
    memory every few seconds. `between` is called before each station (to give way
    to urgent work: `collector.precedence`)."""
    watch = "null" if state.watch_since_ms is None else str(int(state.watch_since_ms))
    out.write('{"stations":{')
    for i, sid in enumerate(sorted(state.stations)):
        if between is not None:
            between()
        body = _STATION.dump_json(state.stations[sid], exclude_defaults=True).decode()
        out.write(f"{',' if i else ''}{json.dumps(sid)}:{body}")
    out.write(f'}},"watch_since_ms":{watch},"version":{int(state.version)}}}')


_ADAPTER = TypeAdapter(EngineState)
_STATION = TypeAdapter(StationState)
