"""Summarise a py-spy raw (collapsed stacks) profile: samples per thread, and the top
functions by self and by inclusive samples, as percentages of all samples.

    python bench/profile_summary.py PROFILE.raw [--top 25] [--thread NAME]

Record one with `python bench/ingest.py --profile PROFILE.raw` (py-spy with
`--threads`, so each stack starts with its thread).
"""

import argparse
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_THREAD = re.compile(r"^thread \(\d+\)(?:: (?P<name>[^;]+))?$")
_LINE = re.compile(r" \(([^)]*?):\d+\)$")


def function(frame: str) -> str:
    """`Pipeline.run (collector/ingest/pipeline.py:160)` -> the same without the line."""
    return _LINE.sub(r" (\1)", frame)


def thread_name(frame: str) -> str | None:
    m = _THREAD.match(frame)
    if m is None:
        return None
    name = m.group("name") or "unnamed"
    return re.sub(r"paho-mqtt-client-.*", "paho-mqtt-client", name)


def summarise(path: Path, top: int, only_thread: str | None) -> str:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for raw in path.read_text().splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        name = thread_name(frames[0])
        if name is not None:
            frames = frames[1:]
        else:
            name = "unnamed"
        if only_thread is not None and name != only_thread:
            continue
        total += count
        threads[name] += count
        funcs = [function(f) for f in frames]
        if funcs:
            own[funcs[-1]] += count
        for f in set(funcs):
            inclusive[f] += count
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    out.append("\nper thread:")
    out += [f"  {n / total:6.1%}  {name}" for name, n in threads.most_common()]
    out.append(f"\ntop {top} by self samples:")
    out += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out.append(f"\ntop {top} by inclusive samples:")
    out += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--thread", help="only this thread (e.g. collector-pipeline)")
    args = p.parse_args(argv)
    print(summarise(args.profile, args.top, args.thread))


if __name__ == "__main__":
    main()
