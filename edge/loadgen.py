"""`lanewatch-edge loadgen`: push synthetic but valid lane events through an edge's real outbox and publisher.

For fault tests and benchmarks: the same Outbox, Publisher, config and status as `lanewatch-edge run`,
with a generator in place of the cameras. `--count N` is the total the outbox should hold, so a run
that was killed continues where its last commit ended when started again: N events in all, seq 1..N.
At the end it prints one JSON line with what it did and how long it took.

Example: lanewatch-edge loadgen --config edge.yaml --count 10000 --rate 500 --until confirmed
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime

from edge.config import EdgeConfig
from edge.delivery import Publisher
from edge.outbox import Outbox
from lanewatch import contract
from lanewatch.config import ConfigError, load_config
from lanewatch.contract import (
    EVENT_TYPES,
    ClockState,
    EnterEvent,
    ExitEvent,
    GateEvent,
    LaneEvent,
    LaneStatus,
    PlateRead,
    WeighEvent,
)
from lanewatch.ids import uuid7
from lanewatch.logs import setup_logging

log = logging.getLogger(__name__)

CLASSES = {"enter": EnterEvent, "gate": GateEvent, "weigh": WeighEvent, "exit": ExitEvent}
MAX_QUEUED = 10_000  # backpressure: the generator waits rather than let the outbox's memory queue fill


def synthetic_crop(seed: int = 7) -> str:
    """A small real JPEG (noise, plate-sized), base64: about 2 KB."""
    import cv2
    import numpy as np

    image = np.random.default_rng(seed).integers(0, 255, (32, 96), dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return base64.b64encode(jpeg.tobytes()).decode()


def make_builder(config: EdgeConfig, n: int, crop: str | None):
    """The n-th synthetic event (0-based): lanes in turn, each truck entering, passing the gate, weighing, leaving."""
    lane = config.lanes[n % len(config.lanes)]
    kind = EVENT_TYPES[(n // len(config.lanes)) % 4]
    track = n // (4 * len(config.lanes))
    plates = (PlateRead(text=f"24C{track % 100000:05d}", country="VN", confidence=0.9, valid_format=True,
                        crop_jpeg_b64=crop),) if crop else ()
    fields = dict(id=uuid7(), site=config.site, lane=lane.id, edge=config.edge_id, camera=lane.cameras[0].id,
                  ts=datetime.now(UTC), mono_ms=time.monotonic_ns() // 1_000_000,
                  clock=ClockState(synced=True, source="loadgen"), track_id=track, plates=plates)
    if kind == "weigh":
        fields |= dict(weight_kg=30_000.0 + track % 1000, window_s=2.5)

    def build(seq: int) -> LaneEvent:
        return CLASSES[kind](seq=seq, **fields)

    return build


def _publish_status(config: EdgeConfig, outbox: Outbox, publisher: Publisher) -> None:
    health = outbox.health()
    for lane in config.lanes:
        status = LaneStatus(site=config.site, lane=lane.id, edge=config.edge_id, ts=datetime.now(UTC),
                            clock=ClockState(synced=True, source="loadgen"), queue_occupancy=0, outbox=health)
        publisher.publish_retained(contract.status_topic(config.site, lane.id, config.edge_id), contract.encode(status))


def _done(until: str, count: int, outbox: Outbox, publisher: Publisher) -> bool:
    if outbox.last_seq < count:
        return False
    if until == "delivered":
        return outbox.health().backlog == 0
    if until == "confirmed":
        return publisher.confirmed_seq >= count
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="edge config file (YAML): site, edge id, lanes, mqtt, outbox")
    parser.add_argument("--count", type=int, required=True, help="events the outbox should hold in all (seq 1..N)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events per second (0: as fast as the outbox takes them)")
    parser.add_argument("--crop-every", type=int, default=0, help="give every K-th event a plate crop (0: none)")
    parser.add_argument("--until", choices=["committed", "delivered", "confirmed"], default="delivered",
                        help="exit once all N are committed, acknowledged by the broker, or confirmed by the central")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up (exit code 3) after this many seconds")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, EdgeConfig)
    setup_logging(site=config.site, edge=config.edge_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    outbox = Outbox(config.data_dir / "outbox.sqlite", config.outbox)
    publisher = Publisher(config.mqtt, config.site, config.edge_id, outbox, repair_after_s=config.outbox.repair_after_s)
    publisher.start()

    def status_loop() -> None:
        while not stop.wait(config.status_interval_s):
            _publish_status(config, outbox, publisher)

    threading.Thread(target=status_loop, name="status", daemon=True).start()
    crop = synthetic_crop() if args.crop_every else None
    first = outbox.last_seq
    todo = max(0, args.count - first)
    started = time.monotonic()
    deadline = started + args.timeout
    for i in range(todo):
        if stop.is_set() or time.monotonic() > deadline:
            break
        if args.rate > 0:
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        while outbox.queued > MAX_QUEUED and not stop.is_set():
            time.sleep(0.002)
        n = first + i
        outbox.submit(make_builder(config, n, crop if args.crop_every and (n + 1) % args.crop_every == 0 else None))
    outbox.flush(timeout=max(1.0, deadline - time.monotonic()))
    committed_s = time.monotonic() - started
    while not _done(args.until, args.count, outbox, publisher) and not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    done = _done(args.until, args.count, outbox, publisher)
    elapsed = time.monotonic() - started
    _publish_status(config, outbox, publisher)
    print(json.dumps({
        "count": args.count, "first_seq": first + 1, "produced": outbox.last_seq - first, "until": args.until,
        "reached": done, "commit_s": round(committed_s, 3), "elapsed_s": round(elapsed, 3),
        "reconnects": publisher.reconnects, "resent": publisher.resent,
    }), flush=True)
    publisher.stop()
    outbox.close()
    return 0 if done else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lanewatch-edge loadgen", description=__doc__.split("\n\n")[0],
        epilog="example: lanewatch-edge loadgen --config edge.yaml --count 10000 --rate 500")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"lanewatch-edge loadgen: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
