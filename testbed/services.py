"""Real Mosquitto and InfluxDB 1.x servers for the test suite.

The classes here start the real daemons (Debian packages ``mosquitto`` and
``influxdb``) on free loopback ports in private temporary directories, wait
until they actually serve requests, and stop them again.  Nothing in here
depends on pytest, so the same classes can be used from benchmarks or an
interactive shell::

    with MosquittoServer() as broker, InfluxServer() as influx:
        influx.create_database("demo")
        ...

Tests must never ``time.sleep`` to synchronise; use :func:`wait_for`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from broker import mosquitto_config

__all__ = [
    "InfluxError",
    "InfluxServer",
    "MosquittoServer",
    "ServiceBinaryMissing",
    "ServiceStartError",
    "free_port",
    "wait_for",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

MISSING_BINARY_HINT = (
    "run `make test` (it calls scripts/ensure-services.sh, which installs the Debian "
    "packages `mosquitto` and `influxdb` with apt-get), or install them yourself: "
    "apt-get install -y --no-install-recommends mosquitto influxdb"
)


class ServiceBinaryMissing(RuntimeError):
    """The daemon's executable is not installed."""


class ServiceStartError(RuntimeError):
    """The daemon did not become ready before the deadline (or exited)."""


class InfluxError(RuntimeError):
    """InfluxDB answered an HTTP request with an error."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str | Callable[[], str] = "condition not met",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that value.

    Raises ``AssertionError(message)`` once ``timeout`` seconds have passed.  ``message``
    may be a callable so that expensive diagnostics are only built on failure.
    Exceptions listed in ``ignore`` raised by the predicate count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
        except ignore as exc:
            last_exc = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            if last_exc is not None:
                text = f"{text} (last error: {last_exc!r})"
            raise AssertionError(f"timed out after {timeout:.1f}s: {text}")
        time.sleep(interval)


def _find_binary(name: str, env_var: str, candidates: Iterable[str]) -> str:
    override = os.environ.get(env_var)
    if override:
        if os.access(override, os.X_OK):
            return override
        raise ServiceBinaryMissing(
            f"${env_var}={override!r} is not an executable; {MISSING_BINARY_HINT}"
        )
    found = shutil.which(name)
    if found:
        return found
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ServiceBinaryMissing(f"`{name}` executable not found; {MISSING_BINARY_HINT}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


# All servers that are (or may be) running, so a crashed/interrupted session does not
# leave daemons behind.
_LIVE: set[_ManagedProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.kill()


class _ManagedProcess:
    """Common process lifecycle: start/ready-wait/stop/kill/restart/close."""

    name = "service"
    start_timeout = 20.0
    stop_timeout = 15.0

    def __init__(self, workdir: Path | str | None = None) -> None:
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"warmnet-{self.name}-"))
            self._owns_workdir = True
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._owns_workdir = False
        self.console_log = self.workdir / "console.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    # -- to be provided by subclasses
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _write_config(self) -> None:
        raise NotImplementedError

    def _probe(self) -> bool:
        """Return True once the service answers real protocol requests."""
        raise NotImplementedError

    def _reassign_ports(self) -> None:
        """Pick new free ports (only used if the very first start hit a port race)."""
        raise NotImplementedError

    def _diagnostics(self) -> str:
        return f"--- {self.console_log} ---\n{_tail(self.console_log)}"

    # -- lifecycle
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the daemon and block until it serves requests (raises on failure)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        # A port from free_port() can be grabbed by someone else before the daemon binds
        # it. Retry with new ports, but only on the very first start: restart() must keep
        # the same ports so that clients reconnect.
        attempts = 1 if self._started_once else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except ServiceStartError as exc:
                if attempt < attempts and "address already in use" in str(exc).lower():
                    self._reassign_ports()
                    continue
                raise
            self._started_once = True
            return

    def ensure_started(self) -> None:
        """Start the daemon unless it is already running (e.g. after a test killed it)."""
        if not self.running:
            self.start()

    def _start_once(self) -> None:
        self._write_config()
        env = self._environment()
        with self.console_log.open("ab") as console:
            self._proc = subprocess.Popen(
                self._command(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C on pytest must not hit the daemon first
            )
        _LIVE.add(self)
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise ServiceStartError(
                    f"{self.name} exited with code {code} during startup\n{self._diagnostics()}"
                )
            try:
                if self._probe():
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.kill()
                raise ServiceStartError(
                    f"{self.name} not ready after {self.start_timeout:.0f}s\n{self._diagnostics()}"
                )
            time.sleep(0.02)

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, wait for a clean exit, SIGKILL after ``timeout`` seconds."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the daemon (simulates a crash; nothing is flushed)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        proc.wait()
        self._proc = None

    def restart(self, *, hard: bool = False) -> None:
        """Stop (or kill, if ``hard``) and start again on the same ports with the same data."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        """Stop the daemon and remove the work directory if we created it."""
        self.stop()
        _LIVE.discard(self)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- mosquitto


def _mqtt_connect_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a bare MQTT 3.1.1 CONNECT and return True on a successful CONNACK."""
    client_id = f"warmnet-probe-{os.getpid()}".encode()
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"  # protocol name, level 4, clean session, ka 10s
    payload = len(client_id).to_bytes(2, "big") + client_id
    remaining = len(variable) + len(payload)  # < 128, so one length byte suffices
    packet = bytes([0x10, remaining]) + variable + payload
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(packet)
        data = b""
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                return False
            data += chunk
        ok = data[0] == 0x20 and data[1] == 0x02 and data[3] == 0x00
        if ok:
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT
        return ok


