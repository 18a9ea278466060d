"""The gateway process: one per station. Wires the southbound intake, the outbox, the
uplink (the gateway thread), the downlink command handler and the optional local
MQTT listener.

    gateway = Gateway(settings, fleet, control=my_devices)
    gateway.start()                      # returns at once; connects in the background
    gateway.submit("outlet-01", {...})   # from any thread: the seq it got, or None
    gateway.stop()                       # `stopped` status, clean disconnect, close
"""

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from gateway.downlink import CommandHandler, DeviceControl, NoDeviceControl
from gateway.outbox import MemoryOutbox, Outbox, OutboxStats
from gateway.outbox_sqlite import SqliteOutbox
from gateway.settings import GatewaySettings
from gateway.southbound import Intake, IntakeStats, LocalListener
from gateway.state import StateStore
from gateway.uplink import ClientFactory, Uplink, UplinkConfig, UplinkStats, make_client
from warmnet.clock import Clock, SystemClock
from warmnet.messages import EventType
from warmnet.registry import Fleet

log = logging.getLogger(__name__)


def open_outbox(settings: GatewaySettings) -> Outbox:
    if settings.outbox == "memory":
        return MemoryOutbox(settings.outbox_max_bytes)
    return SqliteOutbox(settings.station_dir / "outbox.sqlite", settings.outbox_max_bytes)


@dataclass(frozen=True, slots=True)
class GatewayStats:
    intake: IntakeStats
    outbox: OutboxStats
    uplink: UplinkStats
    commands: dict[str, int]
    local_dropped: int


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        fleet: Fleet,
        *,
        control: DeviceControl | None = None,
        clock: Clock | None = None,
        outbox: Outbox | None = None,
        state: StateStore | None = None,
        client_factory: ClientFactory = make_client,
    ) -> None:
        station = fleet.station(settings.station)
        if station is None:
            raise ValueError(f"station {settings.station!r} is not in the registry")
        self.settings = settings
        self.station = station
        self.clock: Clock = clock or SystemClock()
        self.outbox = outbox if outbox is not None else open_outbox(settings)
        if state is None:
            path = None if settings.outbox == "memory" else settings.station_dir / "state.sqlite"
            state = StateStore(path)
        self.state = state
        self.intake = Intake(
            station,
            self.outbox,
            self.clock,
            max_skew_ms=int(settings.max_clock_skew_s * 1000),
            skew_window_ms=int(settings.heartbeat_s * 1000),
            on_enqueued=self._kick,
        )
        self.commands = CommandHandler(
            station.id,
            [d.id for d in station.devices],
            control if control is not None else NoDeviceControl(),
            self.intake,
            state,
        )
        config = UplinkConfig(
            url=settings.mqtt_url,
            client_id=settings.uplink_client_id,
            station=station.id,
            freshness_ms=int(settings.freshness_s * 1000),
            drain_rate=settings.drain_rate,
            window=settings.inflight,
            heartbeat_s=settings.heartbeat_s,
            keepalive_s=settings.keepalive_s,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
        )
        self.uplink = Uplink(
            config,
            self.outbox,
            state,
            self.clock,
            status_fields=self._status_fields,
            on_command=self.commands.handle,
            client_factory=client_factory,
        )
        self.local: LocalListener | None = None
        if settings.local_mqtt_url is not None:
            self.local = LocalListener(
                settings.local_mqtt_url, f"{settings.uplink_client_id}-local", self.intake
            )
        self._state = "new"
        self._lock = threading.Lock()

    # -- lifecycle

    def start(self) -> None:
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"gateway is {self._state}")
            self._state = "running"
        self.uplink.start()
        if self.local is not None:
            self.local.start()
        log.info(
            "gateway started",
            extra={
                "station": self.station.id,
                "devices": len(self.station.devices),
                "outbox": self.settings.outbox,
                "outbox_depth": self.outbox.stats().depth,
                "broker": f"{self.settings.mqtt_url.host}:{self.settings.mqtt_url.port}",
            },
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking readings, announce `stopped`, disconnect cleanly, close the
        outbox (what is unacknowledged stays there for the next start)."""
        with self._lock:
            if self._state == "closed":
                return
            was_running, self._state = self._state == "running", "closed"
        if self.local is not None and was_running:
            self.local.stop()
        if was_running:
            self.uplink.stop(timeout)
        stats = self.outbox.stats()
        self.outbox.close()
        self.state.close()
        log.info(
            "gateway stopped",
            extra={"station": self.station.id, "outbox_depth": stats.depth},
        )

    def __enter__(self) -> "Gateway":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- southbound

    def submit(
        self, device_id: str, fields: Mapping[str, Any], device_ts_ms: int | None = None
    ) -> int | None:
        """One reading of an in-process device: the seq it got, or None if it was
        invalid (counted and logged) or refused by a full outbox."""
        self._check_open()
        return self.intake.submit(device_id, fields, device_ts_ms)

    def submit_event(
        self,
        device_id: str,
        event_type: EventType,
        *,
        code: str | None = None,
        detail: str | None = None,
        device_ts_ms: int | None = None,
    ) -> int | None:
        """A device event (fault raised, session started...): never thinned."""
        self._check_open()
        return self.intake.submit_event(
            device_id, event_type, code=code, detail=detail, device_ts_ms=device_ts_ms
        )

    def _check_open(self) -> None:
        if self._state == "closed":
            raise RuntimeError(f"gateway {self.station.id} is stopped")

    # -- state

    @property
    def online(self) -> bool:
        return self.uplink.online

    @property
    def session(self) -> int | None:
        return self.uplink.session

    def wait_online(self, timeout: float = 10.0) -> bool:
        return self.uplink.wait_online(timeout)

    def stats(self) -> GatewayStats:
        return GatewayStats(
            self.intake.stats(),
            self.outbox.stats(),
            self.uplink.stats(),
            dict(self.commands.counts),
            self.local.dropped if self.local is not None else 0,
        )

    def _kick(self) -> None:
        self.uplink.kick()

    def _status_fields(self) -> dict[str, Any]:
        return {
            "outbox_depth": self.outbox.stats().depth,
            "clock_skew_ms": self.intake.clock_skew_ms(),
        }


def run(
    settings: GatewaySettings,
    fleet: Fleet,
    stop: threading.Event,
    *,
    control: DeviceControl | None = None,
) -> None:
    """A gateway without in-process devices (only the local MQTT intake) until `stop`."""
    gateway = Gateway(settings, fleet, control=control)
    gateway.start()
    try:
        stop.wait()
    finally:
        gateway.stop()
