"""`lanewatch-central`: the central service and its tools."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from central import users
from lanewatch.config import ConfigError, load_config
from lanewatch.logs import setup_logging

log = logging.getLogger("central")


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from central.config import CentralConfig
    from central.ingest import Ingest
    from central.web import Broadcaster, create_app

    config = load_config(args.config, CentralConfig)
    setup_logging(service="central")
    broadcaster = Broadcaster()
    ingest = Ingest(config, on_change=lambda change: broadcaster.notify_threadsafe("lanes"))
    app = create_app(config, broadcaster)
    server = uvicorn.Server(uvicorn.Config(app, host=config.http.host, port=config.http.port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    ingest.start()
    log.info("board at http://%s:%d/", config.http.host, config.http.port)
    try:
        server.run()
    finally:
        ingest.stop()
    return 0


def _schema(args: argparse.Namespace) -> int:
    from lanewatch.contract import json_schemas

    print(json.dumps(json_schemas(), indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lanewatch-central", description="Central service of lanewatch.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest events and serve the board", epilog="example: lanewatch-central run --config central.yaml")
    run.add_argument("--config", required=True, help="central config file (YAML)")
    run.set_defaults(func=_run)
    schema = sub.add_parser("schema", help="print the JSON Schema of every message", epilog="example: lanewatch-central schema > events.schema.json")
    schema.set_defaults(func=_schema)
    users.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"lanewatch-central: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
