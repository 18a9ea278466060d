"""Running the API process: `serve(settings, stop_event)` (what the CLI calls)."""

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn

from alertstore import AlertStore
from api.app import create_app
from api.live import LiveAvailability, MqttAvailabilityFeed
from api.settings import ApiSettings
from api.telemetry import telemetry_from_settings
from warmnet import memory
from warmnet.clock import clock_from_env
from warmnet.registry import load_fleet

log = logging.getLogger(__name__)


class ApiStartError(RuntimeError):
    """The HTTP server could not start (port in use, startup failed); details logged."""


class _Server(uvicorn.Server):
    """uvicorn's server, stopped through our `stop_event`.

    uvicorn's own signal capture re-raises the signal after shutdown (so SIGTERM would
    still kill the process and SIGINT raise KeyboardInterrupt in the caller); here a
    signal only sets the stop event and `serve()` returns normally.
    """

    def __init__(self, config: uvicorn.Config, stop_event: threading.Event) -> None:
        super().__init__(config)
        self._stop_event = stop_event

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals can only be handled in the main thread; elsewhere stop_event rules.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        sigs = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in sigs}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # second Ctrl+C: do not wait for open connections
        log.info("api stopping", extra={"signal": signal.Signals(sig).name})
        self.should_exit = True
        self._stop_event.set()


def serve(settings: ApiSettings, stop_event: threading.Event | None = None) -> None:
    """Load the fleet, start the MQTT availability feed and run the HTTP server until
    `stop_event` is set or SIGINT/SIGTERM arrives (main thread only); then shut down
    gracefully and return.

    Raises `RegistryError` for a bad registry, `warmnet.mqtt.ConnectError` when the
    broker is unreachable or refuses us (before the port is bound), `ApiStartError`
    when the HTTP server cannot start.
    """
    stop = stop_event if stop_event is not None else threading.Event()
    fleet = load_fleet(settings.registry)
    live = LiveAvailability()
    feed = MqttAvailabilityFeed(settings, live, fleet=fleet)
    alerts = AlertStore(settings.alert_db)
    telemetry = telemetry_from_settings(settings)
    if not len(settings.tokens):
        log.warning(
            "no API tokens configured (WARMNET_API_TOKENS / WARMNET_API_TOKENS_FILE): "
            "crew endpoints will answer 401"
        )
    # Connect before binding the port so that a wrong broker URL or credentials fail
    # fast with a clear error; the app lifespan's start() is then a no-op.
    try:
        feed.start()
    except BaseException:
        alerts.close()
        telemetry.close()
        raise
    try:
        app = create_app(
            settings,
            fleet,
            live,
            feed=feed,
            alerts=alerts,
            telemetry=telemetry,
            clock=clock_from_env(),
        )
        config = uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            lifespan="on",
            log_config=None,  # keep warmnet's logging setup
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = _Server(config, stop)
        memory.settle()  # the registry and the app live as long as the process
        watcher = threading.Thread(
            target=_stop_when_set, args=(stop, server), name="api-stop", daemon=True
        )
        watcher.start()
        log.info(
            "api starting",
            extra={
                "host": settings.api_host,
                "port": settings.api_port,
                "network": fleet.network,
                "alert_db": str(settings.alert_db),
                "telemetry": telemetry.source,
                "tokens": len(settings.tokens),
            },
        )
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits on bind or startup failure
            raise ApiStartError(
                f"api server on {settings.api_host}:{settings.api_port} failed to start "
                f"(exit {exc.code}); see the log above"
            ) from None
        finally:
            stop.set()  # release the watcher
        if not server.started:
            raise ApiStartError(
                f"api server on {settings.api_host}:{settings.api_port} did not start"
            )
    finally:
        feed.stop()
        telemetry.close()
        alerts.close()
    log.info("api stopped")


def _stop_when_set(stop: threading.Event, server: uvicorn.Server) -> None:
    stop.wait()
    server.should_exit = True
