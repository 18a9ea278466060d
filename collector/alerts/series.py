"""Alert transitions as time series (measurement `alert`), so that Grafana can draw
them as annotations next to the data that caused them."""

from collections.abc import Callable, Sequence

from collector.alerts import Transition, TransitionKind
from collector.ingest.points import Point
from warmnet.registry import Fleet

ALERT_MEASUREMENT = "alert"

# What operators see on a chart; suppress/unsuppress/update are noise there.
CHARTED = {
    TransitionKind.FIRE,
    TransitionKind.RESOLVE,
    TransitionKind.REOPEN,
    TransitionKind.ACTION,
}


def alert_point(fleet: Fleet, t: Transition) -> Point | None:
    station = fleet.station(t.key.station)
    if station is None or t.kind not in CHARTED:
        return None
    return Point(
        ALERT_MEASUREMENT,
        t.key.station,
        t.key.device or "-",  # "-": the station itself
        station.area,
        t.at_ms,
        {
            "alert_id": t.alert_id,
            # Always a string: one field, one type, whatever the rule measures.
            "value": "" if t.value is None else str(t.value),
            "detail": t.detail,
            "command": t.command.value if t.command else "",
        },
        # Bounded tags: rule ids, 5 severities, 4 kinds.
        (("rule", t.key.rule), ("severity", t.severity.value), ("transition", t.kind.value)),
    )


class AlertSeriesSink:
    def __init__(self, fleet: Fleet, write: Callable[[Sequence[Point]], None]) -> None:
        self._fleet = fleet
        self._write = write

    def handle(self, transitions: Sequence[Transition]) -> None:
        points = [p for t in transitions if (p := alert_point(self._fleet, t)) is not None]
        if points:
            self._write(points)
