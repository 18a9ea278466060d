"""`warmnet api` as its own process, noting when sampled readings become visible.

Runs exactly the CLI's code path (`launcher.cli.main(["api"])`, settings from the
WARMNET_* environment), except that the API's live store is a `RecordingLive`: it
notes the time (`time.perf_counter()`, CLOCK_MONOTONIC: comparable with the
publisher's clock in another process) of the first summary it keeps in which a
sampled device's `observed_at` equals the sampled message's `ts`. From that moment
`GET /stations/{id}` returns it.

Protocol (bench/ingest.py's `Child`): prints `ready` once `/ready` says that the
MQTT feed is connected;
prints `complete` when every sample has been seen; on a line on stdin stops recording
and prints one JSON line `{"seen": [[station, device, t], ...], "summaries": N}`; SIGTERM stops it.

    python bench/api_proc.py --keys KEYS.pkl --port PORT   # PORT = WARMNET_API_PORT
"""

import argparse
import json
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import httpx

import api.server
import launcher.cli as cli
from api.live import LiveAvailability
from warmnet.messages import StationAvailability


class RecordingLive(LiveAvailability):
    """`serve()` makes the one instance; the samples are set on the class first."""

    expected: ClassVar[dict[tuple[str, str], int]] = {}
    instance: ClassVar["RecordingLive | None"] = None

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple[str, str], float] = {}
        self.recording = True
        RecordingLive.instance = self

    def update(self, summary: StationAvailability) -> bool:
        kept = super().update(summary)
        if kept and self.recording:
            now = time.perf_counter()
            expected = self.expected
            for d in summary.devices:
                key = (summary.station, d.device)
                ts = expected.get(key)
                if ts is not None and d.observed_at == ts and key not in self.seen:
                    self.seen[key] = now
                    if len(self.seen) == len(expected):
                        print("complete", flush=True)
        return kept


NO_DATA_YET = "no availability summary received yet"  # api/routes/health.py


def _control(port: int) -> None:
    deadline = time.monotonic() + 50
    last = ""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
        while True:
            try:
                r = http.get("/ready")
                # Up, and its feed connected: before the first reading of a run the
                # collector may have nothing to publish yet.
                if r.status_code == 200 or r.json().get("reason") == NO_DATA_YET:
                    break
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                print(f"api_proc: /ready not 200 within 50 s: {last}", file=sys.stderr)
                return
            time.sleep(0.05)  # polling a server we do not control: no event to wait on
    print("ready", flush=True)
    sys.stdin.readline()
    live = RecordingLive.instance
    assert live is not None
    live.recording = False
    seen = [[s, d, t] for (s, d), t in list(live.seen.items())]
    print(json.dumps({"seen": seen, "summaries": live.accepted}), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", required=True, help="pickle: [(station, device, ts), ...]")
    p.add_argument("--port", type=int, required=True, help="= WARMNET_API_PORT")
    args = p.parse_args()
    with Path(args.keys).open("rb") as f:
        keys: list[tuple[str, str, int]] = pickle.load(f)
    RecordingLive.expected = {(s, d): ts for s, d, ts in keys}
    # `serve` looks `LiveAvailability` up in its module's globals.
    setattr(api.server, "LiveAvailability", RecordingLive)  # noqa: B010
    threading.Thread(target=_control, args=(args.port,), name="bench-control", daemon=True).start()
    return cli.main(["api"])


if __name__ == "__main__":
    sys.exit(main())