class MosquittoServer(_ManagedProcess):
    """A private Mosquitto 2.x broker on 127.0.0.1 with on-disk persistence.

    ``max_queued_messages 0`` lifts the default per-client queue limit of 1000, which
    otherwise silently drops QoS 1 messages for slow or offline persistent sessions.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path | str | None = None,
        port: int | None = None,
        *,
        autosave_on_changes: bool = False,
        autosave_interval_s: int = 1,
        extra_config: Iterable[str] = (),
    ) -> None:
        super().__init__(workdir)
        self.binary = _find_binary(
            "mosquitto", "WARMNET_MOSQUITTO", ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
        )
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port()
        self.autosave_on_changes = autosave_on_changes
        self.autosave_interval_s = autosave_interval_s
        self.extra_config = list(extra_config)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.persistence_path = self.workdir / "mosquitto.db"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def _reassign_ports(self) -> None:
        self.port = free_port()

    def _write_config(self) -> None:
        # The product's broker settings (broker), so the suite tests what the
        # docs tell operators to run; then what only tests need.
        lines = mosquitto_config(
            self.host,
            self.port,
            self.workdir,
            autosave_interval_s=self.autosave_interval_s,
            log_file=self.log_path,
        ).splitlines()
        lines += [
            f"autosave_on_changes {'true' if self.autosave_on_changes else 'false'}",
            "set_tcp_nodelay true",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        lines.extend(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def _probe(self) -> bool:
        return _mqtt_connect_ok(self.host, self.port)

    def _diagnostics(self) -> str:
        return (
            f"--- {self.log_path} ---\n{_tail(self.log_path)}\n"
            f"--- {self.console_log} ---\n{_tail(self.console_log)}"
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def flush_persistence(self, timeout: float = 10.0) -> None:
        """Force the broker to write ``mosquitto.db`` now and wait until it has.

        Use before :meth:`kill` when a test needs state (retained messages, sessions) to
        survive a crash without depending on the 1 s autosave timer.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError("mosquitto is not running")

        def signature() -> tuple[int, int] | None:
            try:
                st = self.persistence_path.stat()
            except FileNotFoundError:
                return None
            return (st.st_ino, st.st_mtime_ns)

        before = signature()
        proc.send_signal(signal.SIGUSR1)
        # mosquitto writes mosquitto.db.new and renames it over mosquitto.db.
        wait_for(
            lambda: (sig := signature()) is not None and sig != before,
            timeout=timeout,
            message="mosquitto did not rewrite its persistence file after SIGUSR1",
        )


# --------------------------------------------------------------------------- influxdb


