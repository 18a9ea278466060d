"""The uplink without a broker: a fake paho client (the client factory is the seam),
a fake clock for message ages and a fake monotonic clock for rates, the gateway
thread's steps driven one `run_once(0)` at a time.

Checked: the window bounds unacknowledged publishes and PUBACKs feed more; a message
leaves the outbox only on its PUBACK; every (re)connect is a new session with its
own will and republishes everything unacknowledged in order; old messages go out
flagged historical, rate-limited, after live ones; refusals back off."""

import json
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import TypeAdapter

from gateway.outbox import Envelope, MemoryOutbox
from gateway.state import StateStore
from gateway.uplink import Uplink, UplinkConfig
from warmnet.clock import FakeClock
from warmnet.messages import GatewayState, parse_gateway_status
from warmnet.settings import MqttUrl
from warmnet.topics import Channel

URL = TypeAdapter(MqttUrl).validate_python("mqtt://broker.invalid:1883")
STATUS = "warm/v1/st-1/gateway/status"


class FakeClient:
    """Just enough of paho's Client for the uplink; the test plays the broker."""

    def __init__(self, net: "FakeNet", client_id: str) -> None:
        self.net = net
        self.client_id = client_id
        self.userdata: Any = None
        self.will: tuple[str, bytes] | None = None
        self.published: list[tuple[int, str, bytes, bool]] = []
        self.subscribed: list[str] = []
        self.clean_disconnect = False
        self._mid = 0
        self.on_connect: Any = None
        self.on_disconnect: Any = None
        self.on_publish: Any = None
        self.on_message: Any = None

    def user_data_set(self, userdata: Any) -> None:
        self.userdata = userdata

    def max_inflight_messages_set(self, n: int) -> None:
        pass

    def max_queued_messages_set(self, n: int) -> None:
        pass

    def will_set(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.will = (topic, payload)

    def connect(self, host: str, port: int, keepalive: int) -> None:
        if self.net.refuse_tcp:
            raise ConnectionRefusedError(111, "Connection refused")

    def loop_start(self) -> None:
        pass

    def loop_stop(self) -> None:
        pass

    def disconnect(self) -> None:
        self.clean_disconnect = True

    def subscribe(self, topic: str, qos: int) -> None:
        self.subscribed.append(topic)

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        self._mid += 1
        self.published.append((self._mid, topic, payload, retain))
        info = mqtt.MQTTMessageInfo(self._mid)
        info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        return info

    # -- the broker's side

    def connack(self, ok: bool = True) -> None:
        rc = ReasonCode(PacketTypes.CONNACK, "Success" if ok else "Not authorized")
        self.on_connect(self, self.userdata, mqtt.ConnectFlags(False), rc, None)

    def puback(self, mid: int) -> None:
        rc = ReasonCode(PacketTypes.PUBACK, "Success")
        self.on_publish(self, self.userdata, mid, rc, None)

    def drop(self) -> None:
        rc = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
        self.on_disconnect(self, self.userdata, mqtt.DisconnectFlags(False), rc, None)

    def data(self) -> list[tuple[int, str, dict[str, Any]]]:
        return [(m, t, json.loads(p)) for m, t, p, _ in self.published if t != STATUS]


class FakeNet:
    def __init__(self) -> None:
        self.clients: list[FakeClient] = []
        self.refuse_tcp = False

    def factory(self, url: MqttUrl, client_id: str) -> mqtt.Client:
        client = FakeClient(self, client_id)
        self.clients.append(client)
        return client  # type: ignore[return-value]

    @property
    def last(self) -> FakeClient:
        return self.clients[-1]


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    window: int = 10, drain_rate: float = 10.0
) -> tuple[Uplink, MemoryOutbox, FakeNet, FakeClock, Ticker]:
    outbox, net, clock, ticker = MemoryOutbox(), FakeNet(), FakeClock(), Ticker()
    config = UplinkConfig(
        url=URL,
        client_id="gw-st-1",
        station="st-1",
        freshness_ms=120_000,
        drain_rate=drain_rate,
        window=window,
        heartbeat_s=30.0,
        reconnect_min_s=1.0,
        reconnect_max_s=4.0,
    )
    uplink = Uplink(
        config, outbox, StateStore(None), clock, client_factory=net.factory, monotonic=ticker
    )
    return uplink, outbox, net, clock, ticker


def put(outbox: MemoryOutbox, clock: FakeClock, device: str, seq: int) -> int:
    payload = json.dumps({"ts": clock.now_ms(), "seq": seq}).encode()
    topic = f"warm/v1/st-1/{device}/telemetry"
    msg_id = outbox.put(Envelope(device, Channel.TELEMETRY, seq, topic, payload, clock.now_ms()))
    assert msg_id is not None
    return msg_id


