"""`make bench-ingest`: how fast the collector stores, against a raw MQTT ceiling
measured in the same run, how soon a message is visible in the API, and how much
memory a collector needs for a 50,400-device fleet.

Starts its own mosquitto (testbed/services.py with the product's broker settings,
broker: persistence saved every 30 s, max_queued_messages 0, inflight 20,000)
and influxd on free loopback ports in a temporary directory, and measures, on
synthetic_fleet(3600) (50,400 devices):

1. ceiling: a bare paho subscriber that only counts, draining N messages pre-loaded
   into its persistent session (QoS 1);
2. the collector (`warmnet collector` as its own process) draining the same N from its
   persistent session until every point is in InfluxDB (checked with InfluxQL), and
   its peak RSS (VmHWM) meanwhile;
3. publish -> visible-in-API latency at a steady rate, collector and API (`warmnet
   api`) each in its own process;
4. two sharded collectors draining the same N together.

See bench/README.md for how each is measured and the recorded results.
The last line is machine-readable:
`ingest msgs_per_s=N ceiling_msgs_per_s=N ratio=R p99_ms=N rss_mb=N`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from bench import loadgen
from broker import AUTOSAVE_INTERVAL_S
from collector.service import Collector
from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, free_port, wait_for
from warmnet.kinds import DeviceKind
from warmnet.logs import setup_logging
from warmnet.messages import parse_telemetry
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet, synthetic_fleet, write_fleet
from warmnet.settings import MqttUrl

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

PY = sys.executable
STATIONS = 3600
MEASUREMENTS = tuple(k.value for k in DeviceKind)
DRAIN_TIMEOUT_S = 180.0
LOAD_TIMEOUT_S = 120.0  # loading the 50,400-device registry

# --------------------------------------------------------------------------- processes


class Child:
    """A process the bench drives over stdin/stdout: it prints `ready` (or `loaded`),
    waits for `go`, and the clients print one JSON line with their result. stderr goes
    to a log file whose tail is shown when something fails."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str], cwd: Path
    ):
        self.name = name
        self.log_path = log_path
        self._log: TextIO = log_path.open("w")
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=cwd,  # relative default paths (e.g. var/...) stay in the bench's temp dir
        )
        self.metrics_port: int | None = None  # a collector's Prometheus endpoint
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name=f"read-{name}", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def line(self, timeout: float) -> str:
        try:
            text = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: silent for {timeout:.0f}s{self.tail()}") from None
        if text is None:
            self.proc.wait(5)
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}){self.tail()}")
        return text

    def expect(self, word: str, timeout: float) -> None:
        text = self.line(timeout)
        if text != word:
            raise RuntimeError(f"{self.name}: expected {word!r}, got {text!r}{self.tail()}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.line(timeout))
        return value

    def tail(self, lines: int = 25) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return ("\n--- " + str(self.log_path) + " ---\n" + "\n".join(text)) if text else ""

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the collector then stores and acks what it holds), SIGKILL later."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a live process, kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for text in f:
            key, _, value = text.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class CpuWatch:
    """CPU used while a measurement runs, by this bench's process tree (collector,
    broker, influxd, clients) and by everything else on the machine: the other load
    tells whether a number was taken on a quiet machine."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0, self.steal0 = self._busy()
        self.ours0 = self._ours()

    @staticmethod
    def _busy() -> tuple[int, int]:
        """Ticks the machine's CPUs were busy, and ticks the hypervisor took (steal)."""
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6], (v[7] if len(v) > 7 else 0)

    @staticmethod
    def _ours() -> dict[int, int]:
        parent: dict[int, int] = {}
        cpu: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            parent[int(entry)] = int(fields[1])
            cpu[int(entry)] = int(fields[11]) + int(fields[12])
        me = os.getpid()
        ours = {}
        for pid in cpu:
            p = pid
            while p > 1 and p != me:
                p = parent.get(p, 0)
            if p == me:
                ours[pid] = cpu[pid]
        return ours

    def report(self) -> str:
        elapsed = time.perf_counter() - self.t0
        busy1, steal1 = self._busy()
        busy = (busy1 - self.busy0) / self.HZ / elapsed
        steal = (steal1 - self.steal0) / self.HZ / elapsed
        ours1 = self._ours()
        used = {pid: (v - self.ours0.get(pid, 0)) / self.HZ / elapsed for pid, v in ours1.items()}
        ours = sum(used.values())
        other = max(0.0, busy - ours)
        parts: dict[str, float] = {}
        for pid, cores in used.items():
            name = _role(pid)
            parts[name] = parts.get(name, 0.0) + cores
        split = ", ".join(f"{k} {v:.2f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
        return (
            f"CPU during it: bench processes {ours:.2f} cores ({split}), other processes "
            f"{other:.2f} cores, stolen by the hypervisor {steal:.2f} (of {os.cpu_count()})"
            + ("  << machine busy: not representative" if other + steal > 0.25 else "")
        )


def _role(pid: int) -> str:
    """What a process of the bench is, from its command line."""
    if pid == os.getpid():
        return "bench (checks)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except OSError:
        return "gone"
    text = " ".join(argv)
    if "collector_proc" in text:
        return "collector"
    if "api_proc" in text:
        return "api"
    if "loadgen.py" in text:
        return "loadgen " + next((a for a in argv if a in LOADGEN_CMDS), "?")
    return Path(argv[0]).name or "?"


LOADGEN_CMDS = ("publish", "count", "paced", "watch")


def clean_env() -> dict[str, str]:
    """Our environment without any WARMNET_* setting that could leak into children."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WARMNET_")}


# --------------------------------------------------------------------------- context


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    broker: MosquittoServer
    influx: InfluxServer
    fleet: Fleet
    registry: Path
    drain: loadgen.DrainSet
    chunks: list[Path]
    barrier: Path
    children: list[Child] = field(default_factory=list)

    def child(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        log_path = self.tmp / f"{name}.log"
        c = Child(name, argv, log_path, env if env is not None else clean_env(), self.tmp)
        self.children.append(c)
        return c

    def loadgen(self, name: str, *argv: str) -> Child:
        return self.child(name, [PY, str(BENCH / "loadgen.py"), *argv])

    def stop_children(self) -> None:
        for c in self.children:
            c.stop(5)

    # -- broker helpers

    def forget_session(self, client_id: str) -> None:
        """Discard a persistent session (connect with clean session), so that later
        pre-loads do not pile up in sessions nobody drains any more."""
        client = new_client(MqttUrl(self.broker.url), client_id, persistent=False)
        connect(client, MqttUrl(self.broker.url))
        client.disconnect()
        client.loop_stop()

    def preload(self, label: str) -> float:
        """Publish the drain set into the broker (publishers in their own processes,
        barrier block last); returns the pre-load rate."""
        pubs = [
            self.loadgen(f"{label}-pub{i}", "publish", "--url", self.broker.url, "--file", str(p))
            for i, p in enumerate(self.chunks)
        ]
        for p in pubs:
            p.expect("ready", 30)
        t0 = time.perf_counter()
        for p in pubs:
            p.go()
        for p in pubs:
            p.result(DRAIN_TIMEOUT_S)
        barrier = self.loadgen(
            f"{label}-barrier", "publish", "--url", self.broker.url, "--file", str(self.barrier)
        )
        barrier.expect("ready", 30)
        barrier.go()
        barrier.result(60)
        elapsed = time.perf_counter() - t0
        rate = self.drain.n / elapsed
        print(f"  pre-loaded {self.drain.n} messages in {elapsed:.1f} s ({rate:,.0f} msg/s)")
        return rate

    # -- influx helpers

    def count(self, db: str, where: str = "", measurements: Sequence[str] = MEASUREMENTS) -> int:
        names = ",".join(f'"{m}"' for m in measurements)
        rows = self.influx.rows(f"SELECT count(seq) FROM {names} {where}", db)
        return sum(int(r["count"]) for r in rows)

    # -- collectors

    def collector_settings(self, db: str, client_id: str, **extra: Any) -> CollectorSettings:
        data_dir = self.tmp / f"data-{client_id}-{extra.get('shard_index', 0)}"
        data_dir.mkdir(exist_ok=True)
        return CollectorSettings(
            mqtt_url=self.broker.url,
            influx_url=self.influx.url,
            influx_db=db,
            client_id=client_id,
            data_dir=data_dir,
            # ignored where a setting does not exist:
            metrics_port=None,
            alert_db=data_dir / "alerts.sqlite",
            **extra,
        )

    def prepare_sessions(self, settings: Sequence[CollectorSettings]) -> list[str]:
        """Start and stop an in-process Collector per settings so that its persistent
        session (with its subscriptions) exists; return the session client ids."""
        ids = []
        for s in settings:
            collector = Collector(s, self.fleet)
            collector.start()
            collector.stop()
            ids.append(str(getattr(s, "session_client_id", s.client_id)))
        return ids

    def collector_proc(self, name: str, settings: CollectorSettings, **env: str) -> Child:
        """`warmnet collector` as its own process, configured like the in-process one."""
        e = clean_env() | {
            "WARMNET_MQTT_URL": self.broker.url,
            "WARMNET_INFLUX_URL": self.influx.url,
            "WARMNET_INFLUX_DB": settings.influx_db,
            "WARMNET_REGISTRY": str(self.registry),
            "WARMNET_CLIENT_ID": settings.client_id,
            "WARMNET_DATA_DIR": str(settings.data_dir),
            "WARMNET_ALERT_DB": str(Path(settings.data_dir) / "alerts.sqlite"),
            "WARMNET_METRICS_PORT": str(port := free_port()),
            "WARMNET_LOG_LEVEL": "INFO",
        }
        e.update(env)
        child = self.child(name, [PY, str(BENCH / "collector_proc.py")], e)
        child.metrics_port = port
        return child

    def api_proc(self, name: str, keys: Path, port: int) -> Child:
        """`warmnet api` as its own process (as in production), noting when each
        sampled reading becomes visible in its live store (bench/api_proc.py)."""
        data_dir = self.tmp / f"data-{name}"
        data_dir.mkdir(exist_ok=True)
        e = clean_env() | {
            "WARMNET_MQTT_URL": self.broker.url,
            "WARMNET_INFLUX_URL": self.influx.url,
            "WARMNET_REGISTRY": str(self.registry),
            "WARMNET_API_PORT": str(port),
            "WARMNET_API_CLIENT_ID": f"bench-{name}",
            "WARMNET_DATA_DIR": str(data_dir),
            "WARMNET_ALERT_DB": str(data_dir / "alerts.sqlite"),
            "WARMNET_LOG_LEVEL": "WARNING",
        }
        argv = [PY, str(BENCH / "api_proc.py"), "--keys", str(keys), "--port", str(port)]
        return self.child(name, argv, e)


# --------------------------------------------------------------------------- phases


@dataclass
class Drain:
    n: int
    elapsed_s: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.n / self.elapsed_s


def run_ceiling(b: Bench) -> tuple[Drain, dict[str, Drain]]:
    """The ceiling, and for reference what paho manages with the work no collector can
    skip (manual acknowledgement; decoding JSON): how far above those a collector in
    one Python process can possibly get. Two rounds, interleaved, the faster of each
    kept: a single 4 s drain varies by ~15 % here."""
    print("[1/4] ceiling: bare paho subscriber (counts only), drain mode; 2 rounds")
    best: dict[str, Drain] = {}
    for _ in range(2):
        for work in ("none", "ack", "ack+json"):
            drain = paho_drain(b, work)
            if work not in best or drain.rate > best[work].rate:
                best[work] = drain
    ceiling = best.pop("none")
    return ceiling, best


def paho_drain(b: Bench, work: str) -> Drain:
    label = "ceiling" if work == "none" else "paho-" + work.replace("+", "-")
    client_id = f"bench-{label}"
    prep = b.loadgen(
        f"{label}-prepare", "count", "--prepare", "--url", b.broker.url, "--client-id", client_id
    )
    prep.go()
    prep.result(30)
    b.preload(label)
    sub = b.loadgen(
        f"{label}-drain",
        "count",
        "--url",
        b.broker.url,
        "--client-id",
        client_id,
        "-n",
        str(b.drain.n),
        "--timeout",
        str(DRAIN_TIMEOUT_S),
        "--work",
        work,
    )
    sub.expect("ready", 30)
    watch = CpuWatch()
    sub.go()
    res = sub.result(DRAIN_TIMEOUT_S + 10)
    cpu = watch.report()
    b.forget_session(client_id)
    drain = Drain(int(res["n"]), float(res["elapsed_s"]))
    what = {
        "none": "",
        "ack": "reference: paho + manual ack from the callback: ",
        "ack+json": "reference: paho + manual ack + json.loads of each payload: ",
    }[work]
    print(
        f"  {what}drained {drain.n} in {drain.elapsed_s:.2f} s: {drain.rate:,.0f} msg/s "
        f"({float(res['from_connack_s']):.2f} s of it after CONNACK)"
    )
    print(f"  {cpu}")
    return drain


def run_collector_drain(b: Bench, label: str, shards: int, db: str) -> Drain:
    client_id = f"bench-{label}"
    extra: dict[str, Any] = {"shard_count": shards} if shards > 1 else {}
    settings = [
        b.collector_settings(db, client_id, **extra, **({"shard_index": i} if shards > 1 else {}))
        for i in range(shards)
    ]
    session_ids = b.prepare_sessions(settings)
    b.preload(label)
    procs = []
    for i, s in enumerate(settings):
        env = {"WARMNET_SHARD_COUNT": str(shards), "WARMNET_SHARD_INDEX": str(i)}
        procs.append(b.collector_proc(f"{label}-collector{i}", s, **(env if shards > 1 else {})))
    t_load = time.perf_counter()
    for p in procs:
        p.expect("loaded", LOAD_TIMEOUT_S)
    load_s = time.perf_counter() - t_load
    rss_loaded = [proc_status(p.pid)["VmRSS"] for p in procs]
    profiler = (
        start_profiler(b, procs[0], b.args.profile) if b.args.profile and shards == 1 else None
    )

    watch = CpuWatch()
    t0 = time.perf_counter()
    for p in procs:
        p.go()

    def all_stored() -> bool:
        """The collectors' own count of stored points (counted on InfluxDB's 2xx, or
        once spilled to disk: none is, with InfluxDB up; the InfluxQL count confirms):
        cheap to ask every 50 ms, where an InfluxQL count over the fleet's series costs
        influxd tens of milliseconds of CPU each time, taken from the drain measured."""
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} died during the drain{p.tail()}")
        return sum(scrape(p).get("messages_stored_total", 0.0) for p in procs) >= b.drain.n

    wait_for(
        all_stored,
        timeout=DRAIN_TIMEOUT_S,
        interval=0.05,
        message=lambda: (
            f"{label}: not all stored; {b.count(db)}/{b.drain.n} points in InfluxDB"
            + "".join(p.tail(10) for p in procs)
        ),
    )
    t_end = time.perf_counter()
    # Confirmed by InfluxDB itself (if points were still missing, the drain would end
    # when they are in).
    stored = b.count(db)
    if stored < b.drain.n:
        stored = wait_for(
            lambda: (n := b.count(db)) >= b.drain.n and n,
            timeout=30,
            interval=0.1,
            message=lambda: f"{label}: {b.count(db)}/{b.drain.n} points stored",
        )
        t_end = time.perf_counter()
    elapsed = t_end - t0
    cpu = watch.report()
    if profiler is not None:
        stop_profiler(profiler)
    status = [proc_status(p.pid) for p in procs]
    own = [scrape(p) for p in procs]
    for p in procs:
        p.stop()
    for sid in session_ids:
        b.forget_session(sid)
    b.influx.drop_database(db)
    drain = Drain(
        b.drain.n,
        elapsed,
        {
            "stored": stored,
            "load_s": load_s,
            "rss_loaded_mb": [kb / 1024 for kb in rss_loaded],
            "rss_end_mb": [s["VmRSS"] / 1024 for s in status],
            "hwm_mb": [s["VmHWM"] / 1024 for s in status],
        },
    )
    if stored != b.drain.n:
        raise RuntimeError(f"{label}: stored {stored} points, expected {b.drain.n}")
    hwm = ", ".join(f"{m:.0f}" for m in drain.detail["hwm_mb"])
    print(
        f"  drained and stored {drain.n} in {drain.elapsed_s:.2f} s: {drain.rate:,.0f} msg/s "
        f"(InfluxQL count(seq) = {stored}); registry load {load_s:.1f} s (not timed)"
    )
    print(
        "  RSS MB after registry load "
        + ", ".join(f"{m:.0f}" for m in drain.detail["rss_loaded_mb"])
        + "; at end of drain "
        + ", ".join(f"{m:.0f}" for m in drain.detail["rss_end_mb"])
        + f"; peak (VmHWM) {hwm}"
    )
    if all(own):
        print(
            "  the collectors' own count (messages_stored_total): "
            + " + ".join(f"{m.get('messages_stored_total', nan):.0f}" for m in own)
            + "".join(
                f"; {name}: " + " + ".join(f"{m.get(name, 0.0):.0f}" for m in own)
                for name in ("alert_backpressure_waits_total", "queue_full_waits_total")
                if any(name in m for m in own)
            )
        )
    print(f"  {cpu}")
    return drain


RAW = ("--format", "raw", "--output")


# One client for every scrape: a bare `httpx.get` builds an SSL context each time
# (milliseconds of CPU, taken from the processes being measured).
_SCRAPER = httpx.Client(timeout=5)


def scrape(child: Child) -> dict[str, float]:
    """The collector's own Prometheus metrics (unlabelled samples), if it serves them."""
    if child.metrics_port is None:
        return {}
    try:
        text = _SCRAPER.get(f"http://127.0.0.1:{child.metrics_port}/metrics").text
    except httpx.HTTPError:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line.startswith("warmnet_collector_") and "{" not in name:
            with contextlib.suppress(ValueError):
                out[name.removeprefix("warmnet_collector_")] = float(value)
    return out


