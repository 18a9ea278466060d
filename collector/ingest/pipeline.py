"""The ingest pipeline: one thread takes messages in arrival order, classifies them and
batches points by size and age; a writer thread stores each batch durably and only
then acknowledges the batch's messages to the broker (batches in order, so messages in
arrival order, as MQTT requires). While the writer stores one batch the classifier
fills the next, and then waits: two batches in memory at most, a slow store holds the
classifier back, and the broker holds what comes next.

Durably stored means: written to the time-series store, or — while the store is
down — appended (fsync'd) to the on-disk spill queue, which a second thread replays
oldest first once the store is back. Live batches go straight to the store again as
soon as it answers, so a backlog never stalls live ingest.

Nothing is lost: a message is acknowledged only once its point is stored or spilled,
or, if it is invalid, once it is in the dead-letter store. Until then the broker keeps
it in our persistent session and redelivers it after a crash.

Live state (what riders see) is updated as soon as a message is classified valid, not
after the store write: riders wait neither for their batch nor, while a write takes
less than a batch's age, for the write of the one before it. The observer (the alert
engine) is told only after the batch is stored.
"""

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collector.availability.live import LiveState
from collector.ingest.classify import Accepted, AcceptedEvent, GatewayUpdate, Rejected, classify
from collector.ingest.deadletter import DeadLetter, DeadLetterStore
from collector.ingest.points import Point, line
from collector.ingest.spill import Origin, SpillFullError, SpillQueue
from collector.metrics.counters import Metrics
from collector.stores.base import StoreRejectedError, StoreUnavailableError, TimeSeriesStore
from warmnet.kinds import DeviceKind
from warmnet.registry import Fleet

log = logging.getLogger(__name__)

Ack = Callable[[int, int], object]  # (mid, qos)
Stored = Accepted | AcceptedEvent  # what becomes a point
# Told what was stored (and which gateway statuses were taken), e.g. the alert engine.
Observer = Callable[[Sequence[tuple[Stored, "Inbound"]], Sequence[GatewayUpdate]], None]

MAX_BACKOFF_S = 10.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the MQTT callback hands over; nothing else happens in the callback."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at_ms: int


@dataclass(slots=True)
class Batch:
    accepted: list[tuple[Stored, Inbound]] = field(default_factory=list)
    gateway: list[GatewayUpdate] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)
    started: float = 0.0

    def __len__(self) -> int:
        return len(self.acks)


