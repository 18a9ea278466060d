"""Between the alert engine and the shared alert store: transitions are recorded (one
transaction per batch) and then notified; crew actions and rider reports flow back
from the store into the engine.

Notifications go out only for what the store really applied: a replay after a
restart (`applied` False) or a silenced subject notifies nobody.
"""

import logging
from collections.abc import Sequence

from collector.alerting import AlertEngineRunner
from collector.alerts import AlertKey, Input, RiderReportInput, RuleSet, Transition, TransitionKind
from collector.notify import Notifier, from_transition, titles_from_rules
from warmnet.alertstore import AlertStore, EngineRecord
from warmnet.registry import Fleet

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
    (so a crew-resolved alert's timers restart), rider reports become inputs. The
    cursors are saved with the engine state, so a restart repeats and loses nothing."""

    def __init__(self, store: AlertStore, runner: AlertEngineRunner) -> None:
        self._store = store
        self._runner = runner

    def poll(self) -> list[Input]:
        cursors = self._runner.cursors
        for m in self._store.pending_manual(cursors.get("manual", 0)):
            self._runner.manual(AlertKey(m.rule, m.station, m.device), m.alert_id, m.action)
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
