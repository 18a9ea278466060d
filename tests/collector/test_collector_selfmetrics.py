"""The `collector` measurement: the collector's own health as a point, on a fake clock."""

import threading
from collections.abc import Sequence

import pytest

from collector.ingest.points import Point, line
from collector.metrics.counters import Metrics
from collector.metrics.series import MEASUREMENT, SelfMetrics
from collector.stores.base import StoreUnavailableError
from testbed.services import wait_for
from warmnet.clock import FakeClock


class Recorder:
    def __init__(self) -> None:
        self.points: list[Point] = []

    def __call__(self, points: Sequence[Point]) -> None:
        self.points.extend(points)


def busy_metrics() -> Metrics:
    m = Metrics()
    m.counter("received").inc(103)
    m.update(
        {"stored": 100, "batches": 2, "write_errors": 1, "spilled_batches": 1},
        rejected={"schema": 2, "malformed_json": 1},
        observe={"batch_points": 60, "write_latency_ms": 8.5},
    )
    m.update(observe={"batch_points": 40, "write_latency_ms": 1.5})
    m.inc("replayed_batches")
    m.gauge_fn("queue_backlog", lambda: 3)
    m.gauge_fn("spill_backlog_batches", lambda: 0)
    m.gauge_fn("spill_backlog_bytes", lambda: 4096.0)  # a float from a callback: stored as int
    m.gauge_fn("oldest_unacked_age_ms", lambda: 250)
    return m


def test_the_point_carries_counters_distributions_and_gauges() -> None:
    clock = FakeClock()
    reporter = SelfMetrics(busy_metrics(), "col-1", Recorder(), clock, interval_s=10)

    point = reporter.point(clock.now_ms())

    assert (point.measurement, point.station, point.device, point.area) == (
        MEASUREMENT,
        "-",
        "col-1",
        "-",
    )
    assert point.ts_ms == clock.now_ms()
    assert point.fields == {
        "received": 103,
        "stored": 100,
        "rejected": 3,
        "rejected_schema": 2,
        "rejected_malformed_json": 1,
        "batches": 2,
        "write_errors": 1,
        "spilled_batches": 1,
        "replayed_batches": 1,
        "batch_points_count": 2,
        "batch_points_sum": 100,
        "batch_points_max": 60,
        "write_latency_ms_count": 2,
        "write_latency_ms_sum": 10.0,
        "write_latency_ms_max": 8.5,
        "queue_backlog": 3,
        "spill_backlog_batches": 0,
        "spill_backlog_bytes": 4096,
        "oldest_unacked_age_ms": 250,
    }


def test_field_types_never_change() -> None:
    """InfluxDB refuses a field whose type changes (int vs float): each field keeps one."""
    point = SelfMetrics(busy_metrics(), "col-1", Recorder(), FakeClock()).point(0)
    types = {k: type(v) for k, v in point.fields.items()}

    ints = {k for k, t in types.items() if t is int}
    floats = {k for k, t in types.items() if t is float}
    assert floats == {"write_latency_ms_sum", "write_latency_ms_max"}
    assert ints == set(point.fields) - floats
    assert "stored=100i" in line(point)
    assert "write_latency_ms_sum=10.0" in line(point)
    assert line(point).startswith("collector,area=-,device=col-1,station=- ")


def test_a_fresh_collector_reports_zeros_not_nothing() -> None:
    point = SelfMetrics(Metrics(), "col-1", Recorder(), FakeClock()).point(0)

    assert point.fields == {
        "received": 0,
        "stored": 0,
        "rejected": 0,
        "batches": 0,
        "write_errors": 0,
        "spilled_batches": 0,
        "replayed_batches": 0,
    }


def test_max_fields_cover_the_interval_since_the_previous_point() -> None:
    m = Metrics()
    clock = FakeClock()
    reporter = SelfMetrics(m, "col-1", Recorder(), clock)
    m.observe("write_latency_ms", 900.0)
    assert reporter.point(clock.now_ms()).fields["write_latency_ms_max"] == 900.0

    clock.advance(10)
    quiet = reporter.point(clock.now_ms()).fields
    assert "write_latency_ms_max" not in quiet  # nothing written in this interval
    assert quiet["write_latency_ms_count"] == 1

    m.observe("write_latency_ms", 12.0)
    clock.advance(10)
    assert reporter.point(clock.now_ms()).fields["write_latency_ms_max"] == 12.0


def test_report_writes_one_point_at_the_clock_time() -> None:
    clock = FakeClock()
    written = Recorder()
    reporter = SelfMetrics(busy_metrics(), "col-1", written, clock)

    assert reporter.report()
    clock.advance(10)
    assert reporter.report()

    assert [p.ts_ms for p in written.points] == [clock.now_ms() - 10_000, clock.now_ms()]
    assert all(p.fields["stored"] == 100 for p in written.points)


def test_a_failed_write_is_counted_and_logged_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = Metrics()

    def down(_points: Sequence[Point]) -> None:
        raise StoreUnavailableError("InfluxDB unreachable")

    reporter = SelfMetrics(m, "col-1", down, FakeClock())

    assert reporter.report() is False
    assert m.get("self_metrics_errors") == 1
    assert any(r.getMessage() == "self-metrics not written" for r in caplog.records)
    # ... and the next point says so
    assert reporter.point(0).fields["self_metrics_errors"] == 1


def test_run_reports_every_interval_until_stopped() -> None:
    written = Recorder()
    reporter = SelfMetrics(Metrics(), "col-1", written, FakeClock(), interval_s=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=reporter.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: len(written.points) >= 3, timeout=5, message="no self-metrics written")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SelfMetrics(Metrics(), "col-1", Recorder(), FakeClock(), interval_s=0)
