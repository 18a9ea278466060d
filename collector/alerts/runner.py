"""The alert engine inside the collector: inputs in, transitions out, state on disk.

The engine itself is pure (`collector.alerts`). This module runs it on its own
thread, off the ingest path: the pipeline hands over what it stored (`offer`), a
bounded queue takes it, and the engine thread evaluates, ticks once a second for
time-based rules (silence, offline, too long), saves its state every few seconds and
on stop (timers survive a restart), and passes transitions to the sinks (alert store,
notifications, device commands, time series).

Overload policy: backpressure, no loss. When the queue is full, `offer` waits (each
input that had to wait counted as `alert_backpressure_waits`) until the engine has
taken some: the pipeline calls it from its writer thread after a batch is stored
and before acknowledging it, so the writer slows down, and the broker holds further
messages for us. The runner's stop releases a waiting `offer` (what it still held is
then not evaluated: the data is stored, and the engine re-arms from new data after a
restart).

Saving streams the state to disk station by station (`collector.alerts.state.write_state`:
never one string of tens of megabytes); the engine ticks only stations that are due.

Alerting is bulk work: with a `Precedence`, the engine thread gives way to urgent work
(the availability tick riders wait for) before each input and each tick, and between
the stations of a save (`collector.precedence`).
"""

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from collector.alerts import (
    AlertKey,
    EngineState,
    Input,
    ManualAction,
    RuleSet,
    StateError,
    Tick,
    Transition,
    apply_manual,
    evaluate,
)
from collector.alerts.state import write_state
from collector.metrics.counters import Metrics
from collector.precedence import Precedence
from warmnet import memory
from warmnet.clock import Clock
from warmnet.registry import Fleet

log = logging.getLogger(__name__)

TICK_S = 1.0
SAVE_EVERY_S = 5.0
OFFER_WAIT_S = 0.1  # a waiting offer checks the stop event this often


class TransitionSink(Protocol):
    def handle(self, transitions: Sequence[Transition]) -> None:
        """Act on transitions (quickly: slow work belongs on the sink's own thread)."""
        ...


def parse_saved(text: str) -> tuple[EngineState, dict[str, int]]:
    """The saved file: {"cursors": {...}, "engine": <EngineState JSON>}."""
    saved = json.loads(text)
    cursors = {k: int(v) for k, v in saved.get("cursors", {}).items()}
    return EngineState.from_json(json.dumps(saved["engine"])), cursors


