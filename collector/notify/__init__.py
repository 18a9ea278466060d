"""Alert notifications to webhooks: generic JSON, WeCom and DingTalk group robots.

```python
config = load_targets(path)              # or parse_targets(data); TargetsError names the target
notifier = Notifier(config, timezone=fleet.timezone)
notifier.submit(Notification(...))       # any thread, never blocks
sink = NotifySink(notifier, fleet, titles_from_rules(rules.rules))  # a TransitionSink
notifier.stats(); notifier.stop(timeout=5.0)
```
"""

from collector.notify.model import Event, Notification, Value
from collector.notify.notifier import Notifier, NotifierStats, TargetStats
from collector.notify.sink import NotifySink, from_transition, titles_from_rules
from collector.notify.targets import (
    NotifyConfig,
    RetryPolicy,
    Target,
    TargetsError,
    load_targets,
    parse_targets,
)
from warmnet.severity import Severity

__all__ = [
    "Event",
    "Notification",
    "Notifier",
    "NotifierStats",
    "NotifyConfig",
    "NotifySink",
    "RetryPolicy",
    "Severity",
    "Target",
    "TargetStats",
    "TargetsError",
    "Value",
    "from_transition",
    "load_targets",
    "parse_targets",
    "titles_from_rules",
]
