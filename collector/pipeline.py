"""The ingest pipeline: one thread takes messages in arrival order, classifies them,
batches points by size and age, writes each batch durably, and only then
acknowledges the batch's messages to the broker (in arrival order, as MQTT requires).

Nothing is lost: a message is acknowledged only once its point is stored or, if it is
invalid, once it is in the dead-letter store. Until then the broker keeps it in our
persistent session and redelivers it after a crash.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collector.deadletter import DeadLetter, DeadLetterStore
from collector.ingest import Accepted, GatewayUpdate, Rejected, classify
from collector.live import LiveState
from collector.metrics import Metrics
from collector.points import Point
from collector.stores.base import StoreRejectedError, StoreUnavailableError, TimeSeriesStore
from warmnet.kinds import DeviceKind
from warmnet.registry import Fleet

log = logging.getLogger(__name__)

Ack = Callable[[int, int], object]  # (mid, qos)


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
    accepted: list[tuple[Accepted, Inbound]] = field(default_factory=list)
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
        deadletters: DeadLetterStore,
        live: LiveState,
        metrics: Metrics,
        ack: Ack,
        *,
        max_points: int = 5000,
        max_age_s: float = 0.2,
        queue_max: int = 20000,
    ) -> None:
        self._fleet = fleet
        self._store = store
        self._dead = deadletters
        self._live = live
        self._metrics = metrics
        self._ack = ack
        self._max_points = max_points
        self._max_age_s = max_age_s
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_max)
        self._stop = threading.Event()

    def submit(self, msg: Inbound) -> None:
        """Called from the MQTT thread. Blocks while the queue is full: the broker then
        holds further messages for us (backpressure, not loss)."""
        self._metrics.inc("received")
        while not self._stop.is_set():
            try:
                self._queue.put(msg, timeout=0.5)
                return
            except queue.Full:
                self._metrics.inc("queue_full_waits")
        # Stopping: not acknowledged, so the broker redelivers it next session.

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        batch = Batch()
        while True:
            timeout = self._max_age_s
            if batch:
                timeout = max(0.0, batch.started + self._max_age_s - time.monotonic())
            try:
                msg = self._queue.get(timeout=timeout)
            except queue.Empty:
                if batch:
                    batch = self._flush(batch)
                elif self._stop.is_set():
                    return
                continue
            if not batch:
                batch.started = time.monotonic()
            self._take(batch, msg)
            if len(batch.accepted) >= self._max_points or (
                time.monotonic() - batch.started >= self._max_age_s
            ):
                batch = self._flush(batch)

    def _take(self, batch: Batch, msg: Inbound) -> None:
        outcome = classify(msg.topic, msg.payload, self._fleet)
        if isinstance(outcome, Accepted):
            batch.accepted.append((outcome, msg))
        elif isinstance(outcome, GatewayUpdate):
            batch.gateway.append(outcome)
        else:
            self._reject(batch, msg, outcome)
        batch.acks.append((msg.mid, msg.qos))

    def _reject(self, batch: Batch, msg: Inbound, why: Rejected) -> None:
        self._metrics.reject(why.reason)
        log.warning(
            "message rejected",
            extra={"reason": why.reason, "detail": why.detail, "topic": msg.topic[:200]},
        )
        batch.dead.append(
            DeadLetter(msg.received_at_ms, msg.topic, why.reason, why.detail, msg.payload)
        )

    def _flush(self, batch: Batch) -> Batch:
        """Store the batch, then acknowledge it. Returns a fresh batch. If the store is
        unavailable and we are stopping, returns without acknowledging anything."""
        stored = self._store_points(batch)
        if stored is None:
            return Batch()  # stopping with the store down: the broker redelivers
        self._dead.add(batch.dead)
        for accepted, _ in stored:
            point = accepted.point
            self._live.update(point.station, point.device, _kind(point), accepted.reading)
        for update in batch.gateway:
            self._live.set_gateway(update.station, update.status)
        for mid, qos in batch.acks:
            if qos > 0:
                self._ack(mid, qos)
        self._metrics.inc("stored", len(stored))
        self._metrics.inc("batches")
        return Batch()

    def _store_points(self, batch: Batch) -> list[tuple[Accepted, Inbound]] | None:
        """Write with retries. Points the store refuses (4xx) are isolated by
        bisection and dead-lettered; the rest are written. None: gave up (stopping)."""
        delay = 0.2
        while True:
            try:
                return self._write_isolating(batch, batch.accepted)
            except StoreUnavailableError as exc:
                self._metrics.inc("write_errors")
                log.warning(
                    "store unavailable, retrying",
                    extra={"error": str(exc)[:200], "retry_in_s": delay},
                )
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, 10.0)

    def _write_isolating(
        self, batch: Batch, items: Sequence[tuple[Accepted, Inbound]]
    ) -> list[tuple[Accepted, Inbound]]:
        if not items:
            return []
        t0 = time.monotonic()
        try:
            self._store.write([a.point for a, _ in items])
        except StoreRejectedError as exc:
            if len(items) == 1:
                _, msg = items[0]
                self._reject(batch, msg, Rejected("store_rejected", str(exc)))
                return []
            mid = len(items) // 2
            return self._write_isolating(batch, items[:mid]) + self._write_isolating(
                batch, items[mid:]
            )
        self._metrics.inc("write_ms_total", int((time.monotonic() - t0) * 1000))
        return list(items)


def _kind(point: Point) -> DeviceKind:
    return DeviceKind(point.measurement)
