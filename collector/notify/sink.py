"""From alert transitions to notifications: the collector's `TransitionSink`.

Only the alert engine's plain model types are used (`collector.alerts.model`); rule
titles come in as a mapping built by the caller (`titles_from_rules(rules)`), names and
areas from the fleet registry.
"""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from collector.alerts.model import Transition, TransitionKind
from collector.notify.model import Event, Notification
from warmnet.registry import Fleet, Station
from warmnet.severity import Severity

log = logging.getLogger(__name__)

EVENTS = {
    TransitionKind.FIRE: Event.FIRED,
    TransitionKind.UPDATE: Event.UPDATED,
    TransitionKind.RESOLVE: Event.RESOLVED,
    TransitionKind.REOPEN: Event.REOPENED,
}  # suppress / unsuppress / action are not news for crews


class _Text(Protocol):
    @property
    def zh(self) -> str: ...
    @property
    def en(self) -> str: ...


class _Rule(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def description(self) -> _Text: ...


class Submits(Protocol):
    def submit(self, n: Notification) -> int: ...


def titles_from_rules(rules: Iterable[_Rule]) -> dict[str, tuple[str, str]]:
    """{rule id: (zh, en)} from the rules: `titles_from_rules(rule_set.rules)`."""
    return {r.id: (r.description.zh, r.description.en) for r in rules}


def from_transition(
    t: Transition,
    station: Station | None,
    titles: Mapping[str, tuple[str, str]],
    *,
    silenced: bool = False,
) -> Notification | None:
    """The notification for a transition, or None when crews need not hear of it."""
    event = EVENTS.get(t.kind)
    if event is None:
        return None
    zh, en = titles.get(t.key.rule, (t.key.rule, t.key.rule))
    return Notification(
        event=event,
        alert_id=t.alert_id,
        rule=t.key.rule,
        severity=Severity(t.severity.value),
        station=t.key.station,
        station_name_zh=station.name_zh if station else t.key.station,
        station_name_en=station.name_en if station else t.key.station,
        area=station.area if station else "",
        device=t.key.device,
        title_zh=zh,
        title_en=en,
        at_ms=t.at_ms,
        value=t.value,
        detail=t.detail,
        silenced=silenced,
    )


class NotifySink:
    """`handle(transitions)` builds notifications and submits them (never blocks).

    `is_silenced(transition)` says whether crews muted the alert (e.g. in the alert
    store); silenced alerts are counted by the notifier, not sent."""

    def __init__(
        self,
        notifier: Submits,
        fleet: Fleet,
        titles: Mapping[str, tuple[str, str]],
        *,
        is_silenced: Callable[[Transition], bool] | None = None,
    ) -> None:
        self._notifier = notifier
        self._fleet = fleet
        self._titles = titles
        self._is_silenced = is_silenced

    def handle(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            if t.kind not in EVENTS:
                continue
            silenced = self._is_silenced(t) if self._is_silenced is not None else False
            n = from_transition(
                t, self._fleet.station(t.key.station), self._titles, silenced=silenced
            )
            if n is not None:
                self._notifier.submit(n)
