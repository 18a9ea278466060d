"""The store's API fits the real engine: a rider report goes through the inbox into
`evaluate`, the alert into the store, a crew resolve back through `pending_manual`
into `apply_manual`, and the next report reopens the same alert. (The collector's own
wiring is tested with the collector; this pins the contract between the two.)"""

from __future__ import annotations

from alertstore import AlertStore, EngineRecord, Status
from collector.alerts import (
    AlertKey,
    EngineState,
    RiderReportInput,
    RuleSet,
    Transition,
    TransitionKind,
    apply_manual,
    evaluate,
    load_rules,
)
from warmnet.clock import FakeClock
from warmnet.registry import load_fleet


def _records(rules: RuleSet, transitions: list[Transition]) -> list[EngineRecord]:
    out = []
    for t in transitions:
        if t.kind is TransitionKind.ACTION:
            continue
        rule = rules.by_id.get(t.key.rule)
        out.append(
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
    return out


def test_report_alert_crew_resolve_and_reopen(store: AlertStore, clock: FakeClock) -> None:
    rules, fleet = load_rules(), load_fleet()
    state = EngineState()
    report_cursor = manual_cursor = 0

    def collector_tick() -> list[str]:
        nonlocal state, report_cursor, manual_cursor
        kinds: list[str] = []
        now = clock.now_ms()
        for m in store.pending_manual(manual_cursor):
            key = AlertKey(m.rule, m.station, m.device)
            state = apply_manual(state, key, m.action, m.at_ms, rules=rules, fleet=fleet)
            manual_cursor = m.seq
        for r in store.take_reports(report_cursor):
            inp = RiderReportInput(r.station, r.category, r.at_ms, r.device, str(r.id), r.text)
            state, transitions = evaluate(rules, fleet, state, inp, now)
            done = store.record_engine_batch(_records(rules, transitions))
            kinds += [t.kind.value for t, d in zip(transitions, done, strict=True) if d.applied]
            report_cursor = r.id
        return kinds

    store.add_report("wmq-01", "outlet-03", "sparks", "插座冒火花", "k1", clock.now_ms())
    assert collector_tick() == ["fire"]
    [alert] = store.list_alerts()
    assert (alert.rule, alert.device, alert.severity.value) == (
        "rider-report-danger", "outlet-03", "critical",
    )  # fmt: skip
    assert alert.title_en == "Rider reports danger: smoke, burning, sparks"

    clock.advance(600)
    store.resolve(alert.id, "bob", "socket replaced")
    assert collector_tick() == []  # the engine learnt of it: its alert is resolved
    st = state.stations["wmq-01"]
    assert not any(a.active for a in st.alerts.values())

    clock.advance(60)
    store.add_report("wmq-01", "outlet-03", "burning_smell", "", "k2", clock.now_ms())
    assert collector_tick() == ["reopen"]
    d = store.get(alert.id)
    assert d is not None and d.alert.status is Status.FIRING and d.alert.reopen_count == 1
    assert [h.action.value for h in d.history] == ["fire", "resolve", "reopen"]
