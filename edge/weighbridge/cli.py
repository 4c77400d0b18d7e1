"""`lanewatch-edge weighbridge`: read an indicator and print what it says, one JSON object per line.

What an installer runs to check the cable:

    lanewatch-edge weighbridge --protocol yaohua-tf0 --port /dev/ttyUSB0 --baud 9600
    lanewatch-edge weighbridge --protocol toledo --port 192.168.1.50:4001 --duration 30
    lanewatch-edge weighbridge --protocol modbus-tcp --port 192.168.1.60:502 --register 0 --type int32

Each reading prints `{"ts": ..., "weight_kg": ..., "stable": true/false}`; each captured stable weight
prints `{"ts": ..., "event": "stable", "weight_kg": ...}` (overload/negative/zero-drift flags likewise with their
event name). Port state changes and errors go to stderr. Exit status 0 when at least one reading came,
1 when none did, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from edge.weighbridge.config import PROTOCOLS, WeighbridgeConfig, connection_kind, parse_config
from edge.weighbridge.reader import WeighbridgeReader
from edge.weighbridge.stable import StableWeight
from lanewatch.contract import format_ts

EXAMPLE = "example: lanewatch-edge weighbridge --protocol yaohua-tf0 --port /dev/ttyUSB0 --baud 9600"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lanewatch-edge weighbridge",
        description="Read a weighbridge indicator and print one JSON line per reading and per stable weight.",
        epilog=EXAMPLE,
    )
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS, help="indicator protocol")
    parser.add_argument(
        "--port", required=True, help="serial device (/dev/ttyUSB0) or HOST:PORT of a serial-to-Ethernet converter"
    )
    parser.add_argument("--baud", type=int, default=9600, help="serial line speed (default 9600)")
    parser.add_argument("--parity", choices=("N", "E", "O"), default="N", help="serial parity (default N)")
    parser.add_argument("--bytesize", type=int, choices=(7, 8), default=8, help="serial data bits (default 8)")
    parser.add_argument("--stopbits", type=int, choices=(1, 2), default=1, help="serial stop bits (default 1)")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--unit", choices=("kg", "t"), default="kg", help="Yaohua display unit (default kg)")
    parser.add_argument("--register", type=int, default=0, help="Modbus: weight register address (default 0)")
    parser.add_argument(
        "--type", dest="reg_type", default="int32", choices=("int16", "uint16", "int32", "uint32", "float32"),
        help="Modbus: weight register type (default int32)",
    )
    parser.add_argument("--word-order", choices=("big", "little"), default="big", help="Modbus: 32-bit word order")
    parser.add_argument("--scale", type=float, default=1.0, help="Modbus: kg per register unit (default 1)")
    parser.add_argument("--device-id", type=int, default=1, help="Modbus: device (slave) id (default 1)")
    parser.add_argument(
        "--config", help="YAML file holding a lane's `weighbridge:` mapping; overrides the options above except --port"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> WeighbridgeConfig:
    connection: dict[str, Any]
    host, sep, port = args.port.rpartition(":")
    if sep and not args.port.startswith("/") and port.isdigit():
        connection = {"kind": "tcp", "host": host, "port": int(port)}
    else:
        connection = {
            "kind": "serial", "device": args.port, "baud": args.baud, "parity": args.parity,
            "bytesize": args.bytesize, "stopbits": args.stopbits,
        }
    data: dict[str, Any] = {"protocol": args.protocol, "connection": connection}
    if args.protocol.startswith("yaohua"):
        data["unit"] = args.unit
    if args.protocol.startswith("modbus"):
        data["device_id"] = args.device_id
        data["registers"] = {
            "weight": {"address": args.register, "type": args.reg_type, "word_order": args.word_order,
                       "scale": args.scale}
        }
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh)
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config}: expected a mapping of weighbridge settings, got {type(loaded).__name__}")
        loaded = dict(loaded.get("weighbridge", loaded))
        # --port says where; the file may add line settings (baud, parity…) for the same kind of port.
        where = {k: connection[k] for k in ("kind", "device", "host", "port") if k in connection}
        from_file = loaded.get("connection") or {}
        if not isinstance(from_file, dict) or connection_kind(from_file) != where["kind"]:
            from_file = {}
        merged = {**connection, **from_file, **where}
        if where["kind"] == "serial":
            merged.pop("host", None)
            merged.pop("port", None)
        loaded["connection"] = merged
        data = loaded
    return parse_config(data)


def _iso(wall_s: float) -> str:
    return format_ts(datetime.fromtimestamp(wall_s, UTC))


def run(config: WeighbridgeConfig, duration_s: float | None, out: TextIO) -> int:
    reader = WeighbridgeReader(config, name=f"weighbridge[{config.protocol}]")
    deadline = None if duration_s is None else time.monotonic() + duration_s
    count, state = 0, None
    with reader:
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.05)
                for item in reader.drain():
                    count += 1
                    line = {"ts": _iso(item.wall_s), "weight_kg": item.reading.weight_kg, "stable": item.stable}
                    out.write(json.dumps(line) + "\n")
                for timed in reader.drain_events():
                    event = timed.event
                    kind = "stable" if isinstance(event, StableWeight) else event.kind
                    line = {"ts": _iso(timed.wall_s), "event": kind, "weight_kg": event.weight_kg}
                    out.write(json.dumps(line) + "\n")
                out.flush()
                if reader.state != state:
                    state = reader.state
                    print(f"weighbridge: {state} ({reader.source.describe()})", file=sys.stderr)
        except KeyboardInterrupt:
            pass
    errors = reader.source.stats
    print(
        f"weighbridge: {count} readings, {errors.checksum_errors} checksum errors, "
        f"{errors.framing_errors} framing errors, {reader.reconnects} reconnects",
        file=sys.stderr,
    )
    return 0 if count else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        parser.error(f"--duration must be > 0 seconds, got {args.duration}")
    try:
        config = config_from_args(args)
    except (ValidationError, ValueError, OSError, yaml.YAMLError) as exc:
        print(f"lanewatch-edge weighbridge: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(config, args.duration, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
