"""The outbox: where every uplink message waits until the broker acknowledged it.

One small interface (`Outbox`), two implementations tested by one shared suite:
`MemoryOutbox` (tests, throwaway runs) and `SqliteOutbox` (`gateway/outbox_sqlite.py`,
the default: survives restarts and kill -9).

- Order: ids grow with every `put`; `scan` returns messages in id order, so a device's
  messages leave in the order they were accepted.
- A message leaves only through `remove` (the uplink calls it on PUBACK).
- The outbox remembers the last `seq` it accepted per (device, channel), in the same
  write as the message, so sequence numbers survive restarts without gaps or reuse.
- `enqueued_ms` never decreases (a clock stepping back is clamped), so "older than
  the freshness limit" is a prefix of the outbox and the uplink can split it into a
  historical backlog and live data with range scans.
- Budget (`max_bytes`, counted as topic + payload + a fixed row overhead): when a put
  would exceed it, old telemetry is thinned (`plan_thinning`: among the oldest
  messages, every other telemetry message of each device is dropped, keeping each
  device's first and last), repeated over a growing window until the message fits.
  Events are never dropped: they are accepted over budget. Telemetry that still does
  not fit (nothing left to thin) is refused. Both counted (`thinned`, `refused`) and
  logged.
"""

import logging
import threading
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from warmnet.topics import Channel

log = logging.getLogger(__name__)

ROW_OVERHEAD = 64  # bytes per message besides topic and payload (ids, index entries)
THIN_MIN_WINDOW = 64  # thinning looks at least at this many of the oldest messages


@dataclass(frozen=True, slots=True)
class Envelope:
    """One uplink message as the gateway built it."""

    device: str
    channel: Channel  # TELEMETRY or EVENT; only telemetry is ever thinned
    seq: int
    topic: str
    payload: bytes  # JSON, without the `historical` flag (set at send time)
    enqueued_ms: int  # gateway clock when accepted

    @property
    def size(self) -> int:
        return len(self.topic) + len(self.payload) + ROW_OVERHEAD


class Entry(NamedTuple):
    id: int
    msg: Envelope


class Row(NamedTuple):
    """What the thinning policy needs to know about a stored message."""

    id: int
    device: str
    channel: Channel
    size: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    bytes: int
    thinned: int  # telemetry dropped by the budget policy since start
    refused: int  # telemetry refused at put since start (nothing left to thin)
    over_budget_events: int  # events accepted although over budget since start


class Outbox(Protocol):
    def put(self, msg: Envelope) -> int | None:
        """Keep `msg` durably and return its id; None if refused (telemetry only)."""
        ...

    def scan(
        self,
        after_id: int,
        limit: int,
        *,
        since_ms: int | None = None,
        before_ms: int | None = None,
    ) -> list[Entry]:
        """Up to `limit` messages with id > `after_id`, in id order; optionally only
        those enqueued at or after `since_ms` / before `before_ms`."""
        ...

    def remove(self, ids: Collection[int]) -> int:
        """Forget acknowledged messages (unknown ids are ignored); how many went."""
        ...

    def last_seq(self, device: str, channel: Channel) -> int | None:
        """The highest seq ever accepted for (device, channel), None if none."""
        ...

    @property
    def last_id(self) -> int:
        """The id of the newest message ever put (0 if none)."""
        ...

    def stats(self) -> OutboxStats: ...

    def close(self) -> None: ...


def plan_thinning(rows: Sequence[Row]) -> list[int]:
    """Which of `rows` (the oldest messages, in id order) to drop: per device, every
    other telemetry message, never the device's first or last one in `rows`, never an
    event. Pure; returns ids in ascending order."""
    by_device: dict[str, list[int]] = {}
    for row in rows:
        if row.channel is Channel.TELEMETRY:
            by_device.setdefault(row.device, []).append(row.id)
    victims: list[int] = []
    for ids in by_device.values():
        victims.extend(ids[1:-1:2])
    return sorted(victims)


