"""Between the alert engine and the shared alert store: transitions are recorded (one
transaction per batch) and then notified; crew actions and rider reports flow back
from the store into the engine.

Notifications go out only for what the store really applied: a replay after a
restart (`applied` False) or a silenced subject notifies nobody.
"""

import logging
from collections.abc import Sequence

from alertstore import AlertStore, EngineRecord, ManualAction
from collector.alerts import AlertKey, Input, RiderReportInput, RuleSet, Transition, TransitionKind
from collector.alerts.runner import AlertEngineRunner
from collector.notify import Event, Notification, Notifier, from_transition, titles_from_rules
from warmnet.registry import Fleet
from warmnet.severity import Severity

log = logging.getLogger(__name__)


class AlertStoreSink:
    def __init__(
        self, store: AlertStore, rules: RuleSet, fleet: Fleet, notifier: Notifier | None
    ) -> None:
        self._store = store
        self._rules = rules
        self._fleet = fleet
        self._notifier = notifier
        self._titles = titles_from_rules(rules.rules)

    def handle(self, transitions: Sequence[Transition]) -> None:
        kept = [t for t in transitions if t.kind is not TransitionKind.ACTION]
        if not kept:
            return
        records = []
        for t in kept:
            rule = self._rules.by_id.get(t.key.rule)
            records.append(
                EngineRecord(
                    kind=t.kind.value,
                    alert_id=t.alert_id,
                    rule=t.key.rule,
                    station=t.key.station,
                    device=t.key.device,
                    severity=t.severity.value,
                    at_ms=t.at_ms,
                    value=t.value,
                    detail=t.detail,
                    title_zh=rule.description.zh if rule else t.key.rule,
                    title_en=rule.description.en if rule else t.key.rule,
                )
            )
        results = self._store.record_engine_batch(records)
        if self._notifier is None:
            return
        for t, result in zip(kept, results, strict=True):
            if not result.applied or result.silenced:
                continue
            note = from_transition(t, self._fleet.station(t.key.station), self._titles)
            if note is not None:
                self._notifier.submit(note)


class StoreFeed:
    """Polled once per engine tick: crew resolves/acknowledgements go into the engine
    (so a crew-resolved alert's timers restart) and out to the crews' groups ("Alice
    took it"), rider reports become inputs. The cursors are saved with the engine
    state, so a restart repeats and loses nothing."""

    def __init__(
        self,
        store: AlertStore,
        runner: AlertEngineRunner,
        fleet: Fleet,
        notifier: Notifier | None = None,
    ) -> None:
        self._store = store
        self._runner = runner
        self._fleet = fleet
        self._notifier = notifier

    def poll(self) -> list[Input]:
        cursors = self._runner.cursors
        for m in self._store.pending_manual(cursors.get("manual", 0)):
            key = AlertKey(m.rule, m.station, m.device)
            if self._runner.manual(key, m.alert_id, m.action):
                self._notify_crew_action(m)
            cursors["manual"] = m.seq
        inputs: list[Input] = []
        for r in self._store.take_reports(cursors.get("report", 0)):
            inputs.append(
                RiderReportInput(
                    r.station, r.category, r.at_ms, r.device, str(r.id), r.text or None
                )
            )
            cursors["report"] = r.id
        return inputs

    def _notify_crew_action(self, m: ManualAction) -> None:
        if self._notifier is None:
            return
        found = self._store.get(m.alert_id)
        station = self._fleet.station(m.station)
        if found is None or station is None or found.alert.silenced:
            return
        a = found.alert
        note = next((h.note for h in found.history if h.seq == m.seq), None)
        self._notifier.submit(
            Notification(
                event=Event.RESOLVED if m.action == "resolve" else Event.ACKNOWLEDGED,
                alert_id=a.id,
                rule=a.rule,
                severity=Severity(a.severity),
                station=a.station,
                station_name_zh=station.name_zh,
                station_name_en=station.name_en,
                area=station.area,
                device=a.device,
                title_zh=a.title_zh,
                title_en=a.title_en,
                at_ms=m.at_ms,
                value=a.value,
                detail=a.detail,
                who=m.who,
                note=note,
            )
        )
