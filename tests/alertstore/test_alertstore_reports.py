"""The rider reports inbox: validation, the collector's cursor, rate limits; and the
category vocabulary kept in step with collector/rules.yaml."""

from __future__ import annotations

import pytest
from alertstore_support import T0

from alertstore import REPORT_CATEGORIES, AlertStore, RateLimitedError, ReportLimits
from collector.alerts import load_rules
from collector.alerts.rules import RiderReportRule


def test_add_and_take_in_order(store: AlertStore) -> None:
    a = store.add_report("wmq-01", "heater-1", "no_hot_water", " cold ", "k1", T0)
    b = store.add_report("wmq-02", None, "dirty", "", "k2", T0 + 1)
    assert b > a
    got = store.take_reports(0)
    assert [(r.id, r.station, r.device, r.category, r.text, r.at_ms) for r in got] == [
        (a, "wmq-01", "heater-1", "no_hot_water", "cold", T0),
        (b, "wmq-02", None, "dirty", "", T0 + 1),
    ]
    assert [r.id for r in store.take_reports(a)] == [b]
    assert store.take_reports(b) == []
    assert [r.id for r in store.list_reports()] == [b, a]  # operators: newest first
    assert [r.id for r in store.list_reports(station="wmq-01")] == [a]


@pytest.mark.parametrize(
    ("station", "category", "text"),
    [("wmq-01", "fire!", ""), ("wmq-01", "dirty", "x" * 201), ("WMQ/1", "dirty", "")],
)
def test_invalid_reports_are_refused(
    store: AlertStore, station: str, category: str, text: str
) -> None:
    with pytest.raises(ValueError):
        store.add_report(station, None, category, text, "k", T0)
    assert store.take_reports(0) == []


def test_rate_limit_per_client_with_retry_after(store: AlertStore) -> None:
    limits = ReportLimits(per_client=3, per_ip=None, window_ms=600_000)
    for i in range(3):
        store.add_report("wmq-01", None, "dirty", "", "k1", T0 + i * 1000, limits=limits)
    with pytest.raises(RateLimitedError) as caught:
        store.add_report("wmq-01", None, "dirty", "", "k1", T0 + 5000, limits=limits)
    # The first report leaves the window at T0 + 600 s.
    assert caught.value.retry_after_ms == 600_000 - 5000
    store.add_report("wmq-01", None, "dirty", "", "k2", T0 + 5000, limits=limits)  # other client
    store.add_report("wmq-01", None, "dirty", "", "k1", T0 + 600_001, limits=limits)
    assert len(store.take_reports(0)) == 5


def test_rate_limit_per_ip_catches_rotating_client_ids(store: AlertStore) -> None:
    limits = ReportLimits(per_client=5, per_ip=4, window_ms=600_000)
    for i in range(4):
        store.add_report(
            "wmq-01", None, "other", "", f"id-{i}", T0, ip_key_hash="ip", limits=limits
        )
    with pytest.raises(RateLimitedError, match="network address"):
        store.add_report("wmq-01", None, "other", "", "id-9", T0, ip_key_hash="ip", limits=limits)


def test_categories_match_the_rider_report_rules() -> None:
    """Every category the API accepts reaches a rule, and no rule waits for a category
    riders cannot send."""
    rules = load_rules().of_type(RiderReportRule)
    routed = {c for r in rules for c in r.categories}
    catch_all = any(not r.categories for r in rules)
    assert catch_all or set(REPORT_CATEGORIES) <= routed, set(REPORT_CATEGORIES) - routed
    assert routed <= set(REPORT_CATEGORIES), routed - set(REPORT_CATEGORIES)
