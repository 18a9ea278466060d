"""The collector's in-process metrics: counters, distributions, gauges."""

import logging
import math
import threading

import pytest

from collector.metrics.counters import BUCKETS, DEFAULT_BUCKETS, Metrics

# --- counters ------------------------------------------------------------------------


def test_counters_add_up_and_unknown_names_are_zero() -> None:
    m = Metrics()
    m.inc("received")
    m.inc("received", 4)
    m.inc("stored", 3)

    assert m.get("received") == 5
    assert m.get("stored") == 3
    assert m.get("never") == 0


def test_rejections_count_per_reason_and_in_total() -> None:
    m = Metrics()
    m.reject("schema")
    m.reject("schema")
    m.reject("bad_topic", 3)

    assert m.rejected() == {"schema": 2, "bad_topic": 3}
    assert m.get("rejected") == 5
    assert m.snapshot() == {"rejected": 5, "rejected.schema": 2, "rejected.bad_topic": 3}


def test_update_records_a_whole_batch_at_once() -> None:
    m = Metrics()
    m.update(
        {"stored": 100, "batches": 1},
        rejected={"schema": 2},
        observe={"batch_points": 100, "write_latency_ms": 12.5},
    )
    m.update({"stored": 50, "batches": 1}, observe={"batch_points": 50})

    assert (m.get("stored"), m.get("batches"), m.get("rejected")) == (150, 2, 2)
    points = m.distribution("batch_points")
    assert points is not None
    assert (points.count, points.sum, points.max) == (2, 150, 100)
    latency = m.distribution("write_latency_ms")
    assert latency is not None and latency.sum == 12.5


def test_a_hot_counter_is_the_same_counter_as_inc() -> None:
    m = Metrics()
    received = m.counter("received")
    assert m.counter("received") is received
    received.inc()
    received.inc(2)
    m.inc("received", 10)

    assert m.get("received") == 13
    assert m.snapshot()["received"] == 13
    assert m.read().counters["received"] == 13


def test_counting_from_many_threads_loses_nothing() -> None:
    m = Metrics()
    hot = m.counter("received")
    n, threads = 20_000, 4

    def work() -> None:
        for _ in range(n):
            hot.inc()
            m.inc("stored")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert m.get("received") == n * threads
    assert m.get("stored") == n * threads


# --- distributions -------------------------------------------------------------------


def test_histogram_buckets_include_their_upper_bound() -> None:
    m = Metrics(buckets={"x": [10, 1, 5]})  # sorted for us
    for value in (0.5, 1, 1.01, 5, 7, 10, 11, 1e9):
        m.observe("x", value)

    d = m.distribution("x")
    assert d is not None
    assert d.bounds == (1, 5, 10)
    #                 <=1  (1,5]  (5,10]  >10
    assert d.counts == (2, 2, 2, 2)
    assert d.cumulative() == [(1, 2), (5, 4), (10, 6), (math.inf, 8)]
    assert d.count == 8
    assert d.sum == pytest.approx(0.5 + 1 + 1.01 + 5 + 7 + 10 + 11 + 1e9)
    assert d.max == 1e9


def test_known_distributions_have_their_buckets_and_others_a_default() -> None:
    m = Metrics()
    m.observe("batch_points", 5000)
    m.observe("write_latency_ms", 3)
    m.observe("something_else", 3)

    points, latency, other = (
        m.distribution(n) for n in ("batch_points", "write_latency_ms", "something_else")
    )
    assert points is not None and latency is not None and other is not None
    assert points.bounds == BUCKETS["batch_points"]
    assert dict(points.cumulative())[5000] == 1
    assert dict(points.cumulative())[2500] == 0
    assert latency.bounds == BUCKETS["write_latency_ms"]
    assert other.bounds == DEFAULT_BUCKETS
    assert m.distribution("never") is None


def test_nan_is_not_an_observation() -> None:
    m = Metrics()
    m.observe("write_latency_ms", float("nan"))
    m.observe("write_latency_ms", 4.0)

    d = m.distribution("write_latency_ms")
    assert d is not None and (d.count, d.sum, d.max) == (1, 4.0, 4.0)


def test_max_is_since_start_and_window_max_since_the_last_reset() -> None:
    m = Metrics()
    m.observe("write_latency_ms", 80.0)
    m.observe("write_latency_ms", 20.0)

    first = m.read(reset_window=True).distributions["write_latency_ms"]
    assert (first.max, first.window_max) == (80.0, 80.0)

    unchanged = m.read(reset_window=True).distributions["write_latency_ms"]
    assert (unchanged.max, unchanged.window_max) == (80.0, None)

    m.observe("write_latency_ms", 30.0)
    peek = m.read().distributions["write_latency_ms"]  # not resetting
    again = m.read(reset_window=True).distributions["write_latency_ms"]
    assert peek.window_max == again.window_max == 30.0
    assert again.max == 80.0
    assert again.count == 3


# --- gauges --------------------------------------------------------------------------


def test_gauges_are_set_or_read_on_demand() -> None:
    m = Metrics()
    backlog = [7]
    m.set_gauge("spill_backlog_bytes", 1024)
    m.set_gauge("queue_backlog", 1)
    m.gauge_fn("queue_backlog", lambda: backlog[0])  # the callback wins

    assert m.gauges() == {"spill_backlog_bytes": 1024, "queue_backlog": 7}
    backlog[0] = 9
    assert m.read().gauges["queue_backlog"] == 9


def test_a_failing_gauge_callback_is_left_out_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = Metrics()
    m.gauge_fn("broken", lambda: 1 / 0)
    m.gauge_fn("fine", lambda: 2)

    with caplog.at_level(logging.WARNING, logger="collector.metrics.counters"):
        assert m.gauges() == {"fine": 2}
        assert m.gauges() == {"fine": 2}

    failures = [r for r in caplog.records if r.getMessage() == "gauge callback failed"]
    assert len(failures) == 1
    assert failures[0].gauge == "broken"  # type: ignore[attr-defined]


def test_read_gives_everything() -> None:
    m = Metrics()
    m.inc("received", 3)
    m.reject("schema")
    m.observe("batch_points", 2)
    m.set_gauge("queue_backlog", 0)

    snap = m.read()

    assert snap.counters == {"received": 3, "rejected": 1}
    assert snap.rejected == {"schema": 1}
    assert set(snap.distributions) == {"batch_points"}
    assert snap.gauges == {"queue_backlog": 0}
