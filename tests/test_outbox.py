"""The outbox on real SQLite files: gapless durable seqs, crops apart, limits by policy, migrations,
and a full disk (a real small tmpfs) that neither crashes nor corrupts it."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from delivery_rig import wait_until

from edge.config import EdgeConfig, OutboxConfig
from edge.loadgen import make_builder, synthetic_crop
from edge.outbox import TRACKS_PER_RUN, Outbox
from lanewatch import contract

CONFIG = EdgeConfig.model_validate({
    "site": "laocai", "edge_id": "gate1",
    "lanes": [{"id": "out-1", "direction": "export", "cameras": [{"id": "cam1", "source": {"type": "usb"}}]}],
})
CROP = synthetic_crop()


def fill(outbox: Outbox, n: int, crop_every: int = 0) -> None:
    first = outbox.last_seq + outbox.queued
    for i in range(n):
        k = first + i
        outbox.submit(make_builder(CONFIG, k, CROP if crop_every and (k + 1) % crop_every == 0 else None))
    assert outbox.flush(30)


def rows(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def deliver_all(outbox: Outbox) -> None:
    outbox.mark_delivered([p.seq for p in outbox.pending(0, 10**9)])


def test_seqs_are_gapless_and_never_reused_after_restart_and_pruning(tmp_path):
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    fill(outbox, 100)
    outbox.close()
    outbox = Outbox(path, OutboxConfig(max_age_days=1e-9))  # every delivered event is too old
    fill(outbox, 50)
    deliver_all(outbox)
    outbox._last_age_prune = 0.0
    outbox._maintain()
    assert rows(path, "SELECT count(*) FROM events") == [(0,)]
    outbox.close()
    outbox = Outbox(path)
    fill(outbox, 10)
    payloads = [json.loads(p.payload) for p in outbox.pending(0, 100)]
    assert [e["seq"] for e in payloads] == list(range(151, 161))
    outbox.close()


def test_each_start_is_a_new_run_so_track_ids_never_come_back(tmp_path):
    """The edge numbers tracks from run * TRACKS_PER_RUN: a restart (or a crash before any event)
    must still move to a new run, and an outbox of the previous version starts counting."""
    path = tmp_path / "outbox.sqlite"
    runs = []
    for _ in range(3):
        outbox = Outbox(path)
        runs.append(outbox.run)
        outbox.close()
    assert runs == [1, 2, 3]
    assert len({run * TRACKS_PER_RUN + track for run in runs for track in (1, 2, TRACKS_PER_RUN - 1)}) == 9


def test_crops_are_stored_apart_and_travel_inside_the_event(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    fill(outbox, 8, crop_every=4)
    stored = rows(outbox.path, "SELECT seq, payload FROM events ORDER BY seq")
    assert not any(b"crop_jpeg_b64" in p for _, p in stored)
    assert rows(outbox.path, "SELECT seq, plate FROM crops ORDER BY seq") == [(4, 0), (8, 0)]
    sent = {p.seq: p for p in outbox.pending(0, 100)}
    for seq in (4, 8):
        event = contract.decode_event(sent[seq].topic, sent[seq].payload)
        assert event.plates[0].crop_jpeg_b64 == CROP
    assert contract.decode_event(sent[5].topic, sent[5].payload).plates == ()
    outbox.close()


def test_size_limit_prunes_crops_then_delivered_events_but_keeps_undelivered(tmp_path):
    limits = OutboxConfig(max_bytes="600KiB", hard_limit_bytes="100MiB")
    outbox = Outbox(tmp_path / "outbox.sqlite", limits)
    fill(outbox, 500, crop_every=2)
    deliver_all(outbox)  # 1..500 delivered
    fill(outbox, 2000, crop_every=2)  # 501..2500 undelivered, far over the soft limit
    outbox._maintain()
    assert rows(outbox.path, "SELECT count(*) FROM crops") == [(0,)]
    assert rows(outbox.path, "SELECT count(*) FROM events WHERE delivered_at IS NOT NULL") == [(0,)]
    assert rows(outbox.path, "SELECT min(seq), max(seq), count(*) FROM events") == [(501, 2500, 2000)]
    # An event whose crop went is still sent, whole, without it.
    event = contract.decode_event(*(lambda p: (p.topic, p.payload))(outbox.pending(501, 1)[0]))
    assert event.seq == 502 and event.plates[0].crop_jpeg_b64 is None
    health = outbox.health()
    assert health.backlog == 2000 and health.dropped_events == 0
    assert "over the 600.0KiB size limit" in health.alarm
    outbox.close()


def test_hard_limit_drops_the_oldest_undelivered_and_says_so(tmp_path, caplog):
    limits = OutboxConfig(max_bytes="300KiB", hard_limit_bytes="600KiB")
    outbox = Outbox(tmp_path / "outbox.sqlite", limits)
    fill(outbox, 3000)
    dropped = rows(outbox.path, "SELECT first_seq, last_seq, reason FROM dropped")
    assert len(dropped) == 1 and dropped[0][0] == 1 and dropped[0][2] == "hard limit"
    last = dropped[0][1]
    assert rows(outbox.path, "SELECT min(seq), max(seq), count(*) FROM events") == [(last + 1, 3000, 3000 - last)]
    health = outbox.health()
    assert health.dropped_events == last and health.dropped_seqs == ((1, last),)
    assert health.alarm.startswith(f"hard limit reached: {last} undelivered event(s) dropped, latest seq 1-{last}")
    assert any("hard limit reached: dropped" in r.getMessage() for r in caplog.records)
    outbox.close()


def test_requeue_sends_delivered_events_again(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    fill(outbox, 10)
    deliver_all(outbox)
    assert outbox.pending(0, 100) == []
    assert outbox.requeue([(3, 4), (8, None)], delivered_before=time.time() + 1) == [3, 4, 8, 9, 10]
    assert [p.seq for p in outbox.pending(0, 100)] == [3, 4, 8, 9, 10]
    assert outbox.requeue([(1, None)], delivered_before=0) == []  # too recently delivered
    outbox.close()


def test_a_first_version_outbox_is_migrated(tmp_path):
    path = tmp_path / "outbox.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,
                             payload BLOB NOT NULL, created_at REAL NOT NULL, delivered_at REAL);
        CREATE INDEX events_pending ON events(seq) WHERE delivered_at IS NULL;
    """)
    for seq in (1, 2):
        event = make_builder(CONFIG, seq - 1, None)(seq)
        old.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, event.id, contract.event_topic(event.site, event.lane), contract.encode(event), time.time(),
                     time.time() if seq == 1 else None))
    old.commit()
    old.close()
    outbox = Outbox(path)
    assert [p.seq for p in outbox.pending(0, 10)] == [2]
    fill(outbox, 1)
    assert [p.seq for p in outbox.pending(0, 10)] == [2, 3]
    assert outbox.run == 1
    outbox.close()
    assert rows(path, "PRAGMA user_version") == [(3,)]


