"""The notifier: `submit()` from any thread never blocks; one worker thread per target
delivers with retries, backoff and rate limits.

Flow: `submit(n)` drops silenced alerts, lets the subject gate coalesce update noise,
and offers `n` to the bounded queue of every enabled target that selects it. Each
target's worker takes the oldest message, waits for a slot of the target's rate
limit, renders and POSTs it (up to `retry.max_attempts`, exponential backoff with
jitter between attempts) and counts the result. A dead or hanging webhook only ever
holds up its own worker; when its queue is full new messages are dropped (counted,
logged) — except that a message outranking the least important queued one (an update,
or a lower severity) replaces it.
"""

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Self
from zoneinfo import ZoneInfo

import httpx

from collector.notify.formats import render
from collector.notify.limits import SubjectGate, WindowLimiter
from collector.notify.model import Event, Notification
from collector.notify.targets import NotifyConfig, RetryPolicy, Target
from collector.notify.transport import Attempt, post
from warmnet.clock import Clock, SystemClock

log = logging.getLogger(__name__)

POLL_S = 0.05  # longest real-time wait before a rate-limited worker asks its clock again
DROP_LOG_EVERY_S = 10.0  # a full queue logs at most this often per target (with counts)


@dataclass(slots=True)
class TargetStats:
    queued: int = 0  # waiting now
    sent: int = 0
    failed: int = 0  # gave up: attempts used up, permanent error, or stopped mid-retry
    dropped: int = 0  # queue full, or still queued when stop() ran out of time
    retried: int = 0  # attempts after the first
    throttled: int = 0  # messages that had to wait for the target's rate limit
    dry_run: int = 0  # rendered and logged only (placeholder target in a demo)


@dataclass(slots=True)
class NotifierStats:
    submitted: int = 0
    silenced: int = 0
    coalesced: int = 0  # held back by the subject gate
    unselected: int = 0  # no target wanted it
    targets: dict[str, TargetStats] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _priority(n: Notification) -> tuple[bool, int]:
    """Larger is less important: updates first, then lower severities."""
    return (n.event is Event.UPDATED, n.severity.rank)


def backoff_s(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Delay after failed attempt `attempt` (1-based): exponential, capped, half jitter."""
    full = min(policy.max_delay_s, policy.base_delay_s * 2.0 ** (attempt - 1))
    return full / 2 + rng.uniform(0, full / 2)


class _Worker:
    def __init__(
        self,
        target: Target,
        config: NotifyConfig,
        clock: Clock,
        tz: ZoneInfo,
        client_factory: Callable[[Target, float], httpx.Client],
        rng: random.Random,
    ) -> None:
        self.target = target
        self._retry = config.retry
        self._timeout = config.timeout_s
        self._max = config.queue_size
        self._tz = tz
        self._client_factory = client_factory
        self._rng = rng
        self._limiter = WindowLimiter(target.rate_limit_per_min, 60.0, clock)
        self._queue: deque[Notification] = deque()
        self._ranks: Counter[tuple[bool, int]] = Counter()  # priorities of queued messages
        self._cond = threading.Condition()
        self._stopping = False
        self._abort = threading.Event()  # stop() ran out of time: leave now
        self._busy = False
        self.stats = TargetStats()
        self._drops_unlogged = 0
        self._drop_logged_at = -DROP_LOG_EVERY_S
        self.thread = threading.Thread(target=self._run, name=f"notify-{target.name}", daemon=True)

    # -- the caller's side (never blocks beyond a short lock) ----------------------------

    def offer(self, n: Notification) -> bool:
        with self._cond:
            if self._stopping:
                self._count_drop(n, "notifier stopping")
                return False
            priority = _priority(n)
            if len(self._queue) >= self._max:
                worst = max(self._ranks)  # O(1): 10 possible priorities
                if priority >= worst:
                    self._count_drop(n, "queue full")
                    return False
                # Rare (a full queue of lesser messages): scan for the oldest of the worst.
                victim = next(q for q in self._queue if _priority(q) == worst)
                self._queue.remove(victim)
                self._uncount(victim)
                self._count_drop(victim, "queue full: replaced by a more important one")
            self._queue.append(n)
            self._ranks[priority] += 1
            self._cond.notify()
            return True

    def _uncount(self, n: Notification) -> None:
        priority = _priority(n)
        self._ranks[priority] -= 1
        if not self._ranks[priority]:
            del self._ranks[priority]

    def _count_drop(self, n: Notification, why: str) -> None:
        self.stats.dropped += 1
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_EVERY_S:
            log.warning(
                "notification dropped",
                extra={
                    "target": self.target.name,
                    "why": why,
                    "alert_id": n.alert_id,
                    "event": n.event.value,
                    "dropped_since_last_log": self._drops_unlogged,
                    "dropped_total": self.stats.dropped,
                },
            )
            self._drop_logged_at = now
            self._drops_unlogged = 0

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def snapshot(self) -> TargetStats:
        with self._cond:
            return replace(self.stats, queued=len(self._queue))

    def begin_stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Out of time: whatever is still queued is dropped (counted and logged)."""
        self._abort.set()
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
            self._ranks.clear()
            self.stats.dropped += len(left)
            self._cond.notify_all()
        if left:
            log.warning(
                "notifications not delivered before shutdown",
                extra={
                    "target": self.target.name,
                    "count": len(left),
                    "alert_ids": ",".join(n.alert_id for n in left[:10]),
                },
            )

    # -- the worker thread --------------------------------------------------------------

    def _next(self) -> Notification | None:
        with self._cond:
            self._busy = False
            while not self._queue:
                if self._stopping or self._abort.is_set():
                    return None
                self._cond.wait()
            if self._abort.is_set():
                return None
            self._busy = True
            n = self._queue.popleft()
            self._uncount(n)
            return n

    def _run(self) -> None:
        client = self._client_factory(self.target, self._timeout)
        try:
            while (n := self._next()) is not None:
                try:
                    self._deliver(client, n)
                except Exception:  # a bug here must not kill the worker
                    with self._cond:
                        self.stats.failed += 1
                    log.exception(
                        "notification failed",
                        extra={"target": self.target.name, "alert_id": n.alert_id},
                    )
        finally:
            client.close()
            with self._cond:
                self._busy = False

    def _wait_for_slot(self) -> bool:
        """Block until the rate limit has room; False if aborted meanwhile."""
        throttled = False
        while (wait := self._limiter.reserve()) > 0:
            if not throttled:
                throttled = True
                with self._cond:
                    self.stats.throttled += 1
            if self._abort.wait(min(wait, POLL_S)):
                return False
        return True

    def _deliver(self, client: httpx.Client, n: Notification) -> None:
        ctx = {"target": self.target.name, "alert_id": n.alert_id, "event": n.event.value}
        body = render(self.target.type, n, self._tz)
        if self.target.dry_run:
            with self._cond:
                self.stats.dry_run += 1
            log.info("notification (dry run: placeholder target)", extra={**ctx, "body": body})
            return
        if not self._wait_for_slot():
            with self._cond:
                self.stats.dropped += 1
            log.warning("notification not sent before shutdown", extra=ctx)
            return
        for attempt in range(1, self._retry.max_attempts + 1):
            result = post(client, self.target, body)
            if result.outcome == "sent":
                with self._cond:
                    self.stats.sent += 1
                log.debug("notification sent", extra={**ctx, "attempt": attempt})
                return
            if result.outcome == "fail" or attempt == self._retry.max_attempts:
                self._failed(ctx, result, attempt)
                return
            delay = self._delay(attempt, result)
            log.info(
                "notification attempt failed; retrying",
                extra={**ctx, "attempt": attempt, "reason": result.reason, "delay_s": delay},
            )
            if self._abort.wait(delay):
                self._failed(ctx, Attempt("fail", f"stopped while retrying ({result.reason})"), 0)
                return
            with self._cond:
                self.stats.retried += 1

    def _delay(self, attempt: int, result: Attempt) -> float:
        delay = backoff_s(attempt, self._retry, self._rng)
        if result.rate_limited:
            delay = max(delay, self._retry.rate_limited_delay_s)
        if result.retry_after_s is not None:
            delay = max(delay, min(result.retry_after_s, self._retry.max_delay_s))
        return delay

    def _failed(self, ctx: dict[str, str], result: Attempt, attempts: int) -> None:
        with self._cond:
            self.stats.failed += 1
        log.error(
            "notification failed",
            extra={**ctx, "attempts": attempts, "reason": result.reason},
        )


def default_client(target: Target, timeout_s: float) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        follow_redirects=False,
        headers={"User-Agent": "warmnet-notify/1"},
    )


