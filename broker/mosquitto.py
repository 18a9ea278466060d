"""Mosquitto as warmnet runs it: the settings the delivery guarantees rely on, used by
the demo, the test suite and the benchmarks alike."""

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto")
# Seconds between saves of mosquitto's in-memory database. Each save writes all of it
# (retained summaries and queued messages: megabytes for a city), and the broker
# delivers nothing meanwhile: at 1 s the ingest bench's p99 rose ~100 ms. Mosquitto
# has no per-message journal: a broker crash (not a restart: SIGTERM saves) loses what
# it took since the last save, whatever the interval; shorter only narrows that.
AUTOSAVE_INTERVAL_S = 30


def find_mosquitto() -> str | None:
    for name in MOSQUITTO_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def mosquitto_config(
    host: str,
    port: int,
    data_dir: Path,
    *,
    autosave_interval_s: int = AUTOSAVE_INTERVAL_S,
    log_file: Path | None = None,
) -> str:
    """Broker settings warmnet relies on (DESIGN.md, delivery guarantees): persistence
    on, and no limits that silently drop QoS 1 messages for a collector that falls
    behind (the default `max_queued_messages 1000` does exactly that)."""
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence true",
        # mosquitto concatenates location + "mosquitto.db": the trailing slash matters.
        f"persistence_location {data_dir}/",
        f"autosave_interval {autosave_interval_s}",
        "max_queued_messages 0",
        "max_inflight_messages 20000",  # < 65535 message ids; > a collector batch
        f"log_dest file {log_file or data_dir / 'mosquitto.log'}",
    ]
    if os.geteuid() == 0:
        # As root, mosquitto switches to the `mosquitto` user, which cannot write
        # to our data directory: stay who started us.
        lines.append("user root")
    return "\n".join(lines) + "\n"
