"""Delivery speed on loopback, with the real processes of the fault tests (tests/delivery_rig.py):
a Mosquitto, the central, and an edge running `edge.loadgen` through its real outbox and publisher.

- sustained publish rate: events committed to the outbox and acknowledged by the broker, per second
- drain: a 100,000-event backlog built during an outage, from the link's return to the last PUBACK
  (and to the last event in the central's store)
- latency from an event's creation to the central's store at a steady 20 events/s, p50 and p95
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from delivery_rig import Rig, _read, running_rig, wait_until  # noqa: E402

PUBLISH_COUNT = 30_000
BACKLOG = 100_000
STEADY_RATE, STEADY_SECONDS = 20.0, 30


def _publish_rate(tmp: Path) -> dict:
    with running_rig(tmp) as rig:
        summary = rig.finish_edge(rig.start_edge(PUBLISH_COUNT, until="delivered"), timeout=300)
        rate = PUBLISH_COUNT / summary["elapsed_s"]
        return {"name": f"publish rate, one edge through its outbox ({PUBLISH_COUNT:,} events)", "value": rate,
                "unit": "events/s", "target": ">= 2000", "ok": rate >= 2000}


def _undelivered(rig: Rig) -> int:
    return _read(rig.outbox_path, "SELECT count(*) FROM events WHERE delivered_at IS NULL")[0][0]


def _drain(tmp: Path) -> list[dict]:
    with running_rig(tmp, proxy=True, outbox={"max_bytes": "1GiB", "hard_limit_bytes": "2GiB"}) as rig:
        rig.proxy.cut()
        edge = rig.start_edge(BACKLOG, until="delivered", timeout=600)
        wait_until(lambda: rig.committed() >= BACKLOG, 300, "backlog committed", every=0.5)
        rig.proxy.restore()
        restored = time.monotonic()
        wait_until(lambda: _undelivered(rig) == 0, 600, "backlog delivered", every=0.05)
        delivered = time.monotonic() - restored
        wait_until(lambda: rig.stored() >= BACKLOG, 600, "backlog stored", every=0.1)
        stored = time.monotonic() - restored
        rig.finish_edge(edge)
        return [
            {"name": f"drain {BACKLOG:,}-event backlog: link back to last PUBACK", "value": delivered, "unit": "s",
             "target": "", "ok": None},
            {"name": f"drain {BACKLOG:,}-event backlog: link back to all in central store", "value": stored,
             "unit": "s", "target": "", "ok": None},
        ]


def _latency(tmp: Path) -> list[dict]:
    with running_rig(tmp) as rig:
        count = int(STEADY_RATE * STEADY_SECONDS)
        rig.finish_edge(rig.start_edge(count, rate=STEADY_RATE, until="confirmed"), timeout=STEADY_SECONDS + 60)
        rows = _read(rig.central_db, "SELECT ts, received_at FROM events")
        ms = sorted((received - datetime.fromisoformat(ts).timestamp()) * 1000 for ts, received in rows)
        p50, p95 = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
        return [
            {"name": f"latency creation -> central store at {STEADY_RATE:.0f}/s, p50", "value": p50, "unit": "ms",
             "target": "", "ok": None},
            {"name": f"latency creation -> central store at {STEADY_RATE:.0f}/s, p95", "value": p95, "unit": "ms",
             "target": "< 1000", "ok": p95 < 1000},
        ]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="lanewatch-bench-delivery-") as tmp:
        root = Path(tmp)
        (root / "rate").mkdir()
        (root / "drain").mkdir()
        (root / "latency").mkdir()
        return [_publish_rate(root / "rate"), *_drain(root / "drain"), *_latency(root / "latency")]
