"""Helpers for the alert-quality tests: play a scenario offline through the
collector's own classification and the real alert engine (default rules), apply the
engine's actions back to the simulated devices, and check a scenario's `expect:`.

Imported as `from scenario_support import ...` (tests/ has no __init__.py, so pytest
puts this folder on sys.path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from collector.alerts import (
    AlertKey,
    EngineState,
    EventInput,
    GatewayInput,
    Input,
    RuleSet,
    TelemetryInput,
    Tick,
    Transition,
    TransitionKind,
    evaluate,
    load_rules,
)
from collector.ingest.classify import Accepted, AcceptedEvent, GatewayUpdate, Rejected, classify
from simulators.expect import AlertMatch
from simulators.offline import Delivery, OfflinePlayer
from simulators.scenario import Scenario
from warmnet.registry import Fleet

MS = 1000
RAISING = (TransitionKind.FIRE, TransitionKind.REOPEN)


@dataclass
class Played:
    """What one offline run produced."""

    scenario: Scenario
    start_ms: int
    transitions: list[Transition] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)  # kept only when asked
    commands: list[tuple[int, AlertKey, str, bool, str]] = field(default_factory=list)
    rejected: int = 0
    readings: int = 0

    def offset_s(self, at_ms: int) -> float:
        return (at_ms - self.start_ms) / MS

    def raised(self) -> list[Transition]:
        return [t for t in self.transitions if t.kind in RAISING]

    def of(self, key: AlertKey) -> list[Transition]:
        return [t for t in self.transitions if t.key == key]

    def summary(self) -> list[str]:
        """Readable transitions for assertion messages."""
        return [
            f"+{self.offset_s(t.at_ms):.0f}s {t.kind.value} {t.key} {t.detail}"
            for t in self.transitions
        ]


def to_input(d: Delivery, fleet: Fleet) -> Input | None:
    """A delivery as the collector hands it to the engine (None: refused)."""
    outcome = classify(d.topic, d.payload, fleet)
    if isinstance(outcome, Accepted):
        spec = fleet.device(outcome.point.station, outcome.point.device)
        assert spec is not None
        return TelemetryInput(
            outcome.point.station, outcome.point.device, spec.kind, outcome.reading
        )
    if isinstance(outcome, AcceptedEvent):
        return EventInput(outcome.point.station, outcome.point.device, outcome.event)
    if isinstance(outcome, GatewayUpdate):
        return GatewayInput(outcome.station, outcome.status)
    assert isinstance(outcome, Rejected)
    return None


def play(
    scenario: Scenario,
    fleet: Fleet,
    *,
    rules: RuleSet | None = None,
    tick_ms: int = 15_000,
    keep: bool = False,
    apply_actions: bool = True,
) -> Played:
    """Run `scenario` offline through classify + the engine, `now` = arrival time,
    a Tick every `tick_ms` of simulated time, actions executed by the player."""
    rules = rules or load_rules()
    player = OfflinePlayer(scenario, fleet)
    owned = frozenset(player.stations)
    out = Played(scenario, player.start_ms)
    state = EngineState()
    next_tick = player.start_ms + tick_ms

    def step(inp: Input, now: int) -> None:
        nonlocal state
        state, transitions = evaluate(rules, fleet, state, inp, now)
        out.transitions += transitions
        for t in transitions:
            if apply_actions and t.kind is TransitionKind.ACTION:
                assert t.command is not None and t.key.device is not None
                ok, detail = player.command(t.key.station, t.key.device, t.command)
                out.commands.append((player.now_ms, t.key, t.command.value, ok, detail))

    for d in player.run():
        while next_tick <= d.at_ms:
            step(Tick(owned), next_tick)
            next_tick += tick_ms
        if keep:
            out.deliveries.append(d)
        inp = to_input(d, fleet)
        if inp is None:
            out.rejected += 1
            continue
        out.readings += isinstance(inp, TelemetryInput)
        step(inp, d.at_ms)
    while next_tick <= player.end_ms:
        step(Tick(owned), next_tick)
        next_tick += tick_ms
    return out


def _matches(m: AlertMatch, key: AlertKey) -> bool:
    return (
        m.rule == key.rule
        and (m.station is None or m.station == key.station)
        and (m.device is None or m.device == key.device)
    )


def check_expectations(played: Played) -> list[str]:
    """Problems with the scenario's `expect.alerts` / `allowed` / `other_alerts`."""
    expect = played.scenario.expect
    problems: list[str] = []
    expected_keys = set()
    for e in expect.alerts:
        key = AlertKey(e.rule, e.station, e.device)
        expected_keys.add(key)
        transitions = played.of(key)
        raised = [t for t in transitions if t.kind in RAISING]
        if len(raised) != 1:
            offsets = [played.offset_s(t.at_ms) for t in raised]
            problems.append(f"{key}: raised {len(raised)} times (at {offsets} s), expected once")
            if not raised:
                continue
        at = played.offset_s(raised[0].at_ms)
        if not e.after <= at <= e.by:
            problems.append(f"{key}: fired at {at:.0f} s, expected in [{e.after}, {e.by}] s")
        if e.resolved_by is not None:
            resolves = [t for t in transitions if t.kind is TransitionKind.RESOLVE]
            last_raise = raised[-1].at_ms
            late = [t for t in resolves if t.at_ms >= last_raise]
            if not late:
                problems.append(f"{key}: never resolved (expected by {e.resolved_by} s)")
            elif played.offset_s(late[0].at_ms) > e.resolved_by:
                problems.append(
                    f"{key}: resolved at {played.offset_s(late[0].at_ms):.0f} s,"
                    f" expected by {e.resolved_by} s"
                )
    if expect.other_alerts == "none":
        for t in played.raised():
            if t.key in expected_keys or any(_matches(m, t.key) for m in expect.allowed):
                continue
            problems.append(
                f"unexpected {t.kind.value} {t.key} at {played.offset_s(t.at_ms):.0f} s: {t.detail}"
            )
    return problems


