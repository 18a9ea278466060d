"""The alert engine's pure core: rules as data, evaluation, state that survives a restart.

The collector service feeds inputs and a time to `evaluate`, keeps the returned state
(saving `state.to_json()` now and then), and hands the transitions to the alert store,
the notifier and the command publisher. Nothing here does I/O or reads a clock.
"""

from collector.alerts.engine import ManualAction, apply_manual, evaluate
from collector.alerts.model import (
    AlertKey,
    EventInput,
    GatewayInput,
    Input,
    RiderReportInput,
    Subject,
    TelemetryInput,
    Tick,
    Transition,
    TransitionKind,
)
from collector.alerts.rules import Rule, RulesError, RuleSet, load_rules, parse_rules
from collector.alerts.state import Alert, EngineState, StateError
from warmnet.severity import Severity

__all__ = [
    "Alert",
    "AlertKey",
    "EngineState",
    "EventInput",
    "GatewayInput",
    "Input",
    "ManualAction",
    "RiderReportInput",
    "Rule",
    "RuleSet",
    "RulesError",
    "Severity",
    "StateError",
    "Subject",
    "TelemetryInput",
    "Tick",
    "Transition",
    "TransitionKind",
    "apply_manual",
    "evaluate",
    "load_rules",
    "parse_rules",
]
