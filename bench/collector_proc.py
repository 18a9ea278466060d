"""`warmnet collector` with a barrier after the registry is loaded.

Runs exactly the CLI's code path (`launcher.cli.main(["collector"])`, settings from the
WARMNET_* environment), except that once the fleet registry is loaded it prints
`loaded` and waits for `go` on stdin. The bench uses it so that parsing a 50,400-device
registry (seconds of YAML) is not part of a timed drain, and so that sharded
collectors start draining at the same moment.
"""

import sys
from pathlib import Path

import launcher.cli as cli
from warmnet.registry import Fleet, load_fleet


def main() -> int:
    load = load_fleet

    def gated(path: str | Path | None = None) -> Fleet:
        fleet = load(path)
        print("loaded", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("collector_proc: expected 'go' on stdin")
        return fleet

    # `cmd_collector` looks `load_fleet` up in the CLI module's globals.
    setattr(cli, "load_fleet", gated)  # noqa: B010
    return cli.main(["collector"])


if __name__ == "__main__":
    sys.exit(main())