class Pipeline:
    def __init__(
        self,
        fleet: Fleet,
        store: TimeSeriesStore,
        spill: SpillQueue,
        deadletters: DeadLetterStore,
        live: LiveState,
        metrics: Metrics,
        ack: Ack,
        *,
        max_points: int = 5000,
        max_age_s: float = 0.2,
        queue_max: int = 10000,
        observer: Observer | None = None,
    ) -> None:
        self._fleet = fleet
        self._store = store
        self._spill = spill
        self._dead = deadletters
        self._live = live
        self._metrics = metrics
        self._received = metrics.counter("received")  # per message: lock-free
        self._ack = ack
        self._observer = observer
        self._max_points = max_points
        self._max_age_s = max_age_s
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_max)
        # The batch handed to the writer thread (None: no more); `_writer_free` is held
        # from the handoff until the writer has acknowledged it.
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._writer_free = threading.Semaphore(1)
        self._writer: threading.Thread | None = None
        self._closing = threading.Event()  # take no more messages; finish what we hold
        self._stop = threading.Event()  # give up waiting on the store (shutdown)
        self._store_ok = threading.Event()  # the last write succeeded
        self._store_ok.set()
        self._spilled = threading.Event()  # wakes the replayer
        if spill.batches:
            self._store_ok.clear()  # a backlog from the last run: replay it first
            self._spilled.set()
        # Receive time of the first message of every batch not yet acknowledged, oldest
        # first (appended by the classifier, popped by the writer).
        self._unacked: deque[int] = deque()

    # -- called from other threads ---------------------------------------------------

    def submit(self, msg: Inbound) -> None:
        """Called from the MQTT thread. Blocks while the queue is full: the broker then
        holds further messages for us (backpressure, not loss). Once closing, messages
        are not taken (and so not acknowledged): the broker redelivers them."""
        while not self._closing.is_set():
            try:
                self._queue.put(msg, timeout=0.5)
                self._received.inc()
                return
            except queue.Full:
                self._metrics.inc("queue_full_waits")

    def close(self) -> None:
        """Stop taking messages; `run` flushes what it holds and returns."""
        self._closing.set()

    def abort(self) -> None:
        """Stop waiting for a store that does not come back: return without
        acknowledging what could not be stored."""
        self._closing.set()
        self._stop.set()

    @property
    def writer_alive(self) -> bool:
        """False once the writer thread has died (a bug: nothing is stored from then)."""
        return self._writer is None or self._writer.is_alive()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    @property
    def spill_batches(self) -> int:
        return self._spill.batches

    @property
    def oldest_unacked_ms(self) -> int | None:
        """Receive time of the oldest message not yet acknowledged, epoch ms."""
        try:
            return self._unacked[0]
        except IndexError:
            pass
        with self._queue.mutex:
            return self._queue.queue[0].received_at_ms if self._queue.queue else None

    # -- the classifier thread, and the writer it starts ----------------------------

    def run(self) -> None:
        """Classify and batch in this thread, store and acknowledge in a writer thread;
        return once everything taken is stored and acknowledged (after `close`), or
        early after `abort` (what is not acknowledged comes back from the broker)."""
        writer = threading.Thread(target=self._write_batches, name="collector-writer", daemon=True)
        self._writer = writer
        writer.start()
        try:
            self._classify()
        finally:
            if writer.is_alive():
                self._handoff(None)
                writer.join()

    def _classify(self) -> None:
        batch = Batch()
        while True:
            timeout = self._max_age_s
            if batch:
                timeout = max(0.0, batch.started + self._max_age_s - time.monotonic())
            try:
                msg = self._queue.get(timeout=timeout)
            except queue.Empty:
                if batch:
                    batch = self._handoff(batch)
                elif self._closing.is_set():
                    return
                continue
            if not batch:
                batch.started = time.monotonic()
                self._unacked.append(msg.received_at_ms)
            self._take(batch, msg)
            if len(batch.accepted) >= self._max_points or (
                time.monotonic() - batch.started >= self._max_age_s
            ):
                batch = self._handoff(batch)
            if self._stop.is_set():
                return

    def _handoff(self, batch: Batch | None) -> Batch:
        """Give a finished batch (None: the end) to the writer, waiting while it is
        busy with the one before; returns a fresh batch. Gives up after `abort`."""
        while not self._writer_free.acquire(timeout=0.5):
            if self._stop.is_set():
                return Batch()  # not acknowledged: the broker redelivers it
            if self._writer is not None and not self._writer.is_alive():
                raise RuntimeError("the pipeline's writer thread has died (logged)")
        self._batches.put(batch)  # never full: the writer took the one before
        return Batch()

    def _write_batches(self) -> None:
        try:
            while True:
                try:
                    batch = self._batches.get(timeout=0.5)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if batch is None:
                    return
                if not self._flush(batch):
                    # Aborted with nowhere to put it: acknowledge nothing after it
                    # either (MQTT wants acks in order); the broker redelivers.
                    return
                self._unacked.popleft()
                self._writer_free.release()
        except Exception:  # a bug: logged here; the service sees the thread gone
            log.exception("pipeline writer failed: nothing more is stored or acknowledged")

    def _take(self, batch: Batch, msg: Inbound) -> None:
        outcome = classify(msg.topic, msg.payload, self._fleet)
        if isinstance(outcome, Accepted | AcceptedEvent):
            batch.accepted.append((outcome, msg))
            if isinstance(outcome, Accepted):
                # Riders see a valid reading at once, not after the batch is stored:
                # storage stays at-least-once (the broker keeps the message until the
                # batch is stored), and live state only ever moves forward.
                point = outcome.point
                self._live.update(
                    point.station, point.device, DeviceKind(point.measurement), outcome.reading
                )
        elif isinstance(outcome, GatewayUpdate):
            batch.gateway.append(outcome)
            self._live.set_gateway(outcome.station, outcome.status)
        else:
            self._reject(batch.dead, msg.topic, msg.payload, msg.received_at_ms, outcome)
        batch.acks.append((msg.mid, msg.qos))

    def _reject(
        self, dead: list[DeadLetter], topic: str, raw: bytes, at_ms: int, why: Rejected
    ) -> None:
        self._metrics.reject(why.reason)
        log.warning(
            "message rejected",
            extra={"reason": why.reason, "detail": why.detail[:300], "topic": topic[:200]},
        )
        dead.append(DeadLetter(at_ms, topic, why.reason, why.detail, raw))

    def _flush(self, batch: Batch) -> bool:
        """Store or spill the batch, then acknowledge it (the writer thread). False:
        aborted before it could be put anywhere (not acknowledged)."""
        stored = self._persist(batch)
        if stored is None:
            return False  # shutting down with nowhere to put it: the broker redelivers
        self._dead.add(batch.dead)
        if self._observer is not None and (stored or batch.gateway):
            self._observer(stored, batch.gateway)
        for mid, qos in batch.acks:
            if qos > 0:
                self._ack(mid, qos)
        self._metrics.update(
            {"stored": len(stored), "batches": 1}, observe={"batch_points": len(stored)}
        )
        return True

    def _persist(self, batch: Batch) -> list[tuple[Stored, Inbound]] | None:
        if not batch.accepted:
            return []
        if self._store_ok.is_set():
            try:
                return self._write_isolating(batch, batch.accepted)
            except StoreUnavailableError as exc:
                self._metrics.inc("write_errors")
                self._store_ok.clear()
                log.warning("store unavailable: spilling to disk", extra={"error": str(exc)[:200]})
        origins: list[Origin | None] = [
            Origin(m.topic, m.payload, m.received_at_ms) for _, m in batch.accepted
        ]
        if self._spill_batch([a.point for a, _ in batch.accepted], origins):
            return list(batch.accepted)
        return None

    def _spill_batch(self, points: list[Point], origins: list[Origin | None]) -> bool:
        """Append to the spill; while it is full, wait for the replayer to make room
        (we do not acknowledge meanwhile, so the broker holds newer messages)."""
        full_since: float | None = None
        while True:
            try:
                self._spill.append(points, origins)
            except SpillFullError as exc:
                if full_since is None:
                    full_since = time.monotonic()
                    self._metrics.inc("spill_full")
                    log.error(
                        "spill full: not acknowledging until the store drains it",
                        extra={"error": str(exc), "spill_bytes": self._spill.bytes},
                    )
                if self._stop.wait(0.5):
                    return False
                # Probe the store with this batch: if it is back, no room is needed.
                try:
                    self._store.write(points)
                except (StoreUnavailableError, StoreRejectedError):
                    continue
                self._store_ok.set()
                return True
            self._metrics.inc("spilled_batches")
            self._spilled.set()
            if full_since is not None:
                log.info("spill has room again", extra={"waited_s": time.monotonic() - full_since})
            return True

    def _write_isolating(
        self, batch: Batch, items: Sequence[tuple[Stored, Inbound]]
    ) -> list[tuple[Stored, Inbound]]:
        """Write; points the store refuses are dead-lettered with their message, the
        rest is written. StoreUnavailableError propagates."""
        refused = self._write_bisecting([a.point for a, _ in items])
        for i, why in refused.items():
            msg = items[i][1]
            self._reject(batch.dead, msg.topic, msg.payload, msg.received_at_ms, why)
        return [item for i, item in enumerate(items) if i not in refused]

    def _write_bisecting(self, points: Sequence[Point], first: int = 0) -> dict[int, Rejected]:
        """Write `points`; when the store refuses a batch (4xx), halve it until the
        refused points are isolated. Returns their indices (offset by `first`) and why."""
        if not points:
            return {}
        t0 = time.monotonic()
        try:
            self._store.write(points)
        except StoreRejectedError as exc:
            if len(points) == 1:
                return {first: Rejected("store_rejected", str(exc))}
            mid = len(points) // 2
            return self._write_bisecting(points[:mid], first) | self._write_bisecting(
                points[mid:], first + mid
            )
        self._metrics.observe("write_latency_ms", (time.monotonic() - t0) * 1000)
        return {}

    def write_points(self, points: Sequence[Point]) -> None:
        """For points that do not come from MQTT (the collector's own metrics): into
        the store, or the spill while the store is down. Thread-safe."""
        if self._store_ok.is_set():
            try:
                self._store.write(points)
                return
            except StoreUnavailableError:
                self._store_ok.clear()
        try:
            self._spill.append(points)
        except SpillFullError as exc:
            raise StoreUnavailableError(f"store down and spill full: {exc}") from exc
        self._spilled.set()

    # -- the replayer thread ---------------------------------------------------------

    def replay(self) -> None:
        """Drain the spill into the store, oldest batch first, until stopped."""
        delay = 0.2
        while not self._stop.is_set():
            oldest = self._spill.oldest()
            if oldest is None:
                self._store_ok.set()
                self._spilled.wait(0.5)
                self._spilled.clear()
                if self._closing.is_set() and self._spill.batches == 0:
                    return
                continue
            try:
                self._write_replayed(oldest.points, oldest.origins)
            except StoreUnavailableError as exc:
                log.info(
                    "store still unavailable",
                    extra={
                        "error": str(exc)[:200],
                        "spill_batches": self._spill.batches,
                        "retry_in_s": delay,
                    },
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            self._spill.remove(oldest.id)
            self._metrics.inc("replayed_batches")
            delay = 0.2
            if self._spill.batches == 0:
                log.info("spill drained: store caught up")
                self._store_ok.set()

    def _write_replayed(self, points: list[Point], origins: list[Origin | None]) -> None:
        refused = self._write_bisecting(points)
        dead: list[DeadLetter] = []
        for i, why in refused.items():
            p, origin = points[i], origins[i]
            if origin is None:  # not from MQTT: describe the point itself
                origin = Origin(
                    f"({p.measurement} {p.station} {p.device})", line(p).encode(), p.ts_ms
                )
            self._reject(dead, origin.topic, origin.payload, origin.received_at_ms, why)
        self._dead.add(dead)
