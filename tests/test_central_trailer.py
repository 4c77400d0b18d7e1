"""Tractor-trailers through the real ingest (a real Mosquitto, a real SQLite file): the queue edge reads the
front plate, the gate edge the tractor's and the rear camera's trailer plate; the crossing is joined by the
front plate, keeps the trailer's beside it with each plate's confidence, and `lanewatch-central query` finds
it by the trailer's plate, whole or in part, marking the uncertain read."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from central_rig import SITE, central_config, publish, wait_until

from central.config import CentralConfig
from central.history import UNCERTAIN_BELOW
from central.ingest import Ingest
from lanewatch import contract
from lanewatch.contract import ClockState, EnterEvent, ExitEvent, GateEvent, PlateRead, WeighEvent
from lanewatch.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent
CLOCK = ClockState(synced=True, offset_ms=2.0, source="chrony")


def read(text: str, confidence: float, role: str = "vehicle") -> PlateRead:
    country = "CN" if not text.isascii() else "VN"
    return PlateRead(text=text, country=country, role=role, confidence=confidence, valid_format=True)


class Edge:
    """One edge's events: gapless sequence numbers, a monotonic clock that follows the wall clock."""

    def __init__(self, name: str):
        self.name, self.seq = name, 0

    def event(self, kind: type, at: datetime, track: int, plates: tuple[PlateRead, ...] = (), **extra: object):
        self.seq += 1
        return kind(id=uuid7(), site=SITE, lane="out-1", edge=self.name, camera="cam1", seq=self.seq, ts=at,
                    mono_ms=int(at.timestamp() * 1000) % 10**9, clock=CLOCK, track_id=track, plates=plates, **extra)


@pytest.fixture
def central(tmp_path, broker):
    raw = central_config(tmp_path, broker)
    (tmp_path / "central.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    ingest = Ingest(CentralConfig.model_validate(raw))
    ingest.start()
    assert ingest.connected.wait(10)
    yield ingest, tmp_path / "central.yaml"
    ingest.stop()


def test_tractor_trailer_crossing_keeps_both_plates_and_is_found_by_the_trailer(central, broker):
    ingest, config_path = central
    q, g = Edge("q1"), Edge("g1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    tractor, trailer = "24C22222", "24R00555"
    events = [
        # A rigid truck, then a tractor-trailer whose front plate the queue camera read unsurely.
        q.event(EnterEvent, t0, 1, (read("24C11111", 0.91),)),
        q.event(EnterEvent, t0 + timedelta(seconds=60), 2, (read(tractor, 0.46),)),
        g.event(GateEvent, t0 + timedelta(seconds=300), 10, (read("24C11111", 0.9),)),
        g.event(ExitEvent, t0 + timedelta(seconds=400), 10, (read("24C11111", 0.9),)),
        g.event(GateEvent, t0 + timedelta(seconds=420), 11),
        g.event(WeighEvent, t0 + timedelta(seconds=450), 11,
                (read(tractor, 0.88, "tractor"), read(trailer, 0.41, "trailer")), weight_kg=38_500.0, window_s=3.0),
        # The trailer's plate read first this time (best first by the edge's vote): it must not become `plate`.
        g.event(ExitEvent, t0 + timedelta(seconds=520), 11,
                (read(trailer, 0.41, "trailer"), read(tractor, 0.88, "tractor"))),
    ]
    publish(broker, [(contract.event_topic(SITE, "out-1"), contract.encode(e)) for e in events])

    def crossings():
        db = sqlite3.connect(ingest.config.database)
        try:
            found = db.execute("SELECT status, method, plate, plate_confidence, trailer_plate, trailer_country, "
                               "trailer_confidence FROM crossings ORDER BY start_ts").fetchall()
        finally:
            db.close()
        return len(found) == 2 and all(r[0] == "complete" for r in found) and found

    rigid, truck = wait_until(crossings, what="both trucks assembled")
    assert rigid == ("complete", "plate", "24C11111", 0.91, None, None, None)
    # Joined by the front plate; the front plate's confidence is its surest read (0.88 at the gate, not 0.46).
    assert truck == ("complete", "plate", tractor, 0.88, trailer, "VN", 0.41)

    def query(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "central.cli", "query", "--config", str(config_path), *args],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)

    for search in (["--plate", "24R-005.55"], ["--plate-contains", "r0055"], ["--plate", tractor]):
        out = query(*search, "--format", "csv")
        assert out.returncode == 0, out.stderr
        (row,) = csv.DictReader(io.StringIO(out.stdout))
        assert (row["plate"], row["trailer_plate"], row["trailer_country"]) == (tractor, trailer, "VN"), search
        assert (row["plate_uncertain"], row["trailer_uncertain"]) == ("False", "True")
        assert float(row["trailer_confidence"]) == 0.41 < UNCERTAIN_BELOW <= float(row["plate_confidence"])
    table = query("--plate-contains", "005.55")
    assert table.returncode == 0, table.stderr
    header, line = table.stdout.splitlines()[:2]
    assert "trailer" in header.split() and f"{trailer}?" in line.split() and tractor in line.split()
    assert query("--plate", "24R00556", "--format", "csv").stdout.count("\n") == 1  # the header only


def test_the_uncertain_level_is_the_edge_readers_accept_level():
    """The pages call a read uncertain exactly where the edge's plate reader stops accepting one (its default)."""
    from edge.plates.reader import PlateReaderConfig

    assert UNCERTAIN_BELOW == PlateReaderConfig().accept_confidence