def trace_collector(
    child: Child,
    t0: float,
    rate: float,
    n: int,
    stop: threading.Event,
    out: list[tuple[float, float]],
) -> None:
    """Every 0.5 s: how far storing trails publishing (from the collector's metrics)."""
    while not stop.wait(0.5):
        m = scrape(child)
        if not m:
            return
        published = min((time.perf_counter() - t0) * rate, n)
        out.append(
            (
                published - m.get("messages_stored_total", 0.0),
                m.get("oldest_unacked_age_seconds", 0.0),
            )
        )


def start_profiler(b: Bench, target: Child, path: str) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    out = Path(path).resolve()
    print(f"  profiling pid {target.pid} with py-spy into {out}")
    return subprocess.Popen(
        [spy, "record", "--pid", str(target.pid), "--rate", "200", "--threads", "--nonblocking"]
        + (["--gil"] if b.args.profile_gil else [])
        + [*RAW, str(out)],
        stdout=subprocess.DEVNULL,
        stderr=(b.tmp / "py-spy.log").open("w"),
    )


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------- latency


def poll_http(
    base_url: str,
    schedule: list[tuple[float, str, str, int]],
    stop: threading.Event,
    out: dict[tuple[str, str], float],
    *,
    every_s: float = 0.05,
    spacing_s: float = 0.02,
) -> None:
    """Poll `GET /stations/{id}` from `due` on, each sample every `every_s` and all of
    them together at most once per `spacing_s` (so that polling cannot load the API
    it measures), until the device shows the message's ts (at most 5 s); record when
    it did."""
    pending: list[list[Any]] = []  # [next poll, due, station, device, ts]
    i = 0
    with httpx.Client(base_url=base_url, timeout=5) as http:
        while not stop.is_set() and (i < len(schedule) or pending):
            now = time.perf_counter()
            while i < len(schedule) and schedule[i][0] <= now:
                pending.append([schedule[i][0], *schedule[i]])
                i += 1
            item = min(pending, key=lambda p: p[0], default=None)
            if item is None or item[0] > now:
                wake = (
                    item[0] if item is not None else (schedule[i][0] if i < len(schedule) else now)
                )
                stop.wait(max(spacing_s, wake - now))
                continue
            _, due, station, device, ts = item
            try:
                body = http.get(f"/stations/{station}").json()
            except httpx.HTTPError:
                body = {"devices": []}
            seen = next((d.get("observed_at") for d in body["devices"] if d["id"] == device), None)
            done = time.perf_counter()
            if seen == ts:
                out[(station, device)] = done
                pending.remove(item)
            elif done - due > 5:
                pending.remove(item)
            else:
                item[0] = done + every_s
            stop.wait(spacing_s)