def payload(d: Delivery) -> dict[str, object]:
    return json.loads(d.payload)


# --- live runs (real broker) --------------------------------------------------------


def renamed_fleet(ids: list[str], templates: tuple[str, ...]) -> Fleet:
    """The first network's `templates` stations under unique ids (tests share a broker)."""
    from warmnet.registry import load_fleet, parse_fleet

    data = load_fleet().model_dump(mode="json")
    data["stations"] = [s for s in data["stations"] if s["id"] in templates]
    for station, sid in zip(data["stations"], ids, strict=True):
        station["id"] = sid
    return parse_fleet(data)


class Recorder:
    """Every message under some filters: (topic, payload) in arrival order."""

    def __init__(self, url: str, client_id: str, filters: list[str]) -> None:
        import threading

        from simulators.sink import parse_mqtt_url
        from warmnet.mqtt import connect, new_client

        self._lock = threading.Lock()
        self.messages: list[tuple[str, bytes]] = []
        subscribed = threading.Event()
        self.client = new_client(parse_mqtt_url(url), client_id)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: subscribed.set()
        connect(self.client, parse_mqtt_url(url))
        self.client.subscribe([(f, 1) for f in filters])
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, _c: object, _u: object, msg: object) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))  # type: ignore[attr-defined]

    def json(self, suffix: str) -> list[tuple[str, dict[str, object]]]:
        with self._lock:
            got = list(self.messages)
        return [(t, json.loads(p)) for t, p in got if t.endswith(suffix) and p]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def clear_retained(url: str, client_id: str, retained_topics: list[str]) -> None:
    """Empty retained payloads: the shared broker forgets what a test left."""
    from simulators.sink import parse_mqtt_url
    from warmnet.mqtt import connect, new_client

    client = new_client(parse_mqtt_url(url), client_id)
    connect(client, parse_mqtt_url(url))
    infos = [client.publish(t, b"", qos=1, retain=True) for t in retained_topics]
    for info in infos:
        info.wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
