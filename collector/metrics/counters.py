"""The collector's own metrics: counters, distributions and gauges (thread-safe).

Read by the Prometheus endpoint (`metrics_http.py`) and written to the store as the
`collector` measurement (`selfmetrics.py`).

- Counters (`inc`, `reject`, `update`): cumulative ints since the process started.
  `received`, `stored`, `rejected` (total, and per reason), `batches`,
  `write_errors`, `spilled_batches`, `replayed_batches`, and any other name.
- Distributions (`observe`): count, sum, max and a small fixed-bucket histogram, e.g.
  `batch_points` (points per batch) and `write_latency_ms` (one store write).
- Gauges: a value set now (`set_gauge`) or read on demand (`gauge_fn`), e.g.
  `queue_backlog`, `spill_backlog_batches`, `spill_backlog_bytes`,
  `oldest_unacked_age_ms`.

Cost on the hot path: `inc` is one lock acquisition and a dict update (~0.4 us
here). For a per-message count, take a `counter(name)` once and call its `inc()`:
no lock (one cell per thread, written only by its thread, summed on read), ~0.1 us.
Per batch, `update(...)` records several counters and observations under one lock.
"""

import bisect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

GaugeFn = Callable[[], float]

# Upper bounds (Prometheus `le`, inclusive) of the histogram buckets; one more bucket
# (+Inf) takes the rest. Small and fixed: a point in the store carries no buckets.
BUCKETS: dict[str, tuple[float, ...]] = {
    "batch_points": (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
    "write_latency_ms": (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
}
DEFAULT_BUCKETS: tuple[float, ...] = (1, 10, 100, 1000, 10000, 100000)


@dataclass(frozen=True, slots=True)
class Distribution:
    """What `observe` accumulated. `counts[i]` is the number of values in bucket i
    (non-cumulative; `bounds[i-1] < v <= bounds[i]`); the last one is +Inf."""

    count: int
    sum: float
    max: float  # since start; 0.0 before the first observation
    window_max: float | None  # since the last read(reset_window=True); None: none since
    bounds: tuple[float, ...]
    counts: tuple[int, ...]

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, values <= bound) pairs, ending with (inf, count)."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    counters: dict[str, int]  # includes "rejected", the total over all reasons
    rejected: dict[str, int]
    distributions: dict[str, Distribution]
    gauges: dict[str, float]


class _Dist:
    __slots__ = ("bounds", "count", "counts", "max", "sum", "window_max")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.max = 0.0
        self.window_max: float | None = None

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if self.count == 1 or value > self.max:
            self.max = value
        if self.window_max is None or value > self.window_max:
            self.window_max = value

    def freeze(self) -> Distribution:
        return Distribution(
            self.count, self.sum, self.max, self.window_max, self.bounds, tuple(self.counts)
        )


class ThreadCounter:
    """A lock-free counter for per-message counts: each thread increments its own
    cell (no lost updates, no lock); `value` sums the cells."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._cells: list[list[int]] = []
        self._lock = threading.Lock()  # only when a thread counts for the first time

    def inc(self, n: int = 1) -> None:
        try:
            cell: list[int] = self._local.cell
        except AttributeError:
            cell = self._new_cell()
        cell[0] += n

    def _new_cell(self) -> list[int]:
        cell = [0]
        self._local.cell = cell
        with self._lock:
            self._cells.append(cell)
        return cell

    @property
    def value(self) -> int:
        with self._lock:
            cells = list(self._cells)
        return sum(c[0] for c in cells)


class Metrics:
    def __init__(self, buckets: Mapping[str, Iterable[float]] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._hot: dict[str, ThreadCounter] = {}
        self._bounds = {**BUCKETS, **{k: tuple(sorted(v)) for k, v in (buckets or {}).items()}}
        self._dists: dict[str, _Dist] = {}
        self._gauges: dict[str, float] = {}
        self._gauge_fns: dict[str, GaugeFn] = {}
        self._failing_gauges: set[str] = set()

    # -- counters ------------------------------------------------------------------------

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def counter(self, name: str) -> ThreadCounter:
        """A lock-free counter for the hot path, added into `name` (same name, same
        counter: `get(name)` is the sum of `inc(name)` and this)."""
        with self._lock:
            return self._hot.setdefault(name, ThreadCounter())

    def reject(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._reject(reason, n)

    def _reject(self, reason: str, n: int) -> None:
        self._rejected[reason] = self._rejected.get(reason, 0) + n
        self._counts["rejected"] = self._counts.get("rejected", 0) + n

    def update(
        self,
        counts: Mapping[str, int] | None = None,
        *,
        rejected: Mapping[str, int] | None = None,
        observe: Mapping[str, float] | None = None,
    ) -> None:
        """Several counters, rejections and observations under one lock (per batch)."""
        with self._lock:
            for name, n in (counts or {}).items():
                self._counts[name] = self._counts.get(name, 0) + n
            for reason, n in (rejected or {}).items():
                self._reject(reason, n)
            for name, value in (observe or {}).items():
                self._observe(name, value)

    def get(self, name: str) -> int:
        with self._lock:
            hot = self._hot.get(name)
            n = self._counts.get(name, 0)
        return n + hot.value if hot is not None else n

    def rejected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._rejected)

    def snapshot(self) -> dict[str, int]:
        """Counters, and `rejected.<reason>` per reason (for logs and test messages)."""
        snap, rejected = self._counters()
        snap.update({f"rejected.{k}": v for k, v in rejected.items()})
        return snap

    def _counters(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            counts = dict(self._counts)
            rejected = dict(self._rejected)
            hot = list(self._hot.items())
        for name, counter in hot:
            counts[name] = counts.get(name, 0) + counter.value
        return counts, rejected

    # -- distributions -------------------------------------------------------------------

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            self._observe(name, value)

    def _observe(self, name: str, value: float) -> None:
        if value != value:  # NaN: not a measurement
            return
        dist = self._dists.get(name)
        if dist is None:
            dist = self._dists[name] = _Dist(self._bounds.get(name, DEFAULT_BUCKETS))
        dist.add(value)

    def distribution(self, name: str) -> Distribution | None:
        with self._lock:
            dist = self._dists.get(name)
            return dist.freeze() if dist is not None else None

    # -- gauges --------------------------------------------------------------------------

    def set_gauge(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = value

    def gauge_fn(self, name: str, fn: GaugeFn) -> None:
        """Read `fn()` whenever metrics are read (outside our lock). It overrides a value
        set with `set_gauge`; if it raises, the gauge is left out of that reading."""
        with self._lock:
            self._gauge_fns[name] = fn

    def gauges(self) -> dict[str, float]:
        with self._lock:
            values = dict(self._gauges)
            fns = list(self._gauge_fns.items())
        for name, fn in fns:
            try:
                values[name] = fn()
            except Exception as exc:  # a broken callback must not break a scrape
                values.pop(name, None)
                if name not in self._failing_gauges:
                    self._failing_gauges.add(name)
                    log.warning("gauge callback failed", extra={"gauge": name, "error": repr(exc)})
            else:
                self._failing_gauges.discard(name)
        return values

    # -- everything at once --------------------------------------------------------------

    def read(self, *, reset_window: bool = False) -> MetricsSnapshot:
        """Everything, consistent per kind. `reset_window` starts a new window for
        `Distribution.window_max` (one reader only should do that: the self-metrics)."""
        counters, rejected = self._counters()
        with self._lock:
            dists = {name: d.freeze() for name, d in self._dists.items()}
            if reset_window:
                for d in self._dists.values():
                    d.window_max = None
        return MetricsSnapshot(counters, rejected, dists, self.gauges())
