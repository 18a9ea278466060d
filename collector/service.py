"""The collector process: wires MQTT (persistent session, manual acknowledgement),
the ingest pipeline, the store and the availability publisher."""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from alertstore import AlertStore
from collector.alerts import EventInput, GatewayInput, Input, TelemetryInput, load_rules
from collector.alerts.commands import CommandPublisher
from collector.alerts.runner import AlertEngineRunner
from collector.alerts.series import AlertSeriesSink
from collector.alerts.store_sink import AlertStoreSink, StoreFeed
from collector.availability.live import LiveState
from collector.availability.publisher import AvailabilityPublisher
from collector.ingest.classify import Accepted, GatewayUpdate
from collector.ingest.deadletter import DeadLetterStore
from collector.ingest.pipeline import Inbound, Pipeline, Stored
from collector.ingest.points import Point
from collector.ingest.spill import SqliteSpill
from collector.metrics.counters import Metrics
from collector.metrics.http import MetricsServer, serve_metrics
from collector.metrics.series import SelfMetrics
from collector.notify import Notifier, load_targets
from collector.precedence import Precedence
from collector.settings import CollectorSettings
from collector.sharding import owned_stations, subscriptions
from collector.stores.base import StoreUnavailableError, TimeSeriesStore
from collector.stores.influx import InfluxV1Store
from collector.stores.sqlite import SqliteStore
from warmnet import memory
from warmnet.clock import Clock, SystemClock, clock_from_env
from warmnet.kinds import DeviceKind
from warmnet.mqtt import ConnectError, connect, new_client
from warmnet.registry import Fleet

log = logging.getLogger(__name__)

SUBSCRIBE_CHUNK = 500  # topic filters per SUBSCRIBE packet
SILENCES_EVERY_S = 5.0