@dataclass
class Latency:
    n: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missing: int
    http_n: int
    http_p50_ms: float
    http_p99_ms: float
    detail: dict[str, Any] = field(default_factory=dict)


nan = math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def run_latency(b: Bench) -> Latency:
    a = b.args
    n = int(a.latency_rate * a.latency_seconds)
    defaults = CollectorSettings()
    interval = a.availability_interval
    batch_age = a.batch_max_age
    print(
        f"[3/4] latency: publish -> visible in the API at {a.latency_rate:.0f} msg/s for "
        f"{a.latency_seconds:.0f} s; collector availability_interval_s="
        f"{interval if interval is not None else defaults.availability_interval_s}, "
        f"batch_max_age_s={batch_age if batch_age is not None else defaults.batch_max_age_s}"
        + (" (defaults)" if interval is None and batch_age is None else "")
    )
    db = "bench_latency"
    client_id = "bench-latency"
    extra: dict[str, Any] = {}
    env = {}
    if interval is not None:
        extra["availability_interval_s"] = interval
        env["WARMNET_AVAILABILITY_INTERVAL_S"] = str(interval)
    if batch_age is not None:
        extra["batch_max_age_s"] = batch_age
        env["WARMNET_BATCH_MAX_AGE_S"] = str(batch_age)
    settings = b.collector_settings(db, client_id, **extra)
    (session_id,) = b.prepare_sessions([settings])
    collector = b.collector_proc("latency-collector", settings, **env)
    collector.expect("loaded", LOAD_TIMEOUT_S)
    connects = b.broker.log_text().count(f" as {session_id} (")
    collector.go()
    wait_for(
        lambda: b.broker.log_text().count(f" as {session_id} (") > connects,
        timeout=30,
        message=lambda: f"latency collector did not connect{collector.tail()}",
    )

    devices = device_refs(b.fleet)
    paced = loadgen.paced_set(
        devices, n, rate=a.latency_rate, start_ms=int(time.time() * 1000) + 1000, seed=11
    )
    path = b.tmp / "paced.pkl"
    loadgen.write_messages(path, paced.messages)
    sampled = {k: paced.keys[k] for k in range(0, n, a.sample_every)}
    expected = {(s, d): ts for s, d, ts in sampled.values()}
    keys_path = b.tmp / "sampled.pkl"
    with keys_path.open("wb") as f:
        pickle.dump(list(sampled.values()), f)
    api_port = free_port()
    api = b.api_proc("latency-api", keys_path, api_port)
    api.expect("ready", 60)
    publisher = b.loadgen(
        "paced",
        "paced",
        "--url",
        b.broker.url,
        "--file",
        str(path),
        "--rate",
        str(a.latency_rate),
        "--sample-every",
        str(a.sample_every),
    )
    publisher.expect("ready", 30)
    watcher = b.loadgen("watch", "watch", "--url", b.broker.url, "--keys", str(keys_path))
    watcher.expect("ready", 30)
    http_seen: dict[tuple[str, str], float] = {}
    lag: list[tuple[float, float]] = []  # (published - stored, oldest unacked age s)
    base_url = f"http://127.0.0.1:{api_port}"
    stop_polling = threading.Event()
    t_go = time.perf_counter()
    schedule = [
        (t_go + k / a.latency_rate, *paced.keys[k])
        for k in range(0, n, a.sample_every * a.http_every)
    ]
    poller = threading.Thread(
        target=poll_http, args=(base_url, schedule, stop_polling, http_seen), daemon=True
    )
    poller.start()
    profiler = start_profiler(b, collector, a.profile_latency) if a.profile_latency else None
    watch = CpuWatch()
    publisher.go()
    trace = threading.Thread(
        target=trace_collector,
        args=(collector, t_go, a.latency_rate, n, stop_polling, lag),
        daemon=True,
    )
    trace.start()
    res = publisher.result(a.latency_seconds * 3 + 30)
    cpu = watch.report()
    at_end = scrape(collector)
    if profiler is not None:
        stop_profiler(profiler)
    # The tail: a bounded wait for the last samples; later arrivals count as never
    # visible (with the time until the window closed: a lower bound).
    with contextlib.suppress(RuntimeError):
        api.expect("complete", 10)
    if not api.alive():
        raise RuntimeError(f"the API process exited during the run{api.tail()}")
    api.go()  # stop recording
    closed = time.perf_counter()
    reply = api.line(30)
    while not reply.startswith("{"):  # a `complete` that came after the wait
        reply = api.line(30)
    api_result = json.loads(reply)
    seen_in_api = {(st, dev): float(t) for st, dev, t in api_result["seen"]}
    watcher.go()  # stop watching
    watched = {(st, dev): float(t) for st, dev, t in watcher.result(30)["seen"]}
    stop_polling.set()
    poller.join(10)
    trace.join(10)
    api.stop()
    collector.stop()
    b.forget_session(session_id)
    b.influx.drop_database(db)

    pub_at = {int(k): float(t) for k, t in res["samples"]}
    lat: list[float] = []
    broker_lat: list[float] = []
    http_lat: list[float] = []
    for k, (station, device, _ts) in sampled.items():
        seen = seen_in_api.get((station, device))
        # Never visible: at least until the window closed (a lower bound).
        lat.append(((seen if seen is not None else closed) - pub_at[k]) * 1000)
        broker_lat.append((watched.get((station, device), closed) - pub_at[k]) * 1000)
        if (station, device) in http_seen:
            http_lat.append((http_seen[(station, device)] - pub_at[k]) * 1000)
    if a.latency_samples:  # to see whether the tail is spread out or clustered in time
        with open(a.latency_samples, "w") as f:
            f.write("published_s api_ms broker_ms\n")
            t_first = min(pub_at.values())
            for k, (station, device, _ts) in sampled.items():
                api_at = seen_in_api.get((station, device), closed)
                broker_at = watched.get((station, device), closed)
                f.write(
                    f"{pub_at[k] - t_first:.3f} {(api_at - pub_at[k]) * 1000:.0f} "
                    f"{(broker_at - pub_at[k]) * 1000:.0f}\n"
                )
    result = Latency(
        n=len(lat),
        p50_ms=percentile(lat, 0.50),
        p99_ms=percentile(lat, 0.99),
        max_ms=max(lat),
        missing=sum(1 for key in expected if key not in seen_in_api),
        http_n=len(http_lat),
        http_p50_ms=percentile(http_lat, 0.50),
        http_p99_ms=percentile(http_lat, 0.99),
        detail={
            "late_max_ms": float(res["late_max_ms"]),
            "published": int(res["n"]),
            "broker_p50_ms": percentile(broker_lat, 0.50),
            "broker_p99_ms": percentile(broker_lat, 0.99),
            "broker_missing": sum(1 for key in expected if key not in watched),
            "api_summaries": int(api_result["summaries"]),
        },
    )
    print(
        f"  published {result.detail['published']} in {float(res['elapsed_s']):.1f} s "
        f"(pacing lag max {result.detail['late_max_ms']:.0f} ms); {result.n} samples "
        f"(1 in {a.sample_every}), {result.missing} not visible within 10 s after the last "
        "publish (counted until then: a lower bound)"
    )
    d = result.detail
    print(
        f"  summary at the broker (own subscriber to the availability topics): "
        f"p50 {d['broker_p50_ms']:.0f} ms, p99 {d['broker_p99_ms']:.0f} ms, "
        f"{d['broker_missing']} not seen"
    )
    print(
        f"  visible in the API (its live store; `warmnet api` in its own process, "
        f"{d['api_summaries']} summaries taken): p50 {result.p50_ms:.0f} ms, "
        f"p99 {result.p99_ms:.0f} ms, max {result.max_ms:.0f} ms"
    )
    print(
        f"  confirmed over HTTP GET /stations/{{id}} (1 in {a.sample_every * a.http_every}, "
        f"polled every 50 ms): n={result.http_n}, p50 {result.http_p50_ms:.0f} ms, "
        f"p99 {result.http_p99_ms:.0f} ms"
    )
    if lag:
        print(
            f"  collector lag, sampled every 0.5 s: published - stored max "
            f"{max(x for x, _ in lag):.0f} msgs, oldest unacknowledged message max "
            f"{max(y for _, y in lag) * 1000:.0f} ms"
        )
    if at_end:
        print(
            "  collector when publishing ended: stored "
            f"{at_end.get('messages_stored_total', nan):.0f}/{n}, queue backlog "
            f"{at_end.get('queue_backlog_messages', nan):.0f}, oldest unacked "
            f"{at_end.get('oldest_unacked_age_seconds', nan) * 1000:.0f} ms, availability "
            f"summaries published {at_end.get('availability_published_total', nan):.0f}"
        )
    print(f"  {cpu}")
    return result


