"""Alert transitions become notifications: names and areas from the registry, titles
from the rules; suppress/unsuppress/action are not news; silenced alerts are marked."""

from notify_support import AT_MS, Receiver, config

from collector.alerts import AlertKey, Transition, TransitionKind, load_rules
from collector.notify import Event, Notification, Notifier, NotifySink, titles_from_rules
from testbed.services import wait_for
from warmnet.messages import CommandName
from warmnet.registry import load_fleet
from warmnet.severity import Severity

FLEET = load_fleet()
TITLES = titles_from_rules(load_rules().rules)
KEY = AlertKey("outlet-socket-overheat", "wmq-01", "outlet-01")


def transition(kind: TransitionKind, key: AlertKey = KEY, **kw: object) -> Transition:
    fields: dict[str, object] = {
        "kind": kind,
        "alert_id": f"{key}@{AT_MS}",
        "key": key,
        "severity": Severity.CRITICAL,
        "at_ms": AT_MS,
        "value": 71.5,
        "detail": "temp_c 71.5 >= 70",
    }
    fields.update(kw)
    return Transition(**fields)  # type: ignore[arg-type]


class Recorder:
    def __init__(self) -> None:
        self.got: list[Notification] = []

    def submit(self, n: Notification) -> int:
        self.got.append(n)
        return 1


def test_transitions_become_notifications() -> None:
    rec = Recorder()
    sink = NotifySink(rec, FLEET, TITLES)
    sink.handle(
        [
            transition(TransitionKind.FIRE),
            transition(TransitionKind.ACTION, command=CommandName.CUT_POWER),
            transition(TransitionKind.UPDATE, value=72.0),
            transition(TransitionKind.SUPPRESS),
            transition(TransitionKind.UNSUPPRESS),
            transition(TransitionKind.RESOLVE),
            transition(TransitionKind.REOPEN),
        ]
    )
    assert [n.event for n in rec.got] == [
        Event.FIRED,
        Event.UPDATED,
        Event.RESOLVED,
        Event.REOPENED,
    ]
    n = rec.got[0]
    station = FLEET.station("wmq-01")
    assert station is not None
    assert (n.station, n.device, n.rule) == ("wmq-01", "outlet-01", "outlet-socket-overheat")
    assert (n.station_name_zh, n.station_name_en, n.area) == (
        station.name_zh,
        station.name_en,
        station.area,
    )
    assert n.title_zh == "充电插座过热（已请求断电）"
    assert n.severity.value == "critical" and n.value == 71.5 and n.at_ms == AT_MS
    assert not n.silenced


def test_station_alerts_unknown_stations_and_silencing() -> None:
    rec = Recorder()
    sink = NotifySink(rec, FLEET, TITLES, is_silenced=lambda t: t.key.station == "wmq-02")
    sink.handle(
        [
            transition(TransitionKind.FIRE, AlertKey("station-offline", "wmq-01")),
            transition(TransitionKind.FIRE, AlertKey("no-such-rule", "zz-99", "d")),
            transition(TransitionKind.FIRE, AlertKey("station-offline", "wmq-02")),
        ]
    )
    station_alert, unknown, silenced = rec.got
    assert station_alert.device is None and station_alert.title_zh == TITLES["station-offline"][0]
    assert (unknown.station_name_zh, unknown.area, unknown.title_en) == (
        "zz-99",
        "",
        "no-such-rule",
    )
    assert silenced.silenced and not station_alert.silenced


def test_from_transition_to_a_wecom_robot(receiver: Receiver) -> None:
    target = {"name": "crew", "type": "wecom", "url": receiver.url("/send", "key=k")}
    with Notifier(config(target), timezone=FLEET.timezone) as notifier:
        NotifySink(notifier, FLEET, TITLES).handle([transition(TransitionKind.FIRE)])
        wait_for(lambda: receiver.count("ok") == 1, timeout=5)
    content = receiver.requests[0].json()["markdown"]["content"]
    station = FLEET.station("wmq-01")
    assert station is not None
    assert f"{station.name_zh}（wmq-01）" in content
    assert "充电插座过热" in content and "outlet-01" in content and "71.5" in content
