"""Shared fixtures: real Mosquitto and InfluxDB servers started by the test suite.

``tests/`` has no ``__init__.py``, so pytest (rootdir-based "prepend" import mode)
puts this directory on ``sys.path`` and test modules can ``from services import ...``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from testbed.services import InfluxServer, MosquittoServer


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs a CLI command gets `setup_logging`'s handler on that test's
    captured stderr, closed after it: later tests' log lines would fail on it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """One real broker for the whole session (``.url``, ``.host``, ``.port``).

    Tests that ``kill()``/``stop()`` it must bring it back (``restart()`` or
    ``ensure_started()``) before they end; the port never changes.
    """
    server = MosquittoServer(workdir=tmp_path_factory.mktemp("mosquitto"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One real InfluxDB 1.x for the whole session (``.url``, ``.query()``, ``.write()``)."""
    server = InfluxServer(workdir=tmp_path_factory.mktemp("influxdb"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def unique_id() -> str:
    """A short random hex id, for client ids, topic roots, database names..."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def topic_prefix(unique_id: str) -> str:
    """A topic root no other test uses, e.g. ``t/3f2a9c0d1b7e`` (no trailing slash)."""
    return f"t/{unique_id}"


@pytest.fixture
def influx_db(influxdb: InfluxServer, unique_id: str) -> Iterator[str]:
    """A freshly created, uniquely named database (``t_<hex>``); dropped afterwards."""
    name = f"t_{unique_id}"
    influxdb.ensure_started()
    influxdb.create_database(name)
    yield name
    if influxdb.running:
        try:
            influxdb.drop_database(name)
        except Exception as exc:  # never mask the test's own outcome
            print(f"warning: could not drop influx database {name}: {exc}")
