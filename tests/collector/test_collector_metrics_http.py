"""Prometheus exposition at /metrics: scraped from the real HTTP endpoint on a free
loopback port and parsed with prometheus-client's own parser."""

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from collector.metrics.counters import Metrics
from collector.metrics.http import MetricsServer, metrics_registry, serve_metrics


def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = httpx.get(server.url, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: list[Sample] = [
        s for family in text_string_to_metric_families(response.text) for s in family.samples
    ]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}


def families(server: MetricsServer) -> dict[str, str]:
    """{family name: type}."""
    text = httpx.get(server.url, timeout=5).text
    return {f.name: f.type for f in text_string_to_metric_families(text)}


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics()
    m.counter("received").inc(12)
    m.update(
        {"stored": 10, "batches": 2, "write_errors": 1, "spilled_batches": 1},
        rejected={"malformed_json": 1, "schema": 1},
        observe={"batch_points": 6, "write_latency_ms": 4.0},
    )
    m.update(observe={"batch_points": 4, "write_latency_ms": 40.0})
    m.inc("replayed_batches")
    m.inc("queue_full_waits", 3)
    m.gauge_fn("queue_backlog", lambda: 5)
    m.gauge_fn("spill_backlog_batches", lambda: 1)
    m.gauge_fn("spill_backlog_bytes", lambda: 2048)
    m.gauge_fn("oldest_unacked_age_ms", lambda: 1500)
    return m


@pytest.fixture
def server(metrics: Metrics) -> Iterator[MetricsServer]:
    s = serve_metrics(metrics, "col-test", "127.0.0.1", 0)
    yield s
    s.stop()


def test_counters_are_exposed_with_their_names_and_values(server: MetricsServer) -> None:
    got = scrape(server)

    assert got[("warmnet_collector_messages_received_total", ())] == 12
    assert got[("warmnet_collector_messages_stored_total", ())] == 10
    assert got[("warmnet_collector_batches_total", ())] == 2
    assert got[("warmnet_collector_write_errors_total", ())] == 1
    assert got[("warmnet_collector_spilled_batches_total", ())] == 1
    assert got[("warmnet_collector_replayed_batches_total", ())] == 1
    assert got[("warmnet_collector_queue_full_waits_total", ())] == 3  # not in the table
    assert got[("warmnet_collector_info", (("client_id", "col-test"),))] == 1
    assert ("warmnet_collector_rejected_total", ()) not in got  # only per reason


def test_rejections_are_labelled_by_reason(server: MetricsServer) -> None:
    got = scrape(server)

    rejected = {
        dict(labels)["reason"]: v
        for (name, labels), v in got.items()
        if name == "warmnet_collector_messages_rejected_total"
    }
    assert rejected == {"malformed_json": 1, "schema": 1}


def test_distributions_are_histograms_in_base_units(server: MetricsServer) -> None:
    got = scrape(server)
    kinds = families(server)

    assert kinds["warmnet_collector_batch_points"] == "histogram"
    assert kinds["warmnet_collector_write_latency_seconds"] == "histogram"
    assert got[("warmnet_collector_batch_points_count", ())] == 2
    assert got[("warmnet_collector_batch_points_sum", ())] == 10
    assert got[("warmnet_collector_batch_points_bucket", (("le", "1.0"),))] == 0
    assert got[("warmnet_collector_batch_points_bucket", (("le", "10.0"),))] == 2
    assert got[("warmnet_collector_batch_points_bucket", (("le", "+Inf"),))] == 2
    assert got[("warmnet_collector_batch_points_max", ())] == 6

    # ms -> seconds: 4 ms and 40 ms
    assert got[("warmnet_collector_write_latency_seconds_count", ())] == 2
    assert got[("warmnet_collector_write_latency_seconds_sum", ())] == pytest.approx(0.044)
    assert got[("warmnet_collector_write_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[("warmnet_collector_write_latency_seconds_bucket", (("le", "0.025"),))] == 1
    assert got[("warmnet_collector_write_latency_seconds_bucket", (("le", "0.05"),))] == 2
    assert got[("warmnet_collector_write_latency_seconds_max", ())] == pytest.approx(0.04)


def test_gauges_are_read_at_scrape_time(server: MetricsServer, metrics: Metrics) -> None:
    got = scrape(server)

    assert got[("warmnet_collector_queue_backlog_messages", ())] == 5
    assert got[("warmnet_collector_spill_backlog_batches", ())] == 1
    assert got[("warmnet_collector_spill_backlog_bytes", ())] == 2048
    assert got[("warmnet_collector_oldest_unacked_age_seconds", ())] == 1.5

    metrics.gauge_fn("queue_backlog", lambda: 0)
    metrics.inc("stored", 5)
    again = scrape(server)
    assert again[("warmnet_collector_queue_backlog_messages", ())] == 0
    assert again[("warmnet_collector_messages_stored_total", ())] == 15


def test_process_metrics_are_in_our_registry_too(server: MetricsServer) -> None:
    kinds = families(server)
    if "warmnet_collector_process_cpu_seconds" not in kinds:
        pytest.skip("no /proc: prometheus-client has no process metrics here")
    assert kinds["warmnet_collector_process_resident_memory_bytes"] == "gauge"


def test_the_main_counters_exist_from_the_start() -> None:
    server = serve_metrics(Metrics(), "col-new")
    try:
        got = scrape(server)
    finally:
        server.stop()

    for name in (
        "messages_received",
        "messages_stored",
        "batches",
        "write_errors",
        "spilled_batches",
        "replayed_batches",
    ):
        assert got[(f"warmnet_collector_{name}_total", ())] == 0, name


def test_only_metrics_is_served(server: MetricsServer) -> None:
    base = server.url.removesuffix("/metrics")
    assert httpx.get(f"{base}/", timeout=5).status_code == 404
    assert httpx.get(f"{base}/other", timeout=5).status_code == 404


def test_two_collectors_in_one_process_keep_their_own_metrics() -> None:
    a, b = Metrics(), Metrics()
    a.inc("stored", 1)
    b.inc("stored", 2)
    with_a = serve_metrics(a, "col-a")
    with_b = serve_metrics(b, "col-b")
    try:
        assert with_a.port != with_b.port
        assert scrape(with_a)[("warmnet_collector_messages_stored_total", ())] == 1
        assert scrape(with_b)[("warmnet_collector_messages_stored_total", ())] == 2
    finally:
        with_a.stop()
        with_b.stop()


def test_stop_closes_the_port_and_is_idempotent(metrics: Metrics) -> None:
    server = MetricsServer(metrics_registry(metrics, "col-x", process=False)).start()
    url = server.url
    assert httpx.get(url, timeout=5).status_code == 200

    server.stop()
    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)


def test_a_taken_port_is_an_error_at_start(server: MetricsServer, metrics: Metrics) -> None:
    with pytest.raises(OSError):
        serve_metrics(metrics, "col-y", "127.0.0.1", server.port)
