"""Prometheus exposition of the collector's `Metrics` at `GET /metrics`.

`MetricsExporter` is a prometheus-client custom collector that renders a `Metrics`
on every scrape (nothing is kept twice). Each collector gets its own
`CollectorRegistry` (never the global one: several collectors may share a process)
and its own small HTTP server, which `stop()` shuts down promptly.

Names follow Prometheus conventions: base units (seconds, bytes), `_total` on
counters. What is not in the tables below is still exported, under a name made from
the metric's own (`warmnet_collector_<name>[_total]`).
"""

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from collector.metrics.counters import Distribution, Metrics

log = logging.getLogger(__name__)

PREFIX = "warmnet_collector"

# our counter name -> (Prometheus name without _total, help)
COUNTERS: dict[str, tuple[str, str]] = {
    "received": ("messages_received", "MQTT messages handed over to the pipeline"),
    "stored": ("messages_stored", "messages whose point is durably stored (store or spill)"),
    "batches": ("batches", "batches written"),
    "write_errors": ("write_errors", "store writes that failed (store unavailable)"),
    "spilled_batches": ("spilled_batches", "batches kept in the spill queue, store down"),
    "replayed_batches": ("replayed_batches", "spilled batches replayed into the store"),
}
REJECTED = ("messages_rejected", "messages refused (and dead-lettered), by reason")

# our distribution name -> (Prometheus name, factor to base unit, help)
DISTRIBUTIONS: dict[str, tuple[str, float, str]] = {
    "batch_points": ("batch_points", 1.0, "points per written batch"),
    "write_latency_ms": ("write_latency_seconds", 0.001, "duration of one store write"),
}

# our gauge name -> (Prometheus name, factor to base unit, help)
GAUGES: dict[str, tuple[str, float, str]] = {
    "queue_backlog": ("queue_backlog_messages", 1.0, "messages waiting for the writer"),
    "spill_backlog_batches": ("spill_backlog_batches", 1.0, "batches waiting in the spill"),
    "spill_backlog_bytes": ("spill_backlog_bytes", 1.0, "bytes waiting in the spill"),
    "oldest_unacked_age_ms": (
        "oldest_unacked_age_seconds",
        0.001,
        "age of the oldest message received but not yet acknowledged",
    ),
}


def _name(name: str) -> str:
    clean = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    return f"{PREFIX}_{clean.removesuffix('_total')}"


class MetricsExporter:
    """A prometheus-client collector rendering one `Metrics` at scrape time."""

    def __init__(self, metrics: Metrics, collector_id: str) -> None:
        self._metrics = metrics
        self._id = collector_id

    def collect(self) -> Iterator[Metric]:
        snap = self._metrics.read()
        yield InfoMetricFamily(PREFIX, "this collector", value={"client_id": self._id})
        # The well-known counters always, from 0: rate() needs the series to exist.
        for key in sorted(COUNTERS.keys() | snap.counters.keys()):
            if key == "rejected":
                continue  # the labelled family below carries it
            name, doc = COUNTERS.get(key, (None, f"counter {key}"))
            yield CounterMetricFamily(
                f"{PREFIX}_{name}" if name else _name(key), doc, value=snap.counters.get(key, 0)
            )
        rejected = CounterMetricFamily(f"{PREFIX}_{REJECTED[0]}", REJECTED[1], labels=["reason"])
        for reason, n in sorted(snap.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        for key, dist in sorted(snap.distributions.items()):
            yield from self._histogram(key, dist)
        for key, gauge in sorted(snap.gauges.items()):
            name, factor, doc = GAUGES.get(key, (None, 1.0, f"gauge {key}"))
            yield GaugeMetricFamily(
                f"{PREFIX}_{name}" if name else _name(key), doc, value=gauge * factor
            )

    @staticmethod
    def _histogram(key: str, dist: Distribution) -> Iterable[Metric]:
        name, factor, doc = DISTRIBUTIONS.get(key, (None, 1.0, f"distribution {key}"))
        full = f"{PREFIX}_{name}" if name else _name(key)
        buckets = [
            ("+Inf" if bound == float("inf") else _le(bound * factor), float(n))
            for bound, n in dist.cumulative()
        ]
        yield HistogramMetricFamily(full, doc, buckets=buckets, sum_value=dist.sum * factor)
        yield GaugeMetricFamily(f"{full}_max", f"largest since start: {doc}", dist.max * factor)


def _le(bound: float) -> str:
    return repr(float(round(bound, 9)))


def metrics_registry(
    metrics: Metrics, collector_id: str, *, process: bool = True
) -> CollectorRegistry:
    """A registry of our own with the exporter (and the process's CPU, memory, fds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricsExporter(metrics, collector_id))
    if process:
        ProcessCollector(namespace=PREFIX, registry=registry)
    return registry


# -- HTTP ---------------------------------------------------------------------------------


class _Handler(WSGIRequestHandler):
    timeout = 10  # a client that stalls mid-request releases its thread

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics request", extra={"client": self.address_string(), "line": format % args})


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics request failed", extra={"client": str(client_address)}, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


def _only_metrics(app: Callable[..., Any]) -> Callable[..., Any]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/metrics/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"see /metrics\n"]
        return app(environ, start_response)

    return wsgi


class MetricsServer:
    """`GET /metrics` on `host:port` (port 0: any free one; see `.port`), served from
    a thread of its own until `stop()`."""

    POLL_S = 0.05  # how fast stop() is noticed

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0):
        self._registry = registry
        self._host = host
        self._requested_port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "MetricsServer":
        """Bind and serve. Raises OSError if the address cannot be bound."""
        if self._httpd is not None:
            raise RuntimeError("metrics server already started")
        server_class = _Server6 if ":" in self._host else _Server
        app = _only_metrics(make_wsgi_app(self._registry))
        self._httpd = make_server(
            self._host, self._requested_port, app, server_class, handler_class=_Handler
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self.POLL_S},
            name="collector-metrics-http",
            daemon=True,
        )
        self._thread.start()
        log.info("metrics served", extra={"url": self.url})
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("metrics server not started")
        return int(self._httpd.server_port)

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/metrics"

    def stop(self, timeout: float = 5.0) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()  # returns once serve_forever has left its loop
        httpd.server_close()
        thread.join(timeout)
        self._httpd = self._thread = None


def serve_metrics(
    metrics: Metrics, collector_id: str, host: str = "127.0.0.1", port: int = 0
) -> MetricsServer:
    """Build the registry and start serving it. Raises OSError if it cannot bind."""
    return MetricsServer(metrics_registry(metrics, collector_id), host, port).start()