class Notifier:
    """Deliver notifications to the configured targets without ever blocking the caller.

    `Notifier(config)` starts one daemon thread per enabled target; `submit(n)` is safe
    from any thread and returns at once; `stop(timeout)` delivers what it can in time.
    """

    def __init__(
        self,
        config: NotifyConfig,
        *,
        clock: Clock | None = None,
        timezone: str | ZoneInfo = "Asia/Shanghai",
        client_factory: Callable[[Target, float], httpx.Client] = default_client,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock: Clock = clock if clock is not None else SystemClock()
        tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        rng = rng if rng is not None else random.Random()
        self._gate = SubjectGate(config.update_interval_s, self._clock)
        self._lock = threading.Lock()  # guards the gate and the submit-side counters
        self._stats = NotifierStats()
        self._stopped = False
        self._workers: Sequence[_Worker] = [
            _Worker(t, config, self._clock, tz, client_factory, rng) for t in config.enabled_targets
        ]
        for w in self._workers:
            w.thread.start()
        log.info(
            "notifier started",
            extra={"targets": ",".join(w.target.name for w in self._workers) or "none"},
        )

    def submit(self, n: Notification) -> int:
        """Queue `n` for every target that selects it; return how many took it (0:
        silenced, coalesced, unwanted or dropped). Never blocks, never raises for
        delivery trouble."""
        with self._lock:
            self._stats.submitted += 1
            if n.silenced:
                self._stats.silenced += 1
                return 0
            if self._stopped:
                return 0
            wanted = [w for w in self._workers if w.target.selects(n)]
            if not wanted:
                self._stats.unselected += 1
                return 0
            passed, held = self._gate.admit(n)
            if not passed:
                self._stats.coalesced += 1
                return 0
        if held:
            n = replace(n, repeats=held)
        return sum(w.offer(n) for w in wanted)

    def stats(self) -> NotifierStats:
        """A snapshot of the counters (per target: queued, sent, failed, dropped...)."""
        with self._lock:
            snap = replace(self._stats, targets={})
        snap.targets = {w.target.name: w.snapshot() for w in self._workers}
        return snap

    def pending(self) -> int:
        """Messages queued or being delivered, over all targets."""
        return sum(w.pending() for w in self._workers)

    def stop(self, timeout: float = 5.0) -> bool:
        """Take no more; deliver what is queued within `timeout` seconds, then drop the
        rest (counted, logged). True if everything was delivered (or given up on)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopped = True
        for w in self._workers:
            w.begin_stop()
        for w in self._workers:
            w.thread.join(max(0.0, deadline - time.monotonic()))
        drained = all(not w.thread.is_alive() for w in self._workers)
        for w in self._workers:
            w.abort()  # a worker stuck in a request leaves after its HTTP timeout
        log.info("notifier stopped", extra={"drained": drained})
        return drained

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
