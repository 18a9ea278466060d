"""Fixtures for the notifier tests: a real local webhook receiver and a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_support import Receiver

from warmnet.clock import FakeClock


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