def open_store(settings: CollectorSettings) -> TimeSeriesStore:
    if settings.influx_url is None:
        return SqliteStore(Path(settings.data_dir) / "timeseries.sqlite")
    store = InfluxV1Store(
        str(settings.influx_url),
        settings.influx_db,
        username=settings.influx_user,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        timeout_s=settings.influx_timeout_s,
    )
    try:
        store.ensure_database()
    except StoreUnavailableError as exc:
        # Start anyway: batches spill to disk, and the first write that finds the
        # database missing creates it.
        log.warning("InfluxDB unavailable at start", extra={"error": str(exc)[:200]})
    return store


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        fleet: Fleet,
        *,
        store: TimeSeriesStore | None = None,
        clock: Clock | None = None,
        client_factory: Callable[[], mqtt.Client] | None = None,
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.clock: Clock = clock or SystemClock()
        self.store = store or open_store(settings)
        self.deadletters = DeadLetterStore(Path(settings.data_dir) / "deadletter.sqlite")
        self.spill = SqliteSpill(Path(settings.data_dir) / "spill.sqlite", settings.spill_max_bytes)
        self.owned = owned_stations(
            fleet,
            stations=settings.stations,
            shard_count=settings.shard_count,
            shard_index=settings.shard_index,
        )
        self.live = LiveState()
        self.metrics = Metrics()
        self._client = (client_factory or self._new_client)()
        self._client.manual_ack_set(True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()
        self._pending_subacks = 0
        self.precedence = Precedence()  # the availability tick ahead of the alert engine
        self.pipeline = Pipeline(
            fleet,
            self.store,
            self.spill,
            self.deadletters,
            self.live,
            self.metrics,
            self._client.ack,
            max_points=settings.batch_max_points,
            max_age_s=settings.batch_max_age_s,
            queue_max=settings.queue_max,
            observer=self._observe,
        )
        # -- alerts: the engine on its own thread, and what acts on its transitions --------
        self.commands = CommandPublisher(self._client, self.clock, self.metrics)
        self.alerts: AlertEngineRunner | None = None
        self.alert_store: AlertStore | None = None
        self.notifier: Notifier | None = None
        self._silences: dict[str, frozenset[str | None]] = {}
        self._silences_read = 0.0
        if settings.alerts_enabled:
            rules = load_rules(settings.rules)
            self.alert_store = AlertStore(settings.alert_db, clock=self.clock)
            if settings.notify_targets is not None:
                targets = load_targets(settings.notify_targets, demo=settings.demo_mode)
                self.notifier = Notifier(targets, timezone=fleet.timezone)
            self.alerts = AlertEngineRunner(
                rules,
                fleet,
                self.clock,
                self.metrics,
                Path(settings.data_dir) / "alert_state.json",
                owned=self.owned,
                precedence=self.precedence,
                sinks=[
                    AlertStoreSink(self.alert_store, rules, fleet, self.notifier),
                    AlertSeriesSink(fleet, self.pipeline.write_points),
                    self.commands,
                ],
            )
            self.alerts.add_pre_tick(self._retry_commands)
            feed = StoreFeed(self.alert_store, self.alerts, fleet, self.notifier)
            self.alerts.add_pre_tick(feed.poll)
        self.availability = AvailabilityPublisher(
            fleet,
            self.live,
            self._client,
            self.metrics,
            freshness_s=settings.freshness_s,
            refresh_s=settings.availability_refresh_s,
            silences=self._maintenance,
        )
        # -- self-metrics (gauges, /metrics, `collector` measurement) ----------------------
        self._register_gauges()
        self.self_metrics = SelfMetrics(
            self.metrics,
            settings.session_client_id,
            self._write_self_metrics,
            self.clock,
            settings.self_metrics_interval_s,
        )
        self.metrics_server: MetricsServer | None = None
        # -- end self-metrics ----------------------------------------------------------------
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _new_client(self) -> mqtt.Client:
        client = new_client(
            self.settings.mqtt_url, self.settings.session_client_id, persistent=True
        )
        # This limits our *outgoing* QoS 1 publishes (commands); incoming
        # unacknowledged messages are bounded by the broker's max_inflight_messages.
        # Keep it small: paho walks its whole in-flight table on every PUBACK.
        client.max_inflight_messages_set(100)
        # No limit on paho's queue of outgoing messages (a refused command would need a
        # retry path); what we publish bounds itself: availability keeps at most one
        # summary per station and 2,000 in all with paho, none while disconnected.
        client.max_queued_messages_set(0)
        return client

    # -- what the pipeline stored goes to the alert engine -------------------------------

    def _observe(
        self, stored: Sequence[tuple[Stored, Inbound]], gateway: Sequence[GatewayUpdate]
    ) -> None:
        inputs: list[Input] = []
        for item, _ in stored:
            p = item.point
            if isinstance(item, Accepted):
                kind = DeviceKind(p.measurement)
                inputs.append(TelemetryInput(p.station, p.device, kind, item.reading))
            else:
                inputs.append(EventInput(p.station, p.device, item.event))
                self.commands.result(p.station, p.device, item.event)
        inputs.extend(GatewayInput(g.station, g.status) for g in gateway)
        if self.alerts is not None:
            self.alerts.offer(inputs)

    def _retry_commands(self) -> list[Input]:
        self.commands.retry_due()
        return []

    # -- MQTT callbacks: hand over only -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        if rc.is_failure:
            log.error("broker refused connection", extra={"reason": str(rc)})
            return
        self.availability.reconnected()
        # The persistent session keeps subscriptions, but a broker that lost its state
        # would not: subscribing again is harmless.
        filters = subscriptions(self.owned)
        self._pending_subacks = len(range(0, len(filters), SUBSCRIBE_CHUNK))
        for i in range(0, len(filters), SUBSCRIBE_CHUNK):
            client.subscribe([(f, 1) for f in filters[i : i + SUBSCRIBE_CHUNK]])
        log.info(
            "collector subscribing",
            extra={
                "session_present": flags.session_present,
                "stations": "all" if self.owned is None else len(self.owned),
            },
        )

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, rcs: list[ReasonCode], _p: Any
    ) -> None:
        if any(rc.is_failure for rc in rcs):
            log.error("broker refused a subscription", extra={"reasons": [str(r) for r in rcs]})
            return
        self._pending_subacks -= 1
        if self._pending_subacks <= 0:
            self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.pipeline.submit(
            Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.clock.now_ms())
        )

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self.alerts is not None:
            self.alerts.start()
        self._pipeline_thread = self._start_thread(self.pipeline.run, "collector-pipeline")
        self._replayer = self._start_thread(self.pipeline.replay, "collector-replay")
        self._start_thread(self._publish_availability_loop, "collector-availability")
        self._start_thread(lambda: self.self_metrics.run(self._stop), "collector-self-metrics")
        connect(self._client, self.settings.mqtt_url)
        if not self.subscribed.wait(10):
            raise ConnectError("broker did not confirm the collector's subscriptions")
        self._serve_metrics()  # self-metrics: once started (a failed start leaks no port)

    @property
    def ingesting(self) -> bool:
        """The pipeline's threads (classifier and writer) are running."""
        return self._pipeline_thread.is_alive() and self.pipeline.writer_alive

    def _start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)
        return t

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM): take no more messages, store (or spill) and
        acknowledge everything held in memory, publish final availability, close.
        What arrives meanwhile is not acknowledged and comes back next session."""
        deadline = time.monotonic() + self.settings.shutdown_timeout_s

        def left() -> float:  # one budget for the whole shutdown
            return max(0.0, deadline - time.monotonic())

        self._stop.set()
        self.pipeline.close()
        self._pipeline_thread.join(left())
        if self._pipeline_thread.is_alive():
            log.error("could not store everything held in time; the broker will redeliver it")
        self.pipeline.abort()  # the spill stays on disk and is replayed next start
        if self.alerts is not None:
            self.alerts.stop(left())  # saves the timers for the next start
        if self.notifier is not None:
            self.notifier.stop(left())
        for t in self._threads:
            t.join(left())
        try:
            for info in self.publish_availability():
                info.wait_for_publish(left())
        except (RuntimeError, ValueError) as exc:  # not connected: the next run republishes
            log.warning("final availability not published", extra={"error": str(exc)})
        self._client.disconnect()
        self._client.loop_stop()
        if self.metrics_server is not None:  # self-metrics: before the gauges' sources close
            self.metrics_server.stop()
        self.store.close()
        self.spill.close()
        self.deadletters.close()
        log.info("collector stopped", extra=self.metrics.snapshot())

    # -- self-metrics --------------------------------------------------------------------

    def _register_gauges(self) -> None:
        self.metrics.gauge_fn("queue_backlog", lambda: self.pipeline.backlog)
        self.metrics.gauge_fn("spill_backlog_batches", lambda: self.spill.batches)
        self.metrics.gauge_fn("spill_backlog_bytes", lambda: self.spill.bytes)
        self.metrics.gauge_fn("oldest_unacked_age_ms", self._oldest_unacked_age_ms)

    def _oldest_unacked_age_ms(self) -> int:
        oldest = self.pipeline.oldest_unacked_ms
        return 0 if oldest is None else max(0, self.clock.now_ms() - oldest)

    def _write_self_metrics(self, points: Sequence[Point]) -> None:
        # Like telemetry: to the store, or to the spill while the store is down.
        self.pipeline.write_points(points)

    def _serve_metrics(self) -> None:
        port = self.settings.metrics_port
        if port is None:
            return
        try:
            self.metrics_server = serve_metrics(
                self.metrics, self.settings.session_client_id, self.settings.metrics_host, port
            )
        except OSError as exc:  # ingestion matters more than the endpoint: keep going
            log.error(
                "metrics endpoint not served",
                extra={"host": self.settings.metrics_host, "port": port, "error": str(exc)},
            )

    # -- availability --------------------------------------------------------------------

    def _publish_availability_loop(self) -> None:
        # Ticks at a fixed rate, ahead of the alert engine: riders wait for what a tick
        # publishes. But never more than half of the time: under a backlog (a replay,
        # a drain) ticks grow long, and then a longer gap lets each summary cover more
        # of the station's readings, and the engine keep up.
        interval = self.settings.availability_interval_s
        next_tick = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
            started = time.monotonic()
            try:
                with self.precedence.urgent():
                    self.availability.tick(self.clock.now_ms(), started)
            except Exception:  # a bug here must not end availability for good
                log.exception("availability tick failed")
            ended = time.monotonic()
            next_tick = max(next_tick + interval, ended + (ended - started))

    def _maintenance(self, now_ms: int) -> dict[str, frozenset[str | None]]:
        """Subjects silenced for planned maintenance, per station (read every 5 s)."""
        if self.alert_store is None:
            return {}
        if time.monotonic() - self._silences_read >= SILENCES_EVERY_S:
            by_station: dict[str, set[str | None]] = {}
            try:
                for s in self.alert_store.active_silences(now_ms):
                    by_station.setdefault(s.station, set()).add(s.device)
            except Exception as exc:  # the store is busy or broken: keep what we knew
                log.warning("silences not read", extra={"error": str(exc)[:200]})
            else:
                self._silences = {k: frozenset(v) for k, v in by_station.items()}
                self._silences_read = time.monotonic()
        return self._silences

    def publish_availability(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish every station with unpublished changes now (at shutdown)."""
        infos: list[mqtt.MQTTMessageInfo] = self.availability.flush(
            self.clock.now_ms(), time.monotonic()
        )
        return infos


