"""The collector's own health, written to the store as the `collector` measurement
every `self_metrics_interval_s`, next to the data it describes (Grafana needs no
second data source to show ingest rates, backlog and errors).

Tags: the `Point` tags of every measurement, used as follows: `device` = the
collector's MQTT client id (one series per collector or shard), `station` = `area` =
"-". Points keep the one shape that both stores and the spill queue know; the key
(measurement, station, device, ts) keeps collectors from overwriting each other.

Fields (types never change, so InfluxDB never sees a field type conflict):
- counters since start, ints: `received`, `stored`, `rejected`, `batches`,
  `write_errors`, `spilled_batches`, `replayed_batches` (always present), any other
  counter, and `rejected_<reason>` per reason;
- per distribution: `<name>_count` (int), `<name>_sum` (int for `batch_points`,
  else float) and `<name>_max`: the largest value since the previous point (absent
  if there was none);
- gauges: `queue_backlog`, `spill_backlog_batches`, `spill_backlog_bytes`,
  `oldest_unacked_age_ms` as ints; other gauges as floats.

Counters are cumulative: use `non_negative_derivative()` for rates (a restart
starts them at 0 again).
"""

import logging
import threading
from collections.abc import Callable, Sequence

from collector.ingest.points import FieldValue, Point
from collector.metrics.counters import Metrics, MetricsSnapshot
from warmnet.clock import Clock

log = logging.getLogger(__name__)

MEASUREMENT = "collector"
NO_TAG = "-"

ALWAYS = (
    "received",
    "stored",
    "rejected",
    "batches",
    "write_errors",
    "spilled_batches",
    "replayed_batches",
)
INT_DISTRIBUTIONS = frozenset({"batch_points"})
INT_GAUGES = frozenset(
    {"queue_backlog", "spill_backlog_batches", "spill_backlog_bytes", "oldest_unacked_age_ms"}
)

WritePoints = Callable[[Sequence[Point]], object]


def _key(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)


def fields_of(snap: MetricsSnapshot) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {name: 0 for name in ALWAYS}
    for name, n in snap.counters.items():
        fields[_key(name)] = int(n)
    for reason, n in snap.rejected.items():
        fields[f"rejected_{_key(reason)}"] = int(n)
    for name, dist in snap.distributions.items():
        key = _key(name)
        as_int = name in INT_DISTRIBUTIONS
        fields[f"{key}_count"] = dist.count
        fields[f"{key}_sum"] = round(dist.sum) if as_int else float(dist.sum)
        if dist.window_max is not None:
            fields[f"{key}_max"] = round(dist.window_max) if as_int else float(dist.window_max)
    for name, value in snap.gauges.items():
        fields[_key(name)] = round(value) if name in INT_GAUGES else float(value)
    return fields


class SelfMetrics:
    """Builds the `collector` point from `metrics` and writes it with `write`
    (the service passes the same durable path as for data: store, or spill)."""

    def __init__(
        self,
        metrics: Metrics,
        collector_id: str,
        write: WritePoints,
        clock: Clock,
        interval_s: float = 10.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.metrics = metrics
        self.collector_id = collector_id
        self.interval_s = interval_s
        self._write = write
        self._clock = clock

    def point(self, now_ms: int) -> Point:
        """The point for `now_ms`; starts a new window for the `_max` fields."""
        snap = self.metrics.read(reset_window=True)
        return Point(MEASUREMENT, NO_TAG, self.collector_id, NO_TAG, now_ms, fields_of(snap))

    def report(self) -> bool:
        """Write one point now. Never raises: a failure is logged and counted."""
        try:
            self._write([self.point(self._clock.now_ms())])
        except Exception as exc:
            self.metrics.inc("self_metrics_errors")
            log.warning(
                "self-metrics not written",
                extra={"collector": self.collector_id, "error": repr(exc)[:200]},
            )
            return False
        return True

    def run(self, stop: threading.Event) -> None:
        """Report every `interval_s` until `stop` is set (a thread's target)."""
        while not stop.wait(self.interval_s):
            self.report()
