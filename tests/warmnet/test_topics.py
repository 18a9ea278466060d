"""Topic builders never let a bad id into a topic; the parser accepts exactly the
warmnet topics and says why it refuses anything else."""

from collections.abc import Callable

import pytest

from warmnet import topics
from warmnet.ids import InvalidIdError, check_id
from warmnet.topics import Channel, Topic, TopicError

BAD_IDS = [
    pytest.param("WMQ-01", id="uppercase"),
    pytest.param("wmq/01", id="slash"),
    pytest.param("wmq+01", id="plus"),
    pytest.param("wmq#01", id="hash"),
    pytest.param("+", id="lone-plus"),
    pytest.param("#", id="lone-hash"),
    pytest.param("wmq 01", id="space"),
    pytest.param("", id="empty"),
    pytest.param("a" * 33, id="33-chars"),
    pytest.param("wmq_01", id="underscore"),
    pytest.param("wmq.01", id="dot"),
    pytest.param("驿站", id="cjk"),
    pytest.param("café", id="accented"),
    pytest.param("ｗｍｑ", id="fullwidth"),
    pytest.param("٣", id="arabic-digit"),
]

DEVICE_BUILDERS = [topics.telemetry, topics.event, topics.command]
STATION_BUILDERS = [topics.gateway_status, topics.availability]


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (topics.telemetry("wmq-01", "outlet-01"), "warm/v1/wmq-01/outlet-01/telemetry"),
        (topics.event("wmq-01", "heater-1"), "warm/v1/wmq-01/heater-1/event"),
        (topics.command("wmq-01", "outlet-01"), "warm/v1/wmq-01/outlet-01/command"),
        (topics.gateway_status("wmq-01"), "warm/v1/wmq-01/gateway/status"),
        (topics.availability("wmq-01"), "warm/v1/wmq-01/availability"),
    ],
)
def test_builders_follow_the_contract(topic: str, expected: str) -> None:
    assert topic == expected


@pytest.mark.parametrize("ident", ["a", "0", "-", "a" * 32, "wmq-36", "s00042"])
def test_ids_of_1_to_32_lowercase_digits_and_dashes_are_accepted(ident: str) -> None:
    assert topics.telemetry(ident, ident) == f"warm/v1/{ident}/{ident}/telemetry"


@pytest.mark.parametrize("build", DEVICE_BUILDERS)
@pytest.mark.parametrize("bad", BAD_IDS)
def test_device_builders_reject_bad_station_and_device_ids(
    build: Callable[[str, str], str], bad: str
) -> None:
    with pytest.raises(InvalidIdError, match="invalid station id"):
        build(bad, "outlet-01")
    with pytest.raises(InvalidIdError, match="invalid device id"):
        build("wmq-01", bad)


@pytest.mark.parametrize("build", STATION_BUILDERS)
@pytest.mark.parametrize("bad", BAD_IDS)
def test_station_builders_reject_bad_station_ids(build: Callable[[str], str], bad: str) -> None:
    with pytest.raises(InvalidIdError, match=r"must match \[a-z0-9-\]\{1,32\}"):
        build(bad)


@pytest.mark.parametrize("build", DEVICE_BUILDERS)
def test_device_id_gateway_is_reserved(build: Callable[[str, str], str]) -> None:
    with pytest.raises(InvalidIdError, match="reserved"):
        build("wmq-01", "gateway")


def test_trailing_newline_is_not_a_valid_id() -> None:
    with pytest.raises(InvalidIdError):
        topics.telemetry("wmq-01", "outlet-01\n")
    with pytest.raises(TopicError):
        topics.parse("warm/v1/wmq-01\n/outlet-01/telemetry")


def test_check_id_error_names_what_was_checked() -> None:
    with pytest.raises(InvalidIdError, match="invalid device id 'Outlet'"):
        check_id("Outlet", "device id")


def test_invalid_id_error_is_a_value_error() -> None:
    # Callers validating user input can catch ValueError.
    assert issubclass(InvalidIdError, ValueError)
    assert issubclass(TopicError, ValueError)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (topics.telemetry("wmq-01", "outlet-01"), Topic("wmq-01", Channel.TELEMETRY, "outlet-01")),
        (topics.event("wmq-02", "heater-1"), Topic("wmq-02", Channel.EVENT, "heater-1")),
        (topics.command("wmq-03", "outlet-12"), Topic("wmq-03", Channel.COMMAND, "outlet-12")),
        (topics.gateway_status("wmq-04"), Topic("wmq-04", Channel.GATEWAY_STATUS)),
        (topics.availability("wmq-05"), Topic("wmq-05", Channel.AVAILABILITY)),
    ],
)
def test_parse_round_trips_every_builder(topic: str, expected: Topic) -> None:
    parsed = topics.parse(topic)

    assert parsed == expected
    assert str(parsed) == topic


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        ("foo/bar", "not a warm/v1 topic"),
        ("", "not a warm/v1 topic"),
        ("warm/v1/wmq-01", "not a warm/v1 topic"),
        ("warm/v2/wmq-01/outlet-01/telemetry", "not a warm/v1 topic"),
        ("/warm/v1/wmq-01/outlet-01/telemetry", "not a warm/v1 topic"),
        ("warm/v1/WMQ/x/telemetry", "invalid station id 'WMQ'"),
        ("warm/v1//outlet-01/telemetry", "invalid station id ''"),
        ("warm/v1/wmq-01/+/telemetry", "invalid device id '+'"),
        ("warm/v1/wmq-01/Outlet-01/telemetry", "invalid device id 'Outlet-01'"),
        ("warm/v1/wmq-01/gateway/telemetry", "device id 'gateway' is reserved"),
        ("warm/v1/wmq-01/outlet-01/telemetry/extra", "unknown warmnet topic shape"),
        ("warm/v1/wmq-01/outlet-01/telemetry/", "unknown warmnet topic shape"),
        ("warm/v1/wmq-01/outlet-01/status", "unknown warmnet topic shape"),
        ("warm/v1/wmq-01/gateway/status/x", "unknown warmnet topic shape"),
        ("warm/v1/wmq-01/gateway", "unknown warmnet topic shape"),
        ("warm/v1/wmq-01/outlet-01/availability", "unknown warmnet topic shape"),
    ],
)
def test_parse_rejects_foreign_and_malformed_topics_saying_why(topic: str, why: str) -> None:
    with pytest.raises(TopicError) as info:
        topics.parse(topic)

    assert why in str(info.value)
    assert repr(topic) in str(info.value)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (Channel.TELEMETRY, "warm/v1/wmq-07/+/telemetry"),
        (Channel.EVENT, "warm/v1/wmq-07/+/event"),
        (Channel.GATEWAY_STATUS, "warm/v1/wmq-07/gateway/status"),
        (Channel.AVAILABILITY, "warm/v1/wmq-07/availability"),
    ],
)
def test_station_filter_matches_one_station_channel(channel: Channel, expected: str) -> None:
    assert topics.station_filter("wmq-07", channel) == expected


def test_station_filter_rejects_wildcards_as_station_id() -> None:
    with pytest.raises(InvalidIdError):
        topics.station_filter("#", Channel.TELEMETRY)


def test_fleet_wide_filters() -> None:
    assert topics.ALL_TELEMETRY == "warm/v1/+/+/telemetry"
    assert topics.ALL_EVENTS == "warm/v1/+/+/event"
    assert topics.ALL_GATEWAY_STATUS == "warm/v1/+/gateway/status"
    assert topics.ALL_AVAILABILITY == "warm/v1/+/availability"
