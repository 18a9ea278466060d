"""Log lines carry their context (station, device, reason) as key=value pairs or as
one JSON object per line."""

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from warmnet.logs import JsonFormatter, KeyValueFormatter, setup_logging


def record(**extra: object) -> logging.LogRecord:
    return logging.getLogger("collector.ingest.classify").makeRecord(
        "collector.ingest.classify",
        logging.WARNING,
        __file__,
        1,
        "rejected %s",
        ("payload",),
        None,
        extra=extra,
    )


def test_key_value_lines_append_the_context() -> None:
    text = KeyValueFormatter().format(record(station="wmq-01", device="outlet-01"))

    assert "WARNING" in text
    assert "collector.ingest.classify: rejected payload" in text
    assert text.endswith(" station=wmq-01 device=outlet-01")


def test_key_value_line_without_context_has_no_trailing_pairs() -> None:
    assert KeyValueFormatter().format(record()).endswith("rejected payload")


def test_json_lines_are_one_object_with_the_context() -> None:
    text = JsonFormatter().format(record(station="wmq-01", reason="schema", size=5000))

    obj = json.loads(text)
    assert "\n" not in text
    assert obj["level"] == "WARNING"
    assert obj["logger"] == "collector.ingest.classify"
    assert obj["msg"] == "rejected payload"
    assert (obj["station"], obj["reason"], obj["size"]) == ("wmq-01", "schema", 5000)


def test_uvicorn_coloured_duplicate_message_is_not_context() -> None:
    rec = record(station="wmq-01", color_message="\x1b[32mrejected\x1b[0m")

    assert "color_message" not in KeyValueFormatter().format(rec)
    assert "color_message" not in json.loads(JsonFormatter().format(rec))


def test_json_lines_keep_chinese_readable_and_stringify_odd_values() -> None:
    text = JsonFormatter().format(record(name_zh="吴门桥", where=object()))

    assert "吴门桥" in text
    assert json.loads(text)["where"].startswith("<object")


def test_exceptions_are_included() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )

    assert "RuntimeError: boom" in KeyValueFormatter().format(rec)
    assert "RuntimeError: boom" in json.loads(JsonFormatter().format(rec))["exc"]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = logging.getLogger("amqtt").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("amqtt").setLevel(noisy)


@pytest.mark.usefixtures("restore_root_logger")
def test_setup_logging_installs_one_handler_and_quiets_libraries() -> None:
    setup_logging("INFO", json_lines=True)

    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert isinstance(root.handlers[0].formatter, JsonFormatter)
    assert root.level == logging.INFO
    assert logging.getLogger("amqtt").level == logging.WARNING
