"""`python -m collector.notify.check`: one test message per target, the robot's answer
shown as it came."""

import io
from pathlib import Path

from notify_support import Receiver

from collector.notify.check import run_check


def targets_file(tmp_path: Path, receiver: Receiver) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        f"  - {{name: crew, type: wecom, url: '{receiver.url('/send', 'key=k')}'}}\n"
        f"  - {{name: duty, type: dingtalk, url: '{receiver.url('/robot', 'access_token=t')}'}}\n"
        "  - {name: ops, type: generic, url: 'https://hooks.example.com/x'}\n"
    )
    return path


def check(path: Path, **kw: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_check(str(path), out=out, err=err, **kw)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_check_sends_one_message_per_target(tmp_path: Path, receiver: Receiver) -> None:
    path = targets_file(tmp_path, receiver)
    code, out, _ = check(path, demo=True)
    assert code == 0
    assert out.splitlines() == [
        "crew (wecom): sent: ok",
        "duty (dingtalk): sent: ok",
        "ops: placeholder target (dry run), nothing sent",
    ]
    assert "告警通知测试" in receiver.requests[0].json()["markdown"]["content"]


def test_check_shows_the_robots_refusal(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_next(1, "errcode:93000")
    code, out, _ = check(targets_file(tmp_path, receiver), target="crew", demo=True)
    assert code == 1
    assert out == "crew (wecom): fail: errcode 93000: simulated\n"
    assert receiver.count() == 1, "one attempt, no retries"


def test_check_refuses_placeholders_outside_the_demo(tmp_path: Path, receiver: Receiver) -> None:
    code, _, err = check(targets_file(tmp_path, receiver))
    assert code == 2 and "target 'ops' (targets[2]): url: placeholder URL" in err
    code, _, err = check(targets_file(tmp_path, receiver), target="nope", demo=True)
    assert code == 2 and "no target named 'nope'" in err