# --------------------------------------------------------------------------- setup


def device_refs(fleet: Fleet) -> list[loadgen.DeviceRef]:
    return [(s.id, d.id, d.kind.value) for s in fleet.stations for d in s.devices]


def check_payloads(fleet: Fleet, messages: Sequence[loadgen.Message], every: int) -> None:
    """Validate a sample of the generated payloads against the contract."""
    for topic, payload in messages[::every]:
        _, _, station, device, _ = topic.split("/")
        spec = fleet.device(station, device)
        assert spec is not None, topic
        parse_telemetry(spec.kind, payload)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--messages", type=int, default=100_000, help="N for the drains")
    p.add_argument("--publishers", type=int, default=1, help="pre-load processes")
    p.add_argument("--latency-rate", type=float, default=2000.0, help="msg/s")
    p.add_argument("--latency-seconds", type=float, default=20.0)
    p.add_argument("--sample-every", type=int, default=20, help="latency sample: 1 in K")
    p.add_argument("--http-every", type=int, default=20, help="of those, 1 in K over HTTP")
    p.add_argument(
        "--availability-interval", type=float, default=None, help="latency run (default: default)"
    )
    p.add_argument(
        "--batch-max-age", type=float, default=None, help="latency run (default: default), s"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["ceiling", "single", "latency", "sharded"],
        help="leave a phase out (repeatable; for working on one phase)",
    )
    p.add_argument(
        "--broker-autosave",
        type=int,
        default=AUTOSAVE_INTERVAL_S,
        help="mosquitto autosave_interval, s (default: the product's; the test suite uses 1)",
    )
    p.add_argument("--profile", help="py-spy raw profile of the single collector's drain")
    p.add_argument("--profile-latency", help="py-spy raw profile of the latency collector")
    p.add_argument("--latency-samples", help="write each latency sample to this file")
    p.add_argument(
        "--profile-gil", action="store_true", help="sample only the thread holding the GIL"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("WARNING")
    started = time.perf_counter()
    sharding = {"shard_index", "shard_count"} <= set(CollectorSettings.model_fields)
    defaults = CollectorSettings()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="warmnet-bench-")))
        # Whatever a component writes to a relative default path lands in tmp.
        stack.callback(os.chdir, Path.cwd())
        os.chdir(tmp)
        broker = stack.enter_context(
            MosquittoServer(workdir=tmp / "mosquitto", autosave_interval_s=args.broker_autosave)
        )
        influx = stack.enter_context(InfluxServer(workdir=tmp / "influxd"))
        fleet = synthetic_fleet(STATIONS)
        registry = tmp / "fleet.json"
        write_fleet(fleet, registry)
        drain = loadgen.drain_set(
            device_refs(fleet), args.messages, seed=7, now_ms=int(time.time() * 1000)
        )
        check_payloads(fleet, drain.messages, every=97)
        regular = drain.messages[: drain.n - drain.barrier_count]
        chunks = []
        for i in range(args.publishers):
            chunks.append(tmp / f"chunk{i}.pkl")
            loadgen.write_messages(chunks[-1], regular[i :: args.publishers])
        barrier = tmp / "barrier.pkl"
        loadgen.write_messages(barrier, drain.messages[drain.n - drain.barrier_count :])
        b = Bench(args, tmp, broker, influx, fleet, registry, drain, chunks, barrier)
        stack.callback(b.stop_children)

        keys = ("persistence ", "autosave_interval", "max_queued", "max_inflight")
        conf = [c for c in broker.config_path.read_text().splitlines() if c.startswith(keys)]
        print(
            f"warmnet ingest bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"fleet {len(fleet.stations)} stations / {fleet.device_count} devices"
        )
        print("  broker: mosquitto, " + ", ".join(conf))
        mix = ", ".join(f"{k} {v}" for k, v in sorted(drain.per_kind.items()))
        print(f"  drain set: N={drain.n} ({mix}); barrier block {drain.barrier_count}")
        print(
            f"  collector: batch_max_points={defaults.batch_max_points} "
            f"batch_max_age_s={defaults.batch_max_age_s} queue_max={defaults.queue_max} "
            f"availability_interval_s={defaults.availability_interval_s} (defaults, drains)"
        )

        ceiling, reference = run_ceiling(b) if "ceiling" not in args.skip else (None, {})
        single: Drain | None = None
        if "single" not in args.skip:
            print("[2/4] collector: `warmnet collector` process, drain mode, InfluxDB 1.6")
            single = run_collector_drain(b, "single", 1, "bench_single")
        latency = run_latency(b) if "latency" not in args.skip else None
        sharded: Drain | None = None
        if "sharded" in args.skip:
            pass
        elif not sharding:
            # TODO(bench): CollectorSettings has no shard_index/shard_count yet.
            print("[4/4] sharded: TODO - CollectorSettings has no shard_index/shard_count")
        else:
            print("[4/4] two sharded collectors (SHARD_COUNT=2), drain mode")
            sharded = run_collector_drain(b, "sharded", 2, "bench_sharded")

    print()
    ceiling_rate = ceiling.rate if ceiling is not None else nan
    rate = single.rate if single is not None else nan
    rss_mb = max(single.detail["hwm_mb"]) if single is not None else nan
    ratio = rate / ceiling_rate
    p99 = latency.p99_ms if latency is not None else nan
    print(f"ceiling (paho, count only)     {ceiling_rate:10,.0f} msg/s")
    for work, ref in reference.items():
        print(
            f"  paho + {work:<8}               {ref.rate:10,.0f} msg/s   "
            f"ratio {ref.rate / ceiling_rate:.2f}  (reference: no collector can skip this)"
        )
    print(f"collector, stored in InfluxDB  {rate:10,.0f} msg/s   ratio {ratio:.2f}  (target 0.75)")
    if sharded is not None:
        print(
            f"two sharded collectors         {sharded.rate:10,.0f} msg/s   "
            f"{sharded.rate / rate:.2f}x one  (target 1.5x)"
        )
    if latency is not None:
        print(
            f"publish -> API latency         p50 {latency.p50_ms:.0f} ms, p99 {p99:.0f} ms "
            "(target 250)"
        )
    print(
        f"collector peak RSS             {rss_mb:10.0f} MB  (target 150) with "
        f"{fleet.device_count} devices"
    )
    print(f"bench took {time.perf_counter() - started:.0f} s")
    print(
        f"ingest msgs_per_s={rate:.0f} ceiling_msgs_per_s={ceiling_rate:.0f} "
        f"ratio={ratio:.2f} p99_ms={p99:.0f} rss_mb={rss_mb:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