class InfluxServer(_ManagedProcess):
    """A private InfluxDB 1.x (``influxd``) on 127.0.0.1, no auth, no telemetry."""

    name = "influxd"

    def __init__(
        self,
        workdir: Path | str | None = None,
        http_port: int | None = None,
        rpc_port: int | None = None,
    ) -> None:
        super().__init__(workdir)
        self.binary = _find_binary("influxd", "WARMNET_INFLUXD", ("/usr/bin/influxd",))
        self.host = "127.0.0.1"
        self.port = http_port if http_port is not None else free_port()
        self.rpc_port = rpc_port if rpc_port is not None else free_port()
        self.config_path = self.workdir / "influxdb.conf"
        self.meta_dir = self.workdir / "meta"
        self.data_dir = self.workdir / "data"
        self.wal_dir = self.workdir / "wal"
        self._client: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=10.0)
        return self._client

    def _command(self) -> list[str]:
        return [self.binary, "-config", str(self.config_path)]

    def _reassign_ports(self) -> None:
        self.port = free_port()
        self.rpc_port = free_port()

    def _environment(self) -> dict[str, str]:
        # influxd lets INFLUXDB_* environment variables override the config file
        # (e.g. INFLUXDB_HTTP_BIND_ADDRESS); make sure nothing leaks in.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def _write_config(self) -> None:
        for directory in (self.meta_dir, self.data_dir, self.wal_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"""\
reporting-enabled = false
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{self.meta_dir}"

[data]
  dir = "{self.data_dir}"
  wal-dir = "{self.wal_dir}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = false
  log-enabled = false

[ifql]
  enabled = false

[logging]
  level = "info"
  suppress-logo = true
"""
        )

    def _probe(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/ping", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        self._close_client()

    def kill(self) -> None:
        super().kill()
        self._close_client()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- HTTP API helpers
    def query(
        self, q: str, db: str | None = None, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Run InfluxQL and return the decoded JSON (timestamps as epoch milliseconds).

        Read-only statements (SELECT/SHOW) use GET; anything else uses POST (InfluxDB
        1.6 still runs CREATE/DROP over GET but answers with a deprecation warning).
        """
        query_params: dict[str, str] = {"q": q, "epoch": "ms"}
        if db is not None:
            query_params["db"] = db
        if params:
            query_params.update(params)
        read_only = (
            q.lstrip().split(None, 1)[0].upper() in {"SELECT", "SHOW"} if q.strip() else True
        )
        if read_only:
            response = self.client.get("/query", params=query_params)
        else:
            response = self.client.post("/query", params=query_params)
        if response.status_code >= 400:
            raise InfluxError(f"{q!r}: HTTP {response.status_code}: {response.text}")
        body: dict[str, Any] = response.json()
        if "error" in body:
            raise InfluxError(f"{q!r}: {body['error']}")
        return body

    def create_database(self, name: str) -> None:
        self._check_statements(self.query(f'CREATE DATABASE "{name}"'))

    def drop_database(self, name: str) -> None:
        self._check_statements(self.query(f'DROP DATABASE "{name}"'))

    def write(self, db: str, lines: str | Iterable[str], precision: str = "ms") -> None:
        """POST line protocol to ``/write`` (raises :class:`InfluxError` unless 204)."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        response = self.client.post(
            "/write", params={"db": db, "precision": precision}, content=body.encode()
        )
        if response.status_code != 204:
            raise InfluxError(f"write to {db!r}: HTTP {response.status_code}: {response.text}")

    def rows(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Run one query and flatten every series into a list of column->value dicts."""
        result = self.query(q, db)["results"][0]
        if "error" in result:
            raise InfluxError(f"{q!r}: {result['error']}")
        out: list[dict[str, Any]] = []
        for series in result.get("series", []):
            tags = series.get("tags", {})
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                row.update(tags)
                out.append(row)
        return out

    @staticmethod
    def _check_statements(body: dict[str, Any]) -> None:
        for result in body.get("results", []):
            if "error" in result:
                raise InfluxError(result["error"])


def clear_session(host: str, port: int, client_id: str) -> None:
    """Remove a persistent session from the shared broker (connect with a clean session
    under the same client id), so that it does not queue later tests' traffic."""
    done = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.on_connect = lambda *_a: done.set()
    try:
        client.connect(host, port, keepalive=10)
        client.loop_start()
        done.wait(10)
    except OSError as exc:
        log.warning("could not clear MQTT session %s: %s", client_id, exc)
    finally:
        client.disconnect()
        client.loop_stop()
