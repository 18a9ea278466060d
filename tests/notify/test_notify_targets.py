"""The targets file: the example loads in a demo (as dry runs) and is refused
otherwise; a bad edit fails at load time naming the target and the field; selection
by event, severity and area."""

from pathlib import Path
from typing import Any

import pytest
from notify_support import note

from collector.notify import Event, TargetsError, load_targets, parse_targets
from collector.notify.targets import is_placeholder_url
from warmnet.severity import Severity

EXAMPLE = Path(__file__).parents[2] / "collector" / "notify" / "targets.example.yaml"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=3c5e0b7d9f1a2b4c6d8e0f1a2b3c4d5e"


def one(**target: Any) -> dict[str, Any]:
    return {"targets": [{"name": "t", "type": "wecom", "url": WECOM, **target}]}


def error(data: Any, demo: bool = False) -> str:
    with pytest.raises(TargetsError) as exc:
        parse_targets(data, "targets.yaml", demo=demo)
    return str(exc.value)


def test_example_loads_in_the_demo_as_dry_runs() -> None:
    config = load_targets(EXAMPLE, demo=True)
    assert [t.name for t in config.targets] == ["panmen-crew", "night-duty", "ops-json"]
    assert all(t.dry_run for t in config.targets)
    night = config.targets[1]
    assert night.type == "dingtalk" and night.secret is not None
    assert night.rate_limit_per_min == 20
    assert config.targets[2].rate_limit_per_min == 600


def test_example_placeholders_are_refused_outside_the_demo() -> None:
    with pytest.raises(TargetsError) as exc:
        load_targets(EXAMPLE)
    text = str(exc.value)
    assert "target 'panmen-crew' (targets[0]): url: placeholder URL" in text
    assert "target 'night-duty' (targets[1]): secret: placeholder secret" in text
    assert "target 'ops-json' (targets[2]): headers: Authorization: placeholder" in text


@pytest.mark.parametrize(
    ("url", "placeholder"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REPLACE-ME", True),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=xxxxxxxx", True),
        ("https://hooks.example.com/x", True),
        ("https://example.org/x", True),
        ("https://robot.invalid/x", True),
        ("https://ops.local/x?token=<your-token>", True),
        (WECOM, False),
        (DINGTALK, False),
        ("http://127.0.0.1:8080/hook", False),
    ],
)
def test_placeholder_urls(url: str, placeholder: bool) -> None:
    assert is_placeholder_url(url) is placeholder


def test_a_real_looking_target_loads(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(
        f"targets:\n  - {{name: crew, type: dingtalk, url: '{DINGTALK}', secret: SEC0123abcd}}\n"
    )
    (target,) = load_targets(path).targets
    assert target.secret is not None and target.secret.get_secret_value() == "SEC0123abcd"
    assert not target.dry_run
    assert target.events == ("fire", "resolve", "reopen")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"type": "slack"}, "type: Input should be 'generic', 'wecom' or 'dingtalk'"),
        ({"url": "ftp://x.cn/a"}, "url: URL scheme should be 'http' or 'https'"),
        ({"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "WeCom robot URL"),
        ({"type": "dingtalk"}, "DingTalk robot URL ends in /robot/send?access_token="),
        ({"secret": "SEC123"}, "secret: only DingTalk robots sign requests"),
        ({"headers": {"X-A": "b"}}, "headers: only for generic targets"),
        ({"min_severity": "major", "severities": ["critical"]}, "not both"),
        ({"min_severity": "urgent"}, "min_severity: Input should be 'critical'"),
        ({"events": ["fire", "explode"]}, "events[1]: Input should be 'fire'"),
        ({"events": []}, "events: empty"),
        ({"name": "Crew A"}, "name: String should match pattern"),
        ({"rate_per_min": 0}, "rate_per_min: Input should be greater than or equal to 1"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_targets_name_target_and_field(target: dict[str, Any], expected: str) -> None:
    text = error(one(**target))
    assert "targets.yaml: invalid targets:" in text
    assert "(targets[0])" in text
    assert expected in text


def test_bad_file_level_settings() -> None:
    dup = {"targets": one()["targets"] * 2}
    assert "duplicate target name 't'" in error(dup)
    assert "queue_size: Input should be greater than or equal to 1" in error(
        {**one(), "queue_size": 0}
    )
    assert "retry.max_attempts" in error({**one(), "retry": {"max_attempts": 0}})
    assert "expected a mapping with a 'targets' list" in error(["x"])
    assert "expected a mapping with a 'targets' list" in error({"targets": "x"})


def test_unreadable_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot read targets"):
        load_targets(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: [\n")
    with pytest.raises(TargetsError, match="not valid YAML"):
        load_targets(bad)


def test_an_empty_file_means_no_targets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert load_targets(empty).targets == ()


def test_selection_by_event_severity_and_area() -> None:
    config = parse_targets(
        {
            "targets": [
                {"name": "all", "type": "wecom", "url": WECOM},
                {"name": "serious", "type": "wecom", "url": WECOM, "min_severity": "major"},
                {"name": "listed", "type": "wecom", "url": WECOM, "severities": ["minor", "info"]},
                {"name": "panmen", "type": "wecom", "url": WECOM, "areas": ["panmen", "nanmen"]},
                {"name": "acks", "type": "wecom", "url": WECOM, "events": ["acknowledge"]},
            ]
        }
    )
    t = {x.name: x for x in config.targets}
    fire = note(Event.FIRED, severity=Severity.MAJOR, area="youxin")
    assert t["all"].selects(fire) and t["serious"].selects(fire)
    assert not t["listed"].selects(fire) and not t["panmen"].selects(fire)
    assert not t["acks"].selects(fire)
    assert not t["serious"].selects(note(severity=Severity.MINOR))
    assert t["serious"].selects(note(severity=Severity.CRITICAL))
    assert t["listed"].selects(note(severity=Severity.INFO))
    assert t["panmen"].selects(note(area="nanmen"))
    assert t["acks"].selects(note(Event.ACKNOWLEDGED, who="张师傅"))
    assert not t["all"].selects(note(Event.UPDATED)), "updates are opt-in"
    assert not t["all"].selects(note(Event.ACKNOWLEDGED))
