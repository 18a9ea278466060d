"""Send one test message to configured targets and say what each robot answered.

    python -m collector.notify.check targets.yaml [--target NAME] [--demo]

One attempt per target, no queue, no retries: the point is to see the robot's own
answer (`errcode 0: ok`, or why not: a wrong key, a failed signature, a missing
keyword). Exit code 0 when every target took the message.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TextIO
from zoneinfo import ZoneInfo

import httpx

from collector.notify.formats import render
from collector.notify.model import Event, Notification
from collector.notify.notifier import default_client
from collector.notify.targets import TargetsError, load_targets
from collector.notify.transport import post
from warmnet.severity import Severity


def sample_notification(now_ms: int) -> Notification:
    return Notification(
        event=Event.FIRED,
        alert_id=f"test:warmnet/*@{now_ms}",
        rule="notify-test",
        severity=Severity.INFO,
        station="test",
        station_name_zh="测试驿站",
        station_name_en="Test station",
        area="test",
        device=None,
        title_zh="warmnet 告警通知测试（无需处理）",
        title_en="warmnet notification test (no action needed)",
        at_ms=now_ms,
        detail="sent by python -m collector.notify.check",
    )


def run_check(
    path: str,
    *,
    target: str | None = None,
    demo: bool = False,
    timezone: str = "Asia/Shanghai",
    out: TextIO,
    err: TextIO,
) -> int:
    try:
        config = load_targets(path, demo=demo)
    except TargetsError as exc:
        err.write(f"{exc}\n")
        return 2
    targets = [t for t in config.targets if target in (None, t.name)]
    if not targets:
        err.write(f"{path}: no target named {target!r}\n" if target else f"{path}: no targets\n")
        return 2
    n = sample_notification(time.time_ns() // 1_000_000)
    tz = ZoneInfo(timezone)
    failed = 0
    for t in targets:
        if t.dry_run:
            out.write(f"{t.name}: placeholder target (dry run), nothing sent\n")
            continue
        client: httpx.Client = default_client(t, config.timeout_s)
        with client:
            result = post(client, t, render(t.type, n, tz))
        failed += result.outcome != "sent"
        out.write(f"{t.name} ({t.type}): {result.outcome}: {result.reason}\n")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.notify.check", description=__doc__)
    parser.add_argument("targets", help="targets YAML file")
    parser.add_argument("--target", help="only this target (default: all)")
    parser.add_argument("--demo", action="store_true", help="accept placeholders (dry run)")
    parser.add_argument("--timezone", default="Asia/Shanghai")
    args = parser.parse_args(argv)
    return run_check(
        args.targets,
        target=args.target,
        demo=args.demo,
        timezone=args.timezone,
        out=sys.stdout,
        err=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
