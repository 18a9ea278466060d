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
from warmnet.registry import RegistryError, fleet_json, load_fleet
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
    from collector.service import CollectorFailedError, run
    from collector.settings import load_collector_settings

    settings = load_collector_settings()
    _setup(settings)
    try:
        run(settings, load_fleet(settings.registry), _stop_on_signals())
    except CollectorFailedError as exc:
        sys.stderr.write(f"collector: {exc}\n")
        return 1
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from api.server import serve
    from api.settings import load_api_settings

    settings = load_api_settings()
    _setup(settings)
    serve(settings, _stop_on_signals())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.scenario import ScenarioError, list_scenarios, load_scenario

    settings = CommonSettings()
    _setup(settings)
    if args.list:
        for name in list_scenarios():
            first = load_scenario(name).description.split(". ")[0].strip()
            sys.stdout.write(f"{name:<24} {first}\n")
        return 0
    if args.load:
        return _simulate_load(args, settings)
    from simulators.runner import run_from_settings

    try:
        run_from_settings(
            stations=args.stations,
            speed=args.speed,
            seed=args.seed,
            duration_s=args.duration,
            mqtt_url=settings.mqtt_url,
            registry_path=settings.registry,
            stop_event=_stop_on_signals(),
            scenario=args.scenario,
            keep_running=args.keep_running,
            data_dir=Path(args.data_dir),
            outbox=args.outbox,
        )
    except (ScenarioError, RegistryError, ValueError) as exc:
        sys.stderr.write(f"simulate: {exc}\n")
        return 1
    return 0


def _simulate_load(args: argparse.Namespace, settings: CommonSettings) -> int:
    import json

    from simulators.load import load_fleet_for, run_load
    from warmnet.registry import write_fleet

    try:
        fleet = load_fleet_for(int(args.stations or "10"), args.devices)
    except ValueError as exc:
        sys.stderr.write(f"simulate --load: {exc} (--stations is a count here)\n")
        return 1
    if args.registry_out:
        write_fleet(fleet, Path(args.registry_out))
    stats = run_load(
        settings.mqtt_url,
        fleet,
        args.rate,
        _stop_on_signals(),
        duration_s=args.duration,
        seed=7 if args.seed is None else args.seed,
    )
    result = {"sent": stats.sent, "acked": stats.acked, "seconds": round(stats.seconds, 2)}
    sys.stdout.write(json.dumps({**result, "rate": round(stats.rate, 1), "waits": stats.waits}))
    sys.stdout.write("\n")
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from gateway import Gateway, load_gateway_settings
    from simulators.gateways import GatewayDevices
    from simulators.runner import drive, make_stations
    from warmnet.clock import SimulatedClock

    try:
        settings = load_gateway_settings(station=args.station)
        _setup(settings)
        fleet = load_fleet(settings.registry)
        clock = SimulatedClock(speed=args.speed)
        # The gateway package never imports the simulators: they meet here. The
        # station's device models feed Gateway.submit and take its downlink commands.
        stations = [] if args.no_sim else make_stations(fleet, [settings.station], args.seed, clock)
        control = stations[0] if stations else None
        gateway = Gateway(settings, fleet, clock=clock, control=control)
    except (ValidationError, RegistryError, ValueError) as exc:
        sys.stderr.write(f"gateway: {exc}\n")
        return 1
    stop = _stop_on_signals()
    gateway.start()
    try:
        if stations:
            drive(stations, GatewayDevices(gateway), clock, stop=stop)
        else:
            stop.wait()
    finally:
        gateway.stop()
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from broker import run_amqtt

    setup_logging(CommonSettings().log_level)
    run_amqtt(args.host, args.port, _stop_on_signals())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from launcher.demo import run_demo

    setup_logging(CommonSettings().log_level)
    if args.scenario is not None:
        from simulators.scenario import ScenarioError, load_scenario

        try:
            load_scenario(args.scenario)  # fail here, not in a child's log
        except ScenarioError as exc:
            sys.stderr.write(f"demo: {exc}\n")
            return 1
    return run_demo(
        speed=args.speed, data_dir=Path(args.data_dir), broker=args.broker, scenario=args.scenario
    )