class AlertEngineRunner:
    def __init__(
        self,
        rules: RuleSet,
        fleet: Fleet,
        clock: Clock,
        metrics: Metrics,
        state_path: Path,
        *,
        owned: Sequence[str] | None = None,
        sinks: Sequence[TransitionSink] = (),
        queue_max: int = 1_000,  # with backpressure: decoupling, not a buffer (~1 KB each)
        precedence: Precedence | None = None,
    ) -> None:
        self.rules = rules
        self._fleet = fleet
        self._clock = clock
        self._metrics = metrics
        self._state_path = state_path
        self._owned = frozenset(owned) if owned is not None else None
        self.sinks: list[TransitionSink] = list(sinks)
        self._queue: queue.Queue[Input] = queue.Queue(maxsize=queue_max)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards `state` for readers on other threads
        self._save_lock = threading.Lock()
        self.state = self._load()
        self._thread: threading.Thread | None = None
        self._pre_tick: list[Callable[[], Sequence[Input]]] = []
        # Where the engine gives way to urgent work (no-op without a Precedence).
        self._checkpoint: Callable[[], None] = (
            precedence.checkpoint if precedence is not None else lambda: None
        )
        # Positions in outside feeds (crew actions, rider reports), saved with the state.
        self.cursors: dict[str, int] = dict(self._loaded_cursors)

    # -- state on disk ---------------------------------------------------------------

    def _load(self) -> EngineState:
        now = self._clock.now_ms()
        self._loaded_cursors: dict[str, int] = {}
        try:
            text = self._state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return EngineState().resume(now)
        try:
            state, self._loaded_cursors = parse_saved(text)
            return state.resume(now)
        except (StateError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Losing timers is better than not starting: alerts re-arm from new data.
            log.error("alert state unreadable; starting fresh", extra={"error": str(exc)[:300]})
            return EngineState().resume(now)

    def save(self) -> None:
        with self._save_lock:  # the engine thread's and stop()'s saves share a file
            self._save()

    def _save(self) -> None:
        with self._lock:
            state = self.state
            cursors = json.dumps(self.cursors)
        # One file, one atomic replace: the cursors always match the state. Streamed
        # (the state is immutable: no lock needed to encode it).
        tmp = self._state_path.with_suffix(".tmp")
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f'{{"cursors": {cursors}, "engine": ')
            write_state(state, f, between=self._checkpoint)
            f.write("}")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._state_path)  # atomic: a crash leaves the old or the new
        # Encoding the state made and freed megabytes: give the pages back.
        memory.trim()

    # -- inputs ------------------------------------------------------------------------

    def offer(self, inputs: Sequence[Input]) -> bool:
        """From the pipeline's writer thread. Waits while the queue is full
        (backpressure: each input that had to wait counts once in
        `alert_backpressure_waits`); never drops. False: the runner stopped first."""
        q = self._queue
        for inp in inputs:
            try:
                q.put_nowait(inp)
                continue
            except queue.Full:
                pass
            self._metrics.inc("alert_backpressure_waits")
            while True:
                if self._stop.is_set() or not self._running():
                    return False  # nobody will take it: never stall ingest for alerts
                try:
                    q.put(inp, timeout=OFFER_WAIT_S)
                    break
                except queue.Full:
                    continue
        return True

    def _running(self) -> bool:
        return self._thread is None or self._thread.is_alive()  # not started: tests

    def add_pre_tick(self, source: Callable[[], Sequence[Input]]) -> None:
        """Something polled once per tick for more inputs (rider reports)."""
        self._pre_tick.append(source)

    # -- the engine thread -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="collector-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.save()
        except OSError as exc:
            log.error("alert state not saved", extra={"error": str(exc)})

    def _run(self) -> None:
        # Real time paces ticks and saves; the injected clock says what time it is.
        next_tick = time.monotonic() + TICK_S
        next_save = time.monotonic() + SAVE_EVERY_S
        while not self._stop.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            try:
                inp: Input | None = self._queue.get(timeout=timeout)
            except queue.Empty:
                inp = None
            if inp is not None:
                self._checkpoint()
                self._apply_logged(inp)
            if time.monotonic() >= next_tick:
                self._checkpoint()
                for source in self._pre_tick:
                    try:
                        for extra in source():
                            self._apply_logged(extra)
                    except Exception:  # a broken source must not stop alerting
                        log.exception("alert input source failed")
                self._apply_logged(Tick(self._owned))
                next_tick = time.monotonic() + TICK_S
            if time.monotonic() >= next_save:
                try:
                    self.save()
                except OSError as exc:
                    log.error("alert state not saved", extra={"error": str(exc)})
                next_save = time.monotonic() + SAVE_EVERY_S

    def manual(self, key: AlertKey, alert_id: str, action: ManualAction) -> bool:
        """A crew resolved or acknowledged an alert: restart its rule's timers. Only if
        this engine holds that very alert (a shard sees every crew action): True then."""
        with self._lock:
            held = self.state.alert(key)
            if held is None or held.id != alert_id:
                return False
            self.state = apply_manual(
                self.state, key, action, self._clock.now_ms(), rules=self.rules, fleet=self._fleet
            )
            return True

    def _apply_logged(self, inp: Input) -> None:
        """`apply` on the engine thread: an input the engine fails on is logged,
        counted and skipped; it must not end alerting (nor, by backpressure, ingest)."""
        try:
            self.apply(inp)
        except Exception:
            self._metrics.inc("alert_errors")
            log.exception("alert evaluation failed", extra={"input": type(inp).__name__})

    def apply(self, inp: Input) -> list[Transition]:
        """Evaluate one input now and hand the transitions to the sinks."""
        now = self._clock.now_ms()
        with self._lock:
            self.state, transitions = evaluate(self.rules, self._fleet, self.state, inp, now)
        if transitions:
            self._metrics.inc("alert_transitions", len(transitions))
            for sink in self.sinks:
                try:
                    sink.handle(transitions)
                except Exception:  # one failing sink must not silence the others
                    log.exception("alert sink failed", extra={"sink": type(sink).__name__})
        return transitions
