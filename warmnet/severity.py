"""Alert severities, most severe first: one vocabulary for rules, the alert store,
notifications and the API."""

from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info: lower is more severe."""
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}