def test_submit_never_waits_for_the_disk(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    blocker = sqlite3.connect(tmp_path / "outbox.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer cannot commit while this is held
    done = threading.Event()

    def produce() -> None:
        fill_without_flush = [outbox.submit(make_builder(CONFIG, i, None)) for i in range(2000)]
        assert all(fill_without_flush)
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    assert done.wait(20), "submit() blocked while the disk was unavailable"
    assert outbox.last_seq == 0
    blocker.execute("ROLLBACK")
    blocker.close()
    assert outbox.flush(30)
    assert [json.loads(p.payload)["seq"] for p in outbox.pending(0, 5000)] == list(range(1, 2001))
    outbox.close()


class SmallDisk:
    """A 2 MiB disk. As root (here and in CI): a real tmpfs, filled for real (ENOSPC from the kernel).
    Otherwise an emulation, said so in the test's id: SQLite's `max_page_count` on the outbox's own
    connection caps the file at 2 MiB (SQLITE_FULL from SQLite itself)."""

    def __init__(self, folder: Path, real: bool):
        self.folder, self.real = folder, real
        self._filler = folder / "filler"

    def attach(self, outbox: Outbox) -> None:
        if not self.real:
            self._max_pages(outbox, (2 << 20) // 4096)

    def fill(self, outbox: Outbox) -> None:
        """Someone else takes every last block."""
        if not self.real:
            with outbox._lock:
                pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
            self._max_pages(outbox, pages)
            return
        with open(self._filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    def free(self, outbox: Outbox) -> None:
        if self.real:
            self._filler.unlink()
        else:
            self._max_pages(outbox, 1 << 30)

    @staticmethod
    def _max_pages(outbox: Outbox, pages: int) -> None:
        with outbox._lock:
            outbox._db.execute(f"PRAGMA max_page_count={pages}")


@pytest.fixture(params=["tmpfs" if os.geteuid() == 0 else "emulated"])
def small_disk(request, tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    if request.param == "emulated":
        yield SmallDisk(folder, real=False)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], check=True)
    yield SmallDisk(folder, real=True)
    subprocess.run(["umount", "-l", str(folder)], check=True)


def test_the_outbox_makes_room_by_policy_as_its_disk_fills(small_disk, caplog):
    path = small_disk.folder / "outbox.sqlite"
    outbox = Outbox(path)  # default limits: 4 GiB, far beyond this 2 MiB disk
    small_disk.attach(outbox)
    fill(outbox, 200, crop_every=5)
    deliver_all(outbox)  # 1..200 delivered: they go before any undelivered event
    fill(outbox, 6000, crop_every=5)
    assert outbox._writer.is_alive()

    dropped = rows(path, "SELECT first_seq, last_seq, reason FROM dropped ORDER BY first_seq")
    assert dropped and dropped[0][0] == 201 and {r for *_, r in dropped} == {"disk full"}
    log = rows(path, "SELECT kind, crops_left, delivered_left FROM prune_log WHERE kind = 'undelivered'")
    assert log and all(r[1:] == (0, 0) for r in log)
    held = [s for (s,) in rows(path, "SELECT seq FROM events ORDER BY seq")]
    gone = {s for a, b, _ in dropped for s in range(a, b + 1)}
    assert sorted(set(held) | gone) == list(range(201, 6201))  # every seq accounted for, none twice
    assert not set(held) & gone
    health = outbox.health()
    assert health.dropped_events == len(gone) and health.alarm.startswith("disk full: ")
    assert any("disk full: dropped" in r.getMessage() for r in caplog.records)
    outbox.close()
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


def test_a_full_disk_neither_crashes_nor_corrupts_the_outbox(small_disk, caplog):
    path = small_disk.folder / "outbox.sqlite"
    outbox = Outbox(path)
    small_disk.attach(outbox)
    fill(outbox, 100)
    small_disk.fill(outbox)
    for k in range(100, 3100):
        assert outbox.submit(make_builder(CONFIG, k, None))  # the producer never notices
    wait_until(lambda: any("disk full, " in r.getMessage() for r in caplog.records), 10, "the disk refuses a commit")
    assert outbox._writer.is_alive()
    assert outbox.health().alarm.startswith("disk full: ")  # events wait in memory, or the oldest made room
    small_disk.free(outbox)
    assert outbox.flush(30)
    assert "wait in memory" not in (outbox.health().alarm or "")
    held = [json.loads(p.payload)["seq"] for p in outbox.pending(0, 10_000)]
    dropped = {s for a, b in rows(path, "SELECT first_seq, last_seq FROM dropped") for s in range(a, b + 1)}
    assert sorted(set(held) | dropped) == list(range(1, 3101)) and not set(held) & dropped
    outbox.close()
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    outbox = Outbox(path)  # and it opens again and goes on
    fill(outbox, 10)
    assert outbox.last_seq == 3110
    outbox.close()
