"""The `warmnet` command. Each subcommand runs one process until SIGINT/SIGTERM.

Components are imported lazily inside their subcommand: a gateway host need not load
FastAPI, and `warmnet registry check` starts instantly.
"""

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from warmnet.logs import setup_logging
from warmnet.registry import RegistryError, load_fleet
from warmnet.settings import CommonSettings

log = logging.getLogger("warmnet")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _setup(settings: CommonSettings) -> None:
    setup_logging(settings.log_level, settings.log_json)


def cmd_collector(args: argparse.Namespace) -> int:
    from collector.service import run
    from collector.settings import load_collector_settings

    settings = load_collector_settings()
    _setup(settings)
    run(settings, load_fleet(settings.registry), _stop_on_signals())
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from api.server import serve
    from api.settings import load_api_settings

    settings = load_api_settings()
    _setup(settings)
    serve(settings, _stop_on_signals())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.runner import run_from_settings

    settings = CommonSettings()
    _setup(settings)
    run_from_settings(
        stations=args.stations,
        speed=args.speed,
        seed=args.seed,
        duration_s=args.duration,
        mqtt_url=settings.mqtt_url,
        registry_path=settings.registry,
        stop_event=_stop_on_signals(),
    )
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from warmnet.broker import run_amqtt

    setup_logging(CommonSettings().log_level)
    run_amqtt(args.host, args.port, _stop_on_signals())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from warmnet.demo import run_demo

    setup_logging(CommonSettings().log_level)
    return run_demo(speed=args.speed, data_dir=Path(args.data_dir), broker=args.broker)


def cmd_registry(args: argparse.Namespace) -> int:
    try:
        fleet = load_fleet(args.path)
    except RegistryError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    out = sys.stdout
    out.write(f"{fleet.network}: {len(fleet.stations)} stations, {fleet.device_count} devices\n")
    if args.action == "list":
        for s in fleet.stations:
            kinds: dict[str, int] = {}
            for d in s.devices:
                kinds[d.kind.value] = kinds.get(d.kind.value, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
            out.write(f"{s.id:<8} {s.hours:<12} {s.name_zh} / {s.name_en}: {summary}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warmnet", description="warm station network monitoring")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="everything in one process tree on embedded defaults")
    d.add_argument("--speed", type=float, default=1.0, help="simulated clock speed factor")
    d.add_argument("--data-dir", default="var/demo", help="where the demo keeps its data")
    d.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="embedded broker: mosquitto if installed (auto), or the pure-Python amqtt",
    )
    d.set_defaults(func=cmd_demo)

    sub.add_parser("collector", help="MQTT in; store, live state, availability out").set_defaults(
        func=cmd_collector
    )
    sub.add_parser("api", help="rider and crew HTTP API").set_defaults(func=cmd_api)

    s = sub.add_parser("simulate", help="simulated stations publishing over MQTT")
    s.add_argument("--stations", default="all", help="'all' or a comma-separated list of ids")
    s.add_argument("--speed", type=float, default=1.0, help="simulated clock speed factor")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument(
        "--duration", type=float, default=None, help="simulated seconds; default: forever"
    )
    s.set_defaults(func=cmd_simulate)

    b = sub.add_parser("broker", help="embedded MQTT broker (amqtt) for demos")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, default=1883)
    b.set_defaults(func=cmd_broker)

    r = sub.add_parser("registry", help="validate or list a fleet registry file")
    r.add_argument("action", choices=["check", "list"])
    r.add_argument("path", nargs="?", default=None, help="registry YAML (default: bundled)")
    r.set_defaults(func=cmd_registry)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
