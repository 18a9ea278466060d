"""Fixtures for the alert store tests: a store on a tmp_path file, a fake clock, and a
helper that records engine transitions like the collector would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alertstore_support import ALERT, T0, Engine

from alertstore import AlertStore, Recorded
from warmnet.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "alerts.sqlite"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[AlertStore]:
    with AlertStore(db_path, clock=clock) as s:
        yield s


@pytest.fixture
def engine(store: AlertStore) -> Engine:
    """`engine(kind, at_ms=..., **overrides)`: one transition of the ALERT's rule."""

    def record(
        kind: str, at_ms: int = T0, *, into: AlertStore | None = None, **kw: Any
    ) -> Recorded:
        args: dict[str, Any] = {
            "alert_id": ALERT,
            "rule": "outlet-socket-overheat",
            "station": "wmq-01",
            "device": "outlet-03",
            "severity": "critical",
            "value": 61.5,
            "detail": "temp_c 61.5 >= 60 for 30 s",
            "title_zh": "充电插座过热（已请求断电）",
            "title_en": "Charging socket overheating (power cut requested)",
        }
        args.update(kw)
        return (into or store).record_engine(kind=kind, at_ms=at_ms, **args)

    return record
