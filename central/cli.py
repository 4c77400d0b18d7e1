"""`lanewatch-central`: the central service and its tools."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import signal
import sys
import threading
import time

from central import users
from lanewatch.config import ConfigError, load_config
from lanewatch.logs import setup_logging
from lanewatch.subcommands import Delegated, add_listing, run_main

log = logging.getLogger("central")
EX_CONFIG = 78  # sysexits.h; the unit's RestartPreventExitStatus=78: a bad config does not heal by restarting


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from central.config import CentralConfig
    from central.exporter import collect
    from central.ingest import Ingest
    from central.web import Broadcaster, create_app
    from lanewatch.prometheus import serve
    from lanewatch.sdnotify import Watchdog

    try:
        config = load_config(args.config, CentralConfig)
    except ConfigError as exc:
        print(f"lanewatch-central: {exc}", file=sys.stderr)
        return EX_CONFIG
    setup_logging(service="central")
    # The MQTT network thread must get the interpreter back quickly from the writer and aggregator
    # threads, or QoS 1 acknowledgements queue up behind them and throttle the broker's delivery.
    sys.setswitchinterval(0.001)
    broadcaster = Broadcaster()
    ingest = Ingest(config, on_change=lambda change: broadcaster.notify_threadsafe("lanes"))
    app = create_app(config, broadcaster)
    server = uvicorn.Server(uvicorn.Config(app, host=config.http.host, port=config.http.port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    watchdog = Watchdog.for_systemd()
    beats = {loop: watchdog.register(loop, config.watchdog.stall_after_s) for loop in ("ingest", "aggregate")}
    ingest.on_progress = lambda loop: beats[loop].beat()
    serve(config.prometheus, lambda: collect(ingest, watchdog))
    ingest.start()
    log.info("board at http://%s:%d/", config.http.host, config.http.port)
    threading.Thread(target=_ready_when_serving, args=(server, watchdog), name="sd-ready", daemon=True).start()
    # uvicorn re-raises the stop signal once it has shut down; with only the default handler behind it,
    # that would kill the process before the ingest below commits, acknowledges and says STOPPING.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        watchdog.notifier.stopping()
        watchdog.stop()
        watchdog.notifier.close()
        ingest.stop()
    return 0


def _ready_when_serving(server, watchdog) -> None:  # noqa: ANN001 - uvicorn.Server, sdnotify.Watchdog
    """READY=1 once the board answers (uvicorn's `started`), then the progress-gated pings begin."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    watchdog.notifier.ready("ingesting; board at " + f"http://{server.config.host}:{server.config.port}/")
    watchdog.start()


def _doctor(args: argparse.Namespace) -> int:
    from central import doctor

    return doctor.run(args)


def _schema(args: argparse.Namespace) -> int:
    from lanewatch.contract import json_schemas

    print(json.dumps(json_schemas(), indent=2, ensure_ascii=False))
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _clock(value: str | None) -> str:
    return "–" if value is None else value[:19].replace("T", " ")


TABLE = (("id", "id", str), ("lane", "lane", str), ("status", "status", str), ("matched", "method", str),
         ("plate", "plate", str), ("trailer", "trailer_plate", str), ("enter", "enter", _clock),
         ("gate", "gate", _clock), ("exit", "exit", _clock),
         ("wait", "wait_s", _duration), ("processing", "processing_s", _duration),
         ("crossing", "crossing_s", _duration))


def _marked(row: dict) -> dict:
    """A plate read below the uncertain level (central.history.UNCERTAIN_BELOW) is shown with a `?` after it."""
    out = dict(row)
    for plate, flag in (("plate", "plate_uncertain"), ("trailer_plate", "trailer_uncertain")):
        if row[flag]:
            out[plate] = f"{row[plate]}?"
    return out


def print_table(rows: list[dict]) -> None:
    rows = [_marked(r) for r in rows]
    cells = [[fmt(r[key]) if r[key] is not None else "–" for _, key, fmt in TABLE] for r in rows]
    widths = [max([len(title)] + [len(c[i]) for c in cells]) for i, (title, _, _) in enumerate(TABLE)]
    print("  ".join(title.ljust(w) for (title, _, _), w in zip(TABLE, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))


def _query(args: argparse.Namespace) -> int:
    from contextlib import closing

    from central import history
    from central.config import CentralConfig

    config = load_config(args.config, CentralConfig)
    try:
        if args.limit is not None and args.limit < 1:
            raise history.QueryError(f"--limit must be at least 1, got {args.limit}")
        zone = history.zone(args.tz)
        if args.site is not None and config.site(args.site) is None:
            raise history.QueryError(f"no site {args.site!r} in {args.config}")
        if args.lane is not None and args.site is not None and config.lane(args.site, args.lane) is None:
            raise history.QueryError(f"no lane {args.site}/{args.lane} in {args.config}")
        flt = history.Filter(
            site=args.site, lane=args.lane, direction=args.direction, plate=args.plate, plate_part=args.plate_contains,
            status=args.status,
            start=history.parse_time(args.from_, zone, "--from") if args.from_ else None,
            end=history.parse_time(args.to, zone, "--to") if args.to else None,
        ).check()
        with closing(history.connect(config.database)) as conn:
            if args.format == "csv":
                rows = history.iter_all(conn, flt, zone, args.order or "asc")
                if args.limit:
                    rows = itertools.islice(rows, args.limit)
                for chunk in history.csv_chunks(rows):
                    sys.stdout.write(chunk)
                return 0
            page = history.page(conn, flt, zone, args.limit or 100, args.cursor, args.order or "desc")
    except history.QueryError as exc:
        print(f"lanewatch-central query: {exc}", file=sys.stderr)
        return 2
    print_table(page.rows)
    shown = f"{len(page.rows)} crossing(s), times in {zone}"
    print(shown + (f"; more with --cursor {page.next_cursor}" if page.next_cursor else ""), file=sys.stderr)
    return 0


def _lane(args: argparse.Namespace) -> int:
    from central.config import CentralConfig
    from central.store import Store, iso_utc

    config = load_config(args.config, CentralConfig)
    if config.lane(args.site, args.lane) is None:
        print(f"lanewatch-central lane: no lane {args.site}/{args.lane} in {args.config}", file=sys.stderr)
        return 2
    store = Store(config.database)
    try:
        row = store.set_lane_open(args.site, args.lane, args.action == "open", args.by, args.note)
    finally:
        store.close()
    state = "open" if row["open"] else "closed"
    print(f"{args.site}/{args.lane} {state} by {row['by']} at {iso_utc(row['at'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lanewatch-central", description="Central service of lanewatch.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest events and serve the board",
                         epilog="example: lanewatch-central run --config central.yaml")
    run.add_argument("--config", required=True, help="central config file (YAML)")
    run.set_defaults(func=_run)
    schema = sub.add_parser("schema", help="print the JSON Schema of every message",
                            epilog="example: lanewatch-central schema > events.schema.json")
    schema.set_defaults(func=_schema)

    query = sub.add_parser(
        "query", help="find crossings in the history (table or CSV; `?` after a plate: an uncertain read)",
        epilog="example: lanewatch-central query --config central.yaml --lane out-1 --from 2026-11-30 --to 2026-12-01 "
               "--plate-contains 12345 --tz vn")
    query.add_argument("--config", required=True, help="central config file (YAML)")
    query.add_argument("--site", help="site id")
    query.add_argument("--lane", help="lane id")
    query.add_argument("--direction", choices=["export", "import"], help="export (VN→CN) or import (CN→VN)")
    query.add_argument("--plate", help="whole plate, e.g. 24C-123.45; a trailer's plate finds its tractor's crossing")
    query.add_argument("--plate-contains", help="any part of the plate (or of the trailer's), e.g. 12345")
    query.add_argument("--from", dest="from_", metavar="TIME",
                       help="started at or after (ISO-8601; in --tz without offset)")
    query.add_argument("--to", metavar="TIME", help="started before (ISO-8601)")
    query.add_argument("--status", help="waiting, processing, complete, lost or partial")
    query.add_argument("--tz", default="vn", help="zone of times shown and given: vn (UTC+7, default), cn (UTC+8), "
                                                  "utc, an IANA zone or ±HH:MM")
    query.add_argument("--order", choices=["asc", "desc"],
                       help="by start time (table: newest first; CSV: oldest first)")
    query.add_argument("--limit", type=int, default=None, help="rows (table: one page, default 100, at most 1000; "
                                                             "CSV: default all)")
    query.add_argument("--cursor", help="next page of a table (printed at the end of the previous one)")
    query.add_argument("--format", choices=["table", "csv"], default="table")
    query.set_defaults(func=_query)

    lane = sub.add_parser("lane", help="open or close a lane (recorded with who and when)",
                          epilog="example: lanewatch-central lane close laocai-kimthanh2 in-3 --by 'Nguyễn Văn A' "
                                 "--config central.yaml")
    lane.add_argument("action", choices=["open", "close"])
    lane.add_argument("site", help="site id")
    lane.add_argument("lane", help="lane id")
    lane.add_argument("--by", required=True, help="who opens or closes it")
    lane.add_argument("--note", help="why")
    lane.add_argument("--config", required=True, help="central config file (YAML)")
    lane.set_defaults(func=_lane)
    users.add_parser(sub)
    from central import doctor

    doc = sub.add_parser("doctor", help="check config, database, broker account, clock, disk and web settings",
                         epilog="example: runuser -u lanewatch -- "
                                "lanewatch-central doctor --config /etc/lanewatch/central.yaml")
    doctor.add_arguments(doc)
    doc.set_defaults(func=_doctor)
    add_listing(sub, DELEGATED)
    return parser


# Broker and PKI tools with parsers of their own: `lanewatch-central NAME --help` shows their options.
DELEGATED = {
    "pki": Delegated("make a local CA and the broker's certificate for a site without internet", "central.pki:main"),
    "provision-edge": Delegated("create an edge's broker account, ACL block and config skeleton",
                                "central.provision:main_edge"),
    "provision-central": Delegated("create the central's broker account and ACL block",
                                   "central.provision:main_central"),
    "provision-kiosk": Delegated("create a read-only summaries account (dashboards, wall screens)",
                                 "central.provision:main_kiosk"),
}


def main(argv: list[str] | None = None) -> int:
    return run_main("lanewatch-central", argv, DELEGATED, build_parser, (ConfigError,))


if __name__ == "__main__":
    sys.exit(main())