class CollectorFailedError(RuntimeError):
    """The collector cannot go on (its pipeline died); it stopped what it could."""


def supervise(collector: Collector, stop: threading.Event, every_s: float = 1.0) -> None:
    """Until `stop` is set: watch that the pipeline still runs. If it died (a bug), a
    process that stays up would take nothing in and store nothing, looking alive to
    its supervisor: stop and raise instead, so that it is restarted, and the broker
    redelivers what was not acknowledged."""
    while not stop.wait(every_s):
        if not collector.ingesting:
            log.critical("collector pipeline died: stopping so that it can be restarted")
            collector.stop()
            raise CollectorFailedError("the collector's pipeline died (see the log above)")
    collector.stop()


def run(settings: CollectorSettings, fleet: Fleet, stop: threading.Event) -> None:
    """Run a collector until `stop` is set (the CLI sets it on SIGINT/SIGTERM); raise
    `CollectorFailedError` if it cannot go on."""
    memory.settle()  # the registry lives as long as the process
    collector = Collector(settings, fleet, clock=clock_from_env())
    collector.start()
    log.info(
        "collector running",
        extra={
            "store": "influxdb" if settings.influx_url else "sqlite",
            "stations": len(fleet.stations),
            "devices": fleet.device_count,
        },
    )
    supervise(collector, stop)