def connect(uplink: Uplink, net: FakeNet) -> FakeClient:
    uplink.run_once(0)  # due: opens a client (a new session)
    client = net.last
    client.connack()
    uplink.run_once(0)
    assert uplink.online
    return client


def test_window_bounds_unacked_and_pubacks_feed_more() -> None:
    uplink, outbox, net, clock, _ = make(window=10)
    for seq in range(25):
        put(outbox, clock, "a", seq)
    client = connect(uplink, net)
    assert [b["seq"] for _, _, b in client.data()] == list(range(10))
    assert client.subscribed == ["warm/v1/st-1/+/command"]
    uplink.run_once(0)
    assert len(client.data()) == 10  # nothing more until PUBACKs
    for mid, _, _ in client.data()[:4]:
        client.puback(mid)
    uplink.run_once(0)
    assert [b["seq"] for _, _, b in client.data()] == list(range(14))
    assert outbox.stats().depth == 21  # only the acknowledged left the outbox
    assert uplink.stats().inflight == 10


def test_every_reconnect_is_a_new_session_that_republishes_in_order() -> None:
    uplink, outbox, net, clock, ticker = make(window=10)
    for seq in range(6):
        put(outbox, clock, "a", seq)
    first = connect(uplink, net)
    status = parse_gateway_status(first.published[0][2])
    assert (status.state, status.session) == (GatewayState.ONLINE, uplink.session)
    assert first.will is not None
    will = parse_gateway_status(first.will[1])
    assert (will.state, will.session) == (GatewayState.OFFLINE, status.session)
    for mid, _, _ in first.data()[:2]:
        first.puback(mid)
    first.drop()
    uplink.run_once(0)
    assert not uplink.online
    net.refuse_tcp = True
    ticker.now += 1.0
    uplink.run_once(0)  # refused at TCP level: next try later, with a longer delay
    assert len(net.clients) == 2
    ticker.now += 1.5
    uplink.run_once(0)
    assert len(net.clients) == 2  # backoff: 2 s now
    net.refuse_tcp = False
    ticker.now += 0.5
    second = connect(uplink, net)
    assert len(net.clients) == 3
    assert second.will is not None
    sessions = [parse_gateway_status(c.will[1]).session for c in net.clients if c.will]
    assert sessions == sorted(set(sessions))  # every attempt a new, larger session
    assert [b["seq"] for _, _, b in second.data()] == [2, 3, 4, 5]  # the unacknowledged
    first.puback(first.data()[2][0])  # a late ack of the old connection: ignored
    uplink.run_once(0)
    assert outbox.stats().depth == 4
    assert uplink.reconnects == 1


def test_refused_connack_backs_off_and_retries() -> None:
    uplink, _, net, _, ticker = make()
    uplink.run_once(0)
    net.last.connack(ok=False)
    uplink.run_once(0)
    assert not uplink.online and len(net.clients) == 1
    ticker.now += 1.0
    connect(uplink, net)
    assert len(net.clients) == 2


def test_backlog_is_historical_rate_limited_and_live_goes_first() -> None:
    uplink, outbox, net, clock, ticker = make(window=50, drain_rate=10.0)
    for seq in range(20):
        put(outbox, clock, "a", seq)
    clock.advance(600)  # ten minutes later the link comes back
    put(outbox, clock, "a", 20)
    put(outbox, clock, "b", 0)
    client = connect(uplink, net)
    sent = [(t.split("/")[3], b["seq"], b.get("historical", False)) for _, t, b in client.data()]
    # Live first; then the backlog, up to the bucket's burst (0.2 s at 10/s = 2).
    assert sent == [("a", 20, False), ("b", 0, False), ("a", 0, True), ("a", 1, True)]
    ticker.now += 1.0
    uplink.run_once(0)
    assert [b["seq"] for _, _, b in client.data()[4:]] == [2, 3]  # burst-capped
    for _ in range(10):
        ticker.now += 0.1
        uplink.run_once(0)
    backlog = [b for _, _, b in client.data() if b.get("historical")]
    assert [b["seq"] for b in backlog] == list(range(len(backlog)))  # in order
    assert 12 <= len(backlog) <= 14  # about 10/s
    # A message that was live when sent and is never acknowledged goes out again after
    # a reconnect, now historical.
    client.drop()
    uplink.run_once(0)
    ticker.now += 1.0
    clock.advance(600)
    again = connect(uplink, net)
    assert all(b["historical"] for _, _, b in again.data())