class BaseOutbox(ABC):
    """The budget policy and counters; storage primitives are the subclasses'."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be > 0")
        self.max_bytes = max_bytes
        self.thinned = 0
        self.refused = 0
        self.over_budget_events = 0
        self._lock = threading.RLock()
        self._last_enqueued_ms = 0

    # -- storage primitives (called with the lock held)

    @abstractmethod
    def _insert(self, msg: Envelope) -> int: ...

    @abstractmethod
    def _oldest(self, n: int) -> list[Row]: ...

    @abstractmethod
    def _delete(self, ids: Collection[int]) -> int: ...

    @abstractmethod
    def _depth_bytes(self) -> tuple[int, int]: ...

    # -- the rest of the interface

    @abstractmethod
    def scan(
        self,
        after_id: int,
        limit: int,
        *,
        since_ms: int | None = None,
        before_ms: int | None = None,
    ) -> list[Entry]: ...

    @abstractmethod
    def last_seq(self, device: str, channel: Channel) -> int | None: ...

    @property
    @abstractmethod
    def last_id(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- the interface

    def put(self, msg: Envelope) -> int | None:
        if msg.channel not in (Channel.TELEMETRY, Channel.EVENT):
            raise ValueError(f"the outbox holds telemetry and events, not {msg.channel}")
        with self._lock:
            if msg.enqueued_ms < self._last_enqueued_ms:
                msg = _with_enqueued(msg, self._last_enqueued_ms)
            depth, used = self._depth_bytes()
            if used + msg.size > self.max_bytes:
                self._make_room(used + msg.size - self.max_bytes, depth)
                depth, used = self._depth_bytes()
                if used + msg.size > self.max_bytes:
                    if msg.channel is Channel.TELEMETRY:
                        self.refused += 1
                        log.error(
                            "outbox full of what cannot be thinned: telemetry refused",
                            extra={"device": msg.device, "seq": msg.seq, "refused": self.refused},
                        )
                        return None
                    self.over_budget_events += 1
                    log.warning(
                        "outbox over budget: event kept anyway (events are never dropped)",
                        extra={"device": msg.device, "bytes": used, "max_bytes": self.max_bytes},
                    )
            msg_id = self._insert(msg)
            self._last_enqueued_ms = msg.enqueued_ms
            return msg_id

    def remove(self, ids: Collection[int]) -> int:
        if not ids:
            return 0
        with self._lock:
            return self._delete(ids)

    def stats(self) -> OutboxStats:
        with self._lock:
            depth, used = self._depth_bytes()
            return OutboxStats(depth, used, self.thinned, self.refused, self.over_budget_events)

    def _make_room(self, needed: int, depth: int) -> None:
        window = max(THIN_MIN_WINDOW, depth // 8)
        freed = dropped = 0
        while freed < needed:
            rows = self._oldest(window)
            victims = set(plan_thinning(rows))
            if victims:
                freed += sum(r.size for r in rows if r.id in victims)
                dropped += self._delete(victims)
            elif window >= depth:
                break  # nothing left to thin anywhere
            else:
                window *= 2
        if dropped:
            self.thinned += dropped
            depth_after, used = self._depth_bytes()
            log.warning(
                "outbox over budget: thinned old telemetry",
                extra={
                    "dropped": dropped,
                    "freed_bytes": freed,
                    "thinned_total": self.thinned,
                    "depth": depth_after,
                    "bytes": used,
                    "max_bytes": self.max_bytes,
                },
            )


def _with_enqueued(msg: Envelope, enqueued_ms: int) -> Envelope:
    return Envelope(msg.device, msg.channel, msg.seq, msg.topic, msg.payload, enqueued_ms)


class MemoryOutbox(BaseOutbox):
    """In memory: lost with the process. Ids and enqueue times sit in two sorted lists
    (deleted ids linger until compaction), so range scans are binary searches."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        super().__init__(max_bytes)
        self._ids: list[int] = []
        self._enq: list[int] = []
        self._rows: dict[int, Envelope] = {}
        self._dead = 0
        self._bytes = 0
        self._next_id = 1
        self._seqs: dict[tuple[str, Channel], int] = {}

    def _insert(self, msg: Envelope) -> int:
        msg_id = self._next_id
        self._next_id += 1
        self._ids.append(msg_id)
        self._enq.append(msg.enqueued_ms)
        self._rows[msg_id] = msg
        self._bytes += msg.size
        key = (msg.device, msg.channel)
        self._seqs[key] = max(msg.seq, self._seqs.get(key, -1))
        return msg_id

    def _oldest(self, n: int) -> list[Row]:
        out: list[Row] = []
        for msg_id in self._ids:
            msg = self._rows.get(msg_id)
            if msg is not None:
                out.append(Row(msg_id, msg.device, msg.channel, msg.size))
                if len(out) >= n:
                    break
        return out

    def _delete(self, ids: Collection[int]) -> int:
        n = 0
        for msg_id in ids:
            msg = self._rows.pop(msg_id, None)
            if msg is not None:
                self._bytes -= msg.size
                n += 1
        self._dead += n
        if self._dead > 1024 and self._dead * 2 > len(self._ids):
            keep = [i for i, msg_id in enumerate(self._ids) if msg_id in self._rows]
            self._ids = [self._ids[i] for i in keep]
            self._enq = [self._enq[i] for i in keep]
            self._dead = 0
        return n

    def _depth_bytes(self) -> tuple[int, int]:
        return len(self._rows), self._bytes

    def scan(
        self,
        after_id: int,
        limit: int,
        *,
        since_ms: int | None = None,
        before_ms: int | None = None,
    ) -> list[Entry]:
        with self._lock:
            lo = bisect_right(self._ids, after_id)
            if since_ms is not None:
                lo = max(lo, bisect_left(self._enq, since_ms))
            hi = len(self._ids) if before_ms is None else bisect_left(self._enq, before_ms)
            out: list[Entry] = []
            for i in range(lo, hi):
                if len(out) >= limit:
                    break
                msg = self._rows.get(self._ids[i])
                if msg is not None:
                    out.append(Entry(self._ids[i], msg))
            return out

    def last_seq(self, device: str, channel: Channel) -> int | None:
        with self._lock:
            return self._seqs.get((device, channel))

    @property
    def last_id(self) -> int:
        with self._lock:
            return self._next_id - 1

    def close(self) -> None:
        pass
