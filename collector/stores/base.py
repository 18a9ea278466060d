"""The store interface the writer talks to."""

from collections.abc import Sequence
from typing import Protocol

from collector.ingest.points import Point


class StoreUnavailableError(Exception):
    """Transient: the store is down, slow or overloaded. Retry later; nothing is lost."""


class StoreRejectedError(Exception):
    """Permanent: the store refused the data itself (HTTP 4xx). Retrying cannot help."""


class TimeSeriesStore(Protocol):
    def write(self, points: Sequence[Point]) -> None:
        """Durably store `points` or raise StoreUnavailableError / StoreRejectedError."""
        ...

    def close(self) -> None: ...
