"""`lanewatch-edge`: the gate computer's program and its installer tools."""

from __future__ import annotations

import argparse
import signal
import sys

from lanewatch.config import ConfigError, load_config
from lanewatch.logs import setup_logging
from lanewatch.subcommands import Delegated, add_listing, run_main

EX_CONFIG = 78  # sysexits.h; the units' RestartPreventExitStatus=78: a bad config does not heal by restarting


def _run(args: argparse.Namespace) -> int:
    from edge.app import EdgeApp
    from edge.config import EdgeConfig
    from edge.detect.models import ModelError
    from edge.exporter import collect
    from lanewatch.prometheus import serve

    try:
        config = load_config(args.config, EdgeConfig)
        setup_logging(site=config.site, edge=config.edge_id,
                      cameras={cam.id: lane.id for lane in config.lanes for cam in lane.cameras})
        app = EdgeApp(config)
    except (ConfigError, ModelError) as exc:
        print(f"lanewatch-edge: {exc}", file=sys.stderr)
        return EX_CONFIG
    serve(config.prometheus, lambda: collect(app))
    signal.signal(signal.SIGTERM, lambda *_: app.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: app.stop_event.set())
    return app.run(exit_at_end=args.exit_at_end, drain_timeout_s=args.drain_timeout)


def _doctor(args: argparse.Namespace) -> int:
    from edge import doctor

    return doctor.run(args)


def _check_config(args: argparse.Namespace) -> int:
    from edge.config import EdgeConfig

    load_config(args.config, EdgeConfig)
    print(f"{args.config}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lanewatch-edge", description="Watch a border gate's truck lanes.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the edge process",
                         epilog="example: lanewatch-edge run --config /etc/lanewatch/edge/gate1.yaml")
    run.add_argument("--config", required=True, help="edge config file (YAML)")
    run.add_argument("--exit-at-end", action="store_true",
                     help="exit when every video file has ended and all events are delivered")
    run.add_argument("--drain-timeout", type=float, default=60.0, metavar="S",
                     help="with --exit-at-end: give up waiting for delivery after S seconds (exit code 3)")
    run.set_defaults(func=_run)
    check = sub.add_parser("check-config", help="validate a config file and exit",
                           epilog="example: lanewatch-edge check-config --config edge.yaml")
    check.add_argument("--config", required=True)
    check.set_defaults(func=_check_config)
    from edge import doctor

    doc = sub.add_parser("doctor", help="check config, model, cameras, weighbridges, broker, clock, disk and outbox",
                         epilog="example: runuser -u lanewatch -G dialout -G video -- "
                                "lanewatch-edge doctor --config /etc/lanewatch/edge/gate1.yaml")
    doctor.add_arguments(doc)
    doc.set_defaults(func=_doctor)
    from edge import loadgen
    from edge.detect.cli import add_commands

    add_commands(sub)
    lg = sub.add_parser("loadgen", help="push synthetic events through the outbox and publisher (fault tests, bench)",
                        epilog="example: lanewatch-edge loadgen --config edge.yaml --count 10000 --rate 500")
    loadgen.add_arguments(lg)
    lg.set_defaults(func=loadgen.run)
    add_listing(sub, DELEGATED)
    return parser


# Installer tools with parsers of their own: `lanewatch-edge NAME --help` shows their options.
DELEGATED = {
    "weighbridge": Delegated("read a weighbridge indicator and print each reading and stable weight as JSON lines",
                             "edge.weighbridge.cli:main"),
    "read-plate": Delegated("read the licence plate in each image, one JSON line per image", "edge.plates.cli:main"),
}


def main(argv: list[str] | None = None) -> int:
    from edge.detect.cli import ToolError
    from edge.detect.models import ModelError

    return run_main("lanewatch-edge", argv, DELEGATED, build_parser, (ConfigError, ModelError, ToolError))


if __name__ == "__main__":
    sys.exit(main())