def cmd_registry(args: argparse.Namespace) -> int:
    try:
        fleet = load_fleet(args.path)
    except RegistryError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    out = sys.stdout
    if args.action == "json":
        out.write(fleet_json(fleet) + "\n")
        return 0
    out.write(f"{fleet.network}: {len(fleet.stations)} stations, {fleet.device_count} devices\n")
    if args.action == "list":
        for s in fleet.stations:
            kinds: dict[str, int] = {}
            for d in s.devices:
                kinds[d.kind.value] = kinds.get(d.kind.value, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
            out.write(f"{s.id:<8} {s.hours:<12} {s.name_zh} / {s.name_en}: {summary}\n")
    return 0


def cmd_deadletter(args: argparse.Namespace) -> int:
    from collector.ingest.deadletter_cli import run

    if getattr(args, "data_dir", None) is not None:
        data_dir = Path(args.data_dir)
    else:
        from pydantic import ValidationError

        from collector.settings import load_collector_settings

        try:
            data_dir = load_collector_settings().data_dir
        except ValidationError as exc:
            sys.stderr.write(f"invalid collector settings (WARMNET_*):\n{exc}\n")
            return 1
    return run(
        args.action,
        data_dir,
        reason=getattr(args, "reason", None),
        limit=getattr(args, "limit", 20),
        letter_id=getattr(args, "id", None),
        out=sys.stdout,
        err=sys.stderr,
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _add_deadletter(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="the collector's data directory (default: WARMNET_DATA_DIR, else var)",
    )
    dl = sub.add_parser(
        "deadletter", parents=[data_dir], help="inspect the messages the collector refused"
    )
    dl.set_defaults(func=cmd_deadletter)  # no data_dir default: the action is shared
    actions = dl.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", parents=[data_dir], help="newest dead letters")
    ls.add_argument("--reason", help="only this reason code (e.g. schema, malformed_json)")
    ls.add_argument("--limit", type=_positive_int, default=20, help="at most N (default 20)")
    show = actions.add_parser("show", parents=[data_dir], help="one dead letter, all fields")
    show.add_argument("id", type=int, help="its id (from `list`)")
    actions.add_parser("count", parents=[data_dir], help="dead letters per reason")


def cmd_token(args: argparse.Namespace) -> int:
    from api.tokens_cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warmnet", description="warm station network monitoring")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="everything in one process tree on embedded defaults")
    d.add_argument(
        "--speed", type=float, default=None, help="simulated clock speed (1; a scenario's own)"
    )
    d.add_argument("--scenario", default=None, help="play a scenario (warmnet simulate --list)")
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

    s = sub.add_parser(
        "simulate", help="simulated stations through in-process gateways, or --load over MQTT"
    )
    s.add_argument(
        "--stations",
        default=None,
        help="'all' or a comma-separated list of ids (default: the scenario's, else all); "
        "with --load: how many synthetic stations",
    )
    s.add_argument("--scenario", default=None, help="a scenario name (--list) or YAML path")
    s.add_argument("--list", action="store_true", help="list the bundled scenarios")
    s.add_argument(
        "--speed", type=float, default=None, help="clock speed (default: the scenario's, else 1)"
    )
    s.add_argument("--seed", type=int, default=None, help="default: the scenario's, else 7")
    s.add_argument(
        "--duration",
        type=float,
        default=None,
        help="simulated seconds (default: the scenario's, else forever); --load: real seconds",
    )
    s.add_argument(
        "--keep-running", action="store_true", help="after the scenario, keep simulating"
    )
    s.add_argument(
        "--data-dir", default="var/sim", help="gateways' outboxes and state (DIR/STATION/)"
    )
    s.add_argument("--outbox", choices=["sqlite", "memory"], default="sqlite")
    s.add_argument("--load", action="store_true", help="benchmark load straight over MQTT")
    s.add_argument("--devices", type=int, default=14, help="--load: devices per station (> 4)")
    s.add_argument("--rate", type=float, default=100.0, help="--load: messages/s in total")
    s.add_argument("--registry-out", default=None, help="--load: write the synthetic registry")
    s.set_defaults(func=cmd_simulate)

    g = sub.add_parser("gateway", help="one station's gateway, its devices simulated in-process")
    g.add_argument("--station", required=True, help="the station this gateway serves")
    g.add_argument("--seed", type=int, default=7, help="simulated devices' seed")
    g.add_argument("--speed", type=float, default=1.0, help="simulated clock speed factor")
    g.add_argument(
        "--no-sim", action="store_true", help="no simulated devices (local MQTT intake only)"
    )
    g.set_defaults(func=cmd_gateway)

    b = sub.add_parser("broker", help="embedded MQTT broker (amqtt) for demos")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, default=1883)
    b.set_defaults(func=cmd_broker)

    from api.tokens_cli import add_arguments as token_arguments

    t = sub.add_parser("token", help="API tokens for crews and operators (new NAME ROLE | hash)")
    token_arguments(t)
    t.set_defaults(func=cmd_token)

    r = sub.add_parser(
        "registry", help="validate, list, or convert to JSON (for big fleets) a registry file"
    )
    r.add_argument("action", choices=["check", "list", "json"])
    r.add_argument("path", nargs="?", default=None, help="registry YAML or JSON (default: bundled)")
    r.set_defaults(func=cmd_registry)

    _add_deadletter(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
