"""`warmnet deadletter list|show|count`: read the dead-letter store, for people.

Opens the store read-only, so it is safe while the collector runs. Everything that
came from the network (topic, detail, payload) is shown with control characters
escaped: a dead letter cannot drive the terminal.
"""

import codecs
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from collector.ingest.deadletter import DeadLetterStore, DeadLetterStoreError, StoredDeadLetter

FILENAME = "deadletter.sqlite"  # in the collector's data_dir
DETAIL_WIDTH = 80  # `list` shortens details to this; `show` has them whole
HEX_WIDTH = 16


def store_path(data_dir: Path) -> Path:
    return data_dir / FILENAME


def run(
    action: str,
    data_dir: Path,
    *,
    reason: str | None = None,
    limit: int = 20,
    letter_id: int | None = None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Run one action; returns the exit code (0 ok, 1 failed, with a message on err)."""
    path = store_path(data_dir)
    try:
        store = DeadLetterStore.open_existing(path)
    except DeadLetterStoreError as exc:
        err.write(f"{exc}\n")
        if not path.exists():
            err.write(
                "The collector creates it in its data directory (WARMNET_DATA_DIR) on start; "
                "pass --data-dir to read another one.\n"
            )
        return 1
    try:
        if action == "list":
            return _list(store, reason, limit, out)
        if action == "show":
            if letter_id is None:
                raise ValueError("show needs an id")
            return _show(store, letter_id, out, err)
        if action == "count":
            return _count(store, out)
        raise ValueError(f"unknown action {action!r}")
    finally:
        store.close()


def _list(store: DeadLetterStore, reason: str | None, limit: int, out: TextIO) -> int:
    letters = store.entries(reason=reason, limit=limit)
    total = store.total(reason)
    which = f" with reason {clean(reason)}" if reason else ""
    if not letters:
        out.write(f"no dead letters{which} in {store.path}\n")
        return 0
    header = ("ID", "RECEIVED (UTC)", "REASON", "SIZE", "TOPIC", "DETAIL")
    rows = [
        (
            str(d.id),
            iso(d.received_at),
            clean(d.reason),
            str(d.size),
            clean(d.topic),
            shorten(clean(d.detail), DETAIL_WIDTH),
        )
        for d in letters
    ]
    out.write(_table(header, rows, right={0, 3}))
    out.write(f"{len(letters)} of {total} dead letters{which}, newest first\n")
    return 0


def _show(store: DeadLetterStore, letter_id: int, out: TextIO, err: TextIO) -> int:
    letter = store.get(letter_id)
    if letter is None:
        err.write(f"no dead letter with id {letter_id} in {store.path}\n")
        return 1
    out.write(render(letter))
    return 0


def _count(store: DeadLetterStore, out: TextIO) -> int:
    counts = sorted(store.counts().items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(n for _, n in counts)
    rows = [(clean(reason), str(n)) for reason, n in counts]
    out.write(_table(("REASON", "COUNT"), [*rows, ("total", str(total))], right={1}))
    return 0


def render(d: StoredDeadLetter) -> str:
    """Every field of one dead letter; the payload as text, and as hex unless it is
    valid UTF-8."""
    kept = f"; the first {len(d.payload)} kept" if d.truncated else ""
    lines = [
        f"id           {d.id}",
        f"received_at  {iso(d.received_at)} ({d.received_at})",
        f"reason       {clean(d.reason)}",
        f"topic        {clean(d.topic)}",
        f"detail       {clean(d.detail)}",
        f"size         {d.size} bytes{kept}",
    ]
    if not d.payload:
        lines.append("payload      (empty)")
        return "\n".join(lines) + "\n"
    valid = is_utf8(d.payload, truncated=d.truncated)
    # A character cut off by the truncation is left out rather than shown as U+FFFD.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(d.payload, final=not d.truncated)
    lines.append("payload      UTF-8:" if valid else "payload      not valid UTF-8; as text:")
    lines.extend("  " + clean(line) for line in text.split("\n"))
    if d.truncated:
        lines.append(f"  [... {d.size - len(d.payload)} more bytes not kept]")
    if not valid:
        lines.append("payload hex")
        lines.extend("  " + line for line in hexdump(d.payload))
    return "\n".join(lines) + "\n"


def is_utf8(raw: bytes, *, truncated: bool = False) -> bool:
    """Valid UTF-8; if `truncated`, a character cut off at the very end is allowed."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=not truncated)
    except UnicodeDecodeError:
        return False
    return True


def hexdump(raw: bytes) -> list[str]:
    out = []
    for offset in range(0, len(raw), HEX_WIDTH):
        chunk = raw[offset : offset + HEX_WIDTH]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        out.append(f"{offset:08x}  {hexes:<{HEX_WIDTH * 3 - 1}}  |{ascii_}|")
    return out


def clean(text: str) -> str:
    """Escape what a terminal would interpret (control characters, escapes)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def iso(ts_ms: int) -> str:
    try:
        at = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(ts_ms)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
