"""`warmnet deadletter list|show|count` on a store filled in tmp_path, and the store
reads it relies on (ids, get, sizes, read-only opening)."""

import sqlite3
from pathlib import Path

import pytest

from collector.ingest.deadletter import (
    MAX_RAW_BYTES,
    DeadLetter,
    DeadLetterStore,
    DeadLetterStoreError,
)
from launcher.cli import main

TS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z
TOPIC = "warm/v1/wmq-01/outlet-01/telemetry"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = DeadLetterStore(tmp_path / "deadletter.sqlite")
    store.add(
        [
            DeadLetter(TS, TOPIC, "malformed_json", "Expecting value: line 1", b"{not json"),
            DeadLetter(TS + 1000, TOPIC, "schema", "power_w: field required", b'{"ts": 1}'),
            DeadLetter(TS + 2000, "warm/v1/x", "bad_topic", "not a warmnet topic", b"\xff\xfe"),
            DeadLetter(TS + 3000, TOPIC, "schema", "seq: must be >= 0", b'{"seq": -1}'),
        ]
    )
    store.close()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["deadletter", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- the store ---------------------------------------------------------------------


def test_entries_have_ids_and_original_sizes(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dl.sqlite")
    try:
        store.add([DeadLetter(TS, TOPIC, "oversized", "too big", b"x" * 5000)])
        store.add([DeadLetter(TS + 1, TOPIC, "schema", "bad", b"{}")])

        newest, oldest = store.entries()
        assert (newest.id, newest.reason, newest.size, newest.truncated) == (2, "schema", 2, False)
        assert (oldest.id, oldest.size, len(oldest.payload)) == (1, 5000, MAX_RAW_BYTES)
        assert oldest.truncated
        assert store.get(1) == oldest
        assert store.get(99) is None
        assert [d.id for d in store.entries(before_id=2)] == [1]
        assert [d.id for d in store.entries(reason="oversized")] == [1]
        assert (store.total(), store.total("schema"), store.total("nope")) == (2, 1, 0)
    finally:
        store.close()


def test_opening_an_existing_store_read_only(data_dir: Path) -> None:
    store = DeadLetterStore.open_existing(data_dir / "deadletter.sqlite")
    try:
        assert store.total() == 4
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.add([DeadLetter(TS, TOPIC, "schema", "", b"")])
    finally:
        store.close()


def test_opening_what_is_not_a_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(DeadLetterStoreError, match="no dead-letter store"):
        DeadLetterStore.open_existing(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()  # not created by looking

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(DeadLetterStoreError, match="not a SQLite database"):
        DeadLetterStore.open_existing(junk)

    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE points (x)").connection.close()
    with pytest.raises(DeadLetterStoreError, match="not a dead-letter store"):
        DeadLetterStore.open_existing(other)


# --- list --------------------------------------------------------------------------


def test_list_shows_newest_first_with_ids(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "list", "--data-dir", str(data_dir))

    assert (code, err) == (0, "")
    header, *rows, footer = out.splitlines()
    assert header.split() == ["ID", "RECEIVED", "(UTC)", "REASON", "SIZE", "TOPIC", "DETAIL"]
    assert [r.split()[0] for r in rows] == ["4", "3", "2", "1"]
    assert rows[-1].split()[1:5] == ["2026-01-01T00:00:00.123Z", "malformed_json", "9", TOPIC]
    assert rows[-1].endswith("Expecting value: line 1")
    assert footer == "4 of 4 dead letters, newest first"


def test_list_filters_by_reason_and_limits(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "list", "--reason", "schema", "--limit", "1", "--data-dir", str(data_dir)
    )

    assert code == 0
    _, row, footer = out.splitlines()
    assert row.split()[:3] == ["4", "2026-01-01T00:00:03.123Z", "schema"]
    assert footer == "1 of 2 dead letters with reason schema, newest first"


def test_list_with_nothing_to_show(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--reason", "oversized", "--data-dir", str(data_dir))

    assert code == 0
    assert out.startswith("no dead letters with reason oversized in ")


def test_data_dir_comes_from_the_environment_or_before_the_action(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "count")
    assert code == 0 and "total" in out

    monkeypatch.setenv("WARMNET_DATA_DIR", str(data_dir))
    code, out, _ = run(capsys, "count")
    assert code == 0 and out.splitlines()[-1].split() == ["total", "4"]


def test_limit_must_be_positive(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "list", "--limit", "0", "--data-dir", str(data_dir))
    assert "--limit" in capsys.readouterr().err


# --- show --------------------------------------------------------------------------


def test_show_prints_every_field_and_a_utf8_payload(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", "1", "--data-dir", str(data_dir))

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "id           1",
        "received_at  2026-01-01T00:00:00.123Z (1767225600123)",
        "reason       malformed_json",
        f"topic        {TOPIC}",
        "detail       Expecting value: line 1",
        "size         9 bytes",
        "payload      UTF-8:",
        "  {not json",
    ]


def test_show_adds_hex_when_the_payload_is_not_utf8(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", "3", "--data-dir", str(data_dir))

    assert code == 0
    lines = out.splitlines()
    assert "payload      not valid UTF-8; as text:" in lines
    assert "  \ufffd\ufffd" in lines
    assert lines[-2] == "payload hex"
    assert lines[-1].startswith("  00000000  ff fe ")
    assert lines[-1].endswith("|..|")


def test_show_a_truncated_payload_and_escape_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = DeadLetterStore(tmp_path / "deadletter.sqlite")
    big = ("温" * 600).encode()  # 1800 bytes: the 1024-byte cut splits a character
    store.add([DeadLetter(TS, "warm/v1/\x1b[2J/telemetry", "oversized", "a\nb", big)])
    store.close()

    code, out, _ = run(capsys, "show", "1", "--data-dir", str(tmp_path))

    assert code == 0
    assert "\x1b" not in out
    lines = out.splitlines()
    assert "topic        warm/v1/\\x1b[2J/telemetry" in lines
    assert "detail       a\\nb" in lines
    assert "size         1800 bytes; the first 1024 kept" in lines
    assert "payload      UTF-8:" in lines  # the cut character is not an encoding error
    assert "  " + "温" * 341 in lines  # 1023 bytes of whole characters
    assert "  [... 776 more bytes not kept]" in lines
    assert "\ufffd" not in out


def test_show_an_unknown_id_fails(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", "42", "--data-dir", str(data_dir))

    assert (code, out) == (1, "")
    assert "no dead letter with id 42" in err


# --- count -------------------------------------------------------------------------


def test_count_per_reason_most_first(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "count", "--data-dir", str(data_dir))

    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["REASON", "COUNT"],
        ["schema", "2"],
        ["bad_topic", "1"],
        ["malformed_json", "1"],
        ["total", "4"],
    ]


# --- no store ----------------------------------------------------------------------


@pytest.mark.parametrize("action", [["list"], ["show", "1"], ["count"]])
def test_a_missing_store_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    code, out, err = run(capsys, *action, "--data-dir", str(tmp_path / "nowhere"))

    assert (code, out) == (1, "")
    assert f"no dead-letter store at {tmp_path / 'nowhere' / 'deadletter.sqlite'}" in err
    assert "WARMNET_DATA_DIR" in err
    assert not (tmp_path / "nowhere").exists()
