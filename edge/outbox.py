"""The durable outbox: every event is committed to local SQLite before anything tries to send it.

Durability: WAL with synchronous=FULL for the commits that create events. In WAL mode FULL fsyncs
the log at every commit, so a committed event survives a power cut, not just a process crash.
NORMAL would only survive a crash: after a power cut the last commits could vanish, and with them
sequence numbers that were already published — the next events would then reuse those numbers
for different events. Commit-before-publish is only a promise if the commit is on the disk.
The price, one fsync per commit, is paid once per group: producers hand events to a writer thread
and never wait for the disk; the writer commits whatever arrived meanwhile in one transaction.
Bookkeeping writes (delivered marks, pruning) run at NORMAL: losing one in a power cut only means
an event is sent again or pruned again, and the next FULL commit makes them durable anyway.

Sequence numbers are assigned at commit by that single writer, so they are gapless per edge, and
the highest one ever used is kept in `meta`, so pruning every event never makes a number come back.
`meta` also counts the edge's runs (`run`, one more at each start): the edge numbers its tracks from
`run * TRACKS_PER_RUN`, so a restarted edge never reuses the track ids of a truck the central still knows.

Plate crops live in their own table: they travel inside the event (`crop_jpeg_b64`, merged back
in when the event is sent) but are stored apart so that they can go first when space is short,
and have their own, shorter retention. An event whose crop was pruned is sent without it.

Disk: limits are measured in database pages in use. Above `max_bytes` crops go (oldest first),
then delivered events (confirmed by the central first, oldest first). Undelivered events are only
dropped above `hard_limit_bytes`, oldest first, recorded in `dropped` and raised as an alarm.
A disk with less room than the hard limit lowers it: before each batch the writer checks the free
space (keeping a reserve for the write-ahead log) and applies the same rules, reason "disk full".
If the disk still refuses a commit (SQLITE_FULL: someone else took the last blocks), the batch
stays in memory, the log is truncated to give its space back, room is made by the same rules and
the commit is retried in smaller pieces; nothing is half-written because every change is one
SQLite transaction, and the producers never wait.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import OutboxConfig
from lanewatch import contract
from lanewatch.contract import LaneEvent, OutboxHealth

log = logging.getLogger(__name__)

# A builder receives the sequence number the event gets and returns the event.
EventBuilder = Callable[[int], LaneEvent]

MAX_BATCH = 1000  # events per group commit
MAX_QUEUED = 50_000  # events waiting in memory for the writer; beyond it (disk stuck) new ones are dropped
RETRY_S = 1.0  # between commit attempts while the disk refuses
AGE_PRUNE_EVERY_S = 60.0
ROW_OVERHEAD = 120  # bytes an event row costs beside its payload (id index, pending index, page slack)
DAY_S = 86_400.0
REASONS = {"hard limit": "hard limit reached", "disk full": "disk full"}  # why undelivered events were dropped

MIGRATIONS: list[list[str]] = [
    [  # 1: the first outbox
        """CREATE TABLE IF NOT EXISTS events (
            seq          INTEGER PRIMARY KEY,
            id           TEXT NOT NULL UNIQUE,
            topic        TEXT NOT NULL,
            payload      BLOB NOT NULL,
            created_at   REAL NOT NULL,
            delivered_at REAL
        )""",
        "CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE delivered_at IS NULL",
    ],
    [  # 2: crops apart, durable last seq, receipts, records of what limits removed
        "ALTER TABLE events ADD COLUMN crops INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE crops (
            id         INTEGER PRIMARY KEY,
            seq        INTEGER NOT NULL,
            plate      INTEGER NOT NULL,
            b64        TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX crops_event ON crops(seq, plate)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta SELECT 'last_seq', coalesce(max(seq), 0) FROM events",
        "INSERT INTO meta VALUES ('confirmed_seq', 0)",
        """CREATE TABLE dropped (
            first_seq INTEGER PRIMARY KEY,
            last_seq  INTEGER NOT NULL,
            at        REAL NOT NULL,
            reason    TEXT NOT NULL
        )""",
        # One row per pruning step, with what was left of the things that must go first.
        """CREATE TABLE prune_log (
            id             INTEGER PRIMARY KEY,
            at             REAL NOT NULL,
            kind           TEXT NOT NULL,
            reason         TEXT NOT NULL,
            count          INTEGER NOT NULL,
            first_seq      INTEGER,
            last_seq       INTEGER,
            crops_left     INTEGER NOT NULL,
            delivered_left INTEGER NOT NULL
        )""",
    ],
    [  # 3: a counter of the edge's runs
        "INSERT INTO meta VALUES ('runs', 0)",
    ],
]
TRACKS_PER_RUN = 1_000_000  # track ids of run r are r * TRACKS_PER_RUN + 1, + 2, ...


@dataclass(frozen=True)
class Pending:
    seq: int
    topic: str
    payload: bytes


@dataclass
class _Row:
    seq: int
    id: str
    topic: str
    payload: bytes
    created_at: float
    crops: list[tuple[int, str]] = field(default_factory=list)


def _size(row: _Row) -> int:
    """Bytes a row will take in the database, roughly."""
    return len(row.payload) + ROW_OVERHEAD + sum(len(b64) + ROW_OVERHEAD for _, b64 in row.crops)


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def _ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s in sorted(seqs):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return [(a, b) for a, b in out]


def _format_ranges(ranges: list[tuple[int, int]], limit: int = 3) -> str:
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    return text + (f" and {len(ranges) - limit} more range(s)" if len(ranges) > limit else "")


def with_crops(payload: bytes, crops: list[tuple[int, str]]) -> bytes:
    """The event payload with its stored crops put back, best plate first, as far as the size limit allows."""
    data = json.loads(payload)
    plates = data.get("plates") or []
    size = len(payload)
    for plate, b64 in sorted(crops):
        extra = len(b64) + len(',"crop_jpeg_b64":""')
        if plate < len(plates) and size + extra <= contract.MAX_PAYLOAD_BYTES:
            plates[plate]["crop_jpeg_b64"] = b64
            size += extra
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class Outbox:
    def __init__(self, path: Path, limits: OutboxConfig | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limits = limits or OutboxConfig()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        # Keep the write-ahead log small beside the database: checkpoint and trim it at a 16th of the
        # hard limit or of the disk, whichever is smaller (SQLite's default is 1000 pages).
        disk = os.statvfs(path.parent)
        self._wal_budget = max(32 * self._page_size, min(1000 * self._page_size,
                                                         int(self.limits.hard_limit_bytes) // 16,
                                                         disk.f_blocks * disk.f_frsize // 16))
        self._db.execute(f"PRAGMA wal_autocheckpoint={self._wal_budget // self._page_size}")
        self._db.execute(f"PRAGMA journal_size_limit={self._wal_budget}")
        self._sync("FULL")
        self._migrate()
        self._lock = threading.Lock()
        self._incoming: queue.Queue[EventBuilder] = queue.Queue(maxsize=MAX_QUEUED)
        self.on_commit: Callable[[], None] | None = None  # the publisher's wake-up call
        self.run: int = self._start_run()
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        highest = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        self._last_seq: int = max(meta["last_seq"], highest)
        self._confirmed: int = meta["confirmed_seq"]
        self._confirmed_saved = self._confirmed
        self._disk_full = False
        self.lost_in_memory = 0  # events dropped before they had a seq: the writer was stuck and memory full
        self._last_age_prune = 0.0
        self._refusals = 0  # commits the disk refused in a row
        self._growth = 1.5  # bytes a batch adds to the database per byte of `_size` (learnt as it goes)
        self._last_loud = 0.0
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._writer.start()

    def _sync(self, level: str) -> None:
        self._db.execute(f"PRAGMA synchronous={level}")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, statements in enumerate(MIGRATIONS, start=1):
            if version < number:
                self._db.execute("BEGIN IMMEDIATE")
                for sql in statements:
                    self._db.execute(sql)
                self._db.execute(f"PRAGMA user_version={number}")
                self._db.execute("COMMIT")

    def _start_run(self) -> int:
        """This start's run number, kept before any event is written. A disk too full for one small
        update still runs: the number then comes from the clock (seconds since 2026), past any count."""
        try:
            with self._db:
                self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'runs'")
            return int(self._db.execute("SELECT value FROM meta WHERE key = 'runs'").fetchone()[0])
        except sqlite3.Error as exc:
            if not _is_full(exc):
                raise
            log.error("outbox: cannot count this run (%s); numbering tracks from the clock", exc)
            return int(time.time()) - 1_767_225_600

    # ------------------------------------------------------------ producers
    def submit(self, build: EventBuilder) -> bool:
        """Queue an event for commit; returns at once. False when it had to be dropped: the disk has
        refused writes for so long that MAX_QUEUED events wait in memory."""
        try:
            self._incoming.put_nowait(build)
            return True
        except queue.Full:
            self.lost_in_memory += 1
            self._loud("outbox: %d event(s) dropped before they could be stored (disk refuses writes)",
                       self.lost_in_memory)
            return False

    @property
    def queued(self) -> int:
        """Events submitted and not yet committed."""
        return self._incoming.unfinished_tasks

    @property
    def last_seq(self) -> int:
        """The highest sequence number committed so far."""
        return self._last_seq

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed (shutdown, tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._incoming.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.flush()
        self._stop.set()
        self._writer.join(timeout=15)
        with self._lock:
            self._save_confirmed()
            self._db.close()

    # ------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        while True:
            try:
                builders = [self._incoming.get(timeout=0.5)]
            except queue.Empty:
                if self._stop.is_set():
                    return
                try:
                    self._maintain()
                except Exception:
                    log.exception("outbox: unexpected failure in maintenance")
                continue
            while len(builders) < MAX_BATCH:
                try:
                    builders.append(self._incoming.get_nowait())
                except queue.Empty:
                    break
            rows = self._build(builders)
            while rows:
                try:
                    stored = self._store(chunk := self._fit(rows))
                except Exception:  # the writer must outlive anything the disk does (a deleted folder...)
                    log.exception("outbox: unexpected failure while storing %d event(s); retrying", len(rows))
                    stored = False
                if stored:
                    rows = rows[len(chunk):]
                elif self._stop.wait(RETRY_S):
                    log.error("outbox: closing with %d event(s) that the disk refused (seq %d-%d)",
                              len(rows), rows[0].seq, rows[-1].seq)
                    break
            for _ in builders:
                self._incoming.task_done()

    def _fit(self, rows: list[_Row]) -> list[_Row]:
        """The first rows of a batch that fit comfortably: an eighth of what the disk can hold, halved
        again for every commit the disk refused in a row (down to one event)."""
        budget = max(64 << 10, self._capacity(0)[0] // 8) >> min(self._refusals, 16)
        total = 0.0
        for n, row in enumerate(rows):
            total += _size(row) * self._growth
            if total > budget:
                return rows[: max(1, n)]
        return rows

    def _store(self, rows: list[_Row]) -> bool:
        """Make room for the rows by the limits, then commit them."""
        estimate = sum(_size(r) for r in rows)
        self._maintain(incoming=int(estimate * self._growth))
        used_before = self._used_pages_bytes()
        if not self._commit(rows):
            return False
        # Learn how much a batch really takes (page slack, indexes) to make room for the next one.
        grown = (self._used_pages_bytes() - used_before) / estimate
        self._growth = min(3.0, max(1.0, 0.7 * self._growth + 0.3 * grown))
        return True

    def _build(self, builders: list[EventBuilder]) -> list[_Row]:
        rows: list[_Row] = []
        now = time.time()
        for build in builders:
            seq = self._last_seq + len(rows) + 1
            try:
                event = build(seq)
            except Exception:  # one broken event must not stop the others; its seq goes to the next one
                log.exception("outbox: cannot build event %d", seq)
                continue
            crops = [(i, p.crop_jpeg_b64) for i, p in enumerate(event.plates) if p.crop_jpeg_b64]
            if crops:
                event = event.model_copy(update={"plates": tuple(p.model_copy(update={"crop_jpeg_b64": None})
                                                                 for p in event.plates)})
            topic = contract.event_topic(event.site, event.lane)
            rows.append(_Row(seq, event.id, topic, contract.encode(event), now, crops))  # type: ignore[arg-type]
        return rows

    def _commit(self, rows: list[_Row]) -> bool:
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO events (seq, id, topic, payload, created_at, crops) VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.seq, r.id, r.topic, r.payload, r.created_at, len(r.crops)) for r in rows],
                )
                self._db.executemany(
                    "INSERT INTO crops (seq, plate, b64, created_at) VALUES (?, ?, ?, ?)",
                    [(r.seq, plate, b64, r.created_at) for r in rows for plate, b64 in r.crops],
                )
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (rows[-1].seq,))
                self._db.execute("COMMIT")
                self._last_seq = rows[-1].seq
            self._refusals = 0
            if self._disk_full:
                log.warning("outbox: the disk takes writes again")
                self._disk_full = False
        except sqlite3.Error as exc:
            with self._lock:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            if not _is_full(exc):
                log.error("outbox: cannot commit %d event(s): %s; retrying", len(rows), exc)
                return False
            if not self._disk_full:
                log.error("outbox: disk full, %d event(s) wait in memory; making room", len(rows))
            self._disk_full = True
            self._refusals += 1
            self._make_room(2 * sum(_size(r) for r in rows))
            return False
        if self.on_commit is not None:
            self.on_commit()
        return True

    # ------------------------------------------------------------ limits
    def _used_pages_bytes(self) -> int:
        with self._lock:
            return self._used_bytes()

    def _used_bytes(self) -> int:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self._page_size

    def _maintain(self, incoming: int = 0) -> None:
        """Age limits, then size limits with room for `incoming` bytes about to be committed."""
        now = time.time()
        try:
            with self._lock:
                self._sync("NORMAL")
                try:
                    self._save_confirmed()
                    if now - self._last_age_prune >= AGE_PRUNE_EVERY_S:
                        self._last_age_prune = now
                        self._prune_by_age(now)
                    if self._used_bytes() + incoming > self.limits.max_bytes:
                        self._shrink(int(self.limits.max_bytes * 0.9) - incoming, "size limit", undelivered=False)
                    hard, reason = self._capacity(incoming)
                    if self._used_bytes() + incoming > hard:
                        self._shrink(int(hard * 0.9) - incoming, reason, undelivered=True)
                finally:
                    self._sync("FULL")
        except sqlite3.Error as exc:  # a full disk can refuse even deletions; the next pass tries again
            with self._lock:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            self._loud("outbox: maintenance failed: %s", exc)

    def _capacity(self, incoming: int) -> tuple[int, str]:
        """The most the database may hold: the hard limit, or less when the disk has no more room.

        The disk's room keeps a reserve for the write-ahead log and a checkpoint (which grows the
        database file): with it, the outbox makes room by its own rules before SQLite meets a full disk.
        """
        disk = os.statvfs(self.path.parent)
        spare = disk.f_bavail * disk.f_frsize - 2 * (self._wal_budget + incoming)
        room = os.stat(self.path).st_size + max(0, spare)  # the file's own pages can always be reused
        if room < self.limits.hard_limit_bytes:
            return room, "disk full"
        return int(self.limits.hard_limit_bytes), "hard limit"

    def _make_room(self, needed: int) -> None:
        """The disk refused a commit: give back the log's space, then apply the limits as if the
        database were at its hard limit now."""
        try:
            with self._lock:
                # The refused transaction left its pages at the end of the log, taking the disk's last
                # blocks: a checkpoint with TRUNCATE returns them (the committed pages fit in the reserve).
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._sync("NORMAL")
                try:
                    self._shrink(self._used_bytes() - needed, "disk full", undelivered=True)
                finally:
                    self._sync("FULL")
        except sqlite3.Error as exc:
            with self._lock:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            self._loud("outbox: cannot make room on the full disk: %s; retrying", exc)

    def _save_confirmed(self) -> None:
        if self._confirmed != self._confirmed_saved:
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'confirmed_seq'", (self._confirmed,))
            self._confirmed_saved = self._confirmed

    def _prune_by_age(self, now: float) -> None:
        crop_cut = now - self.limits.crop_max_age_days * DAY_S
        event_cut = now - self.limits.max_age_days * DAY_S
        self._db.execute("BEGIN IMMEDIATE")
        gone = self._db.execute("DELETE FROM crops WHERE created_at < ? RETURNING seq", (crop_cut,)).fetchall()
        if gone:
            self._record("crops", "age", [s for (s,) in gone])
        seqs = [s for (s,) in self._db.execute(
            "DELETE FROM events WHERE delivered_at IS NOT NULL AND created_at < ? RETURNING seq", (event_cut,))]
        if seqs:
            self._db.execute("DELETE FROM crops WHERE seq IN (SELECT value FROM json_each(?))", (json.dumps(seqs),))
            self._record("delivered", "age", seqs)
        self._db.execute("COMMIT")

    def _shrink(self, target: int, reason: str, *, undelivered: bool) -> None:
        """Delete until the pages in use fit `target`: crops, then delivered events, then (if allowed) undelivered."""
        steps: list[tuple[str, str]] = [
            ("crops", "SELECT id, seq, length(b64) FROM crops ORDER BY id LIMIT 2000"),
            ("delivered", "SELECT seq, seq, length(payload) FROM events WHERE delivered_at IS NOT NULL AND seq <= :c "
                          "ORDER BY seq LIMIT 2000"),
            ("delivered", "SELECT seq, seq, length(payload) FROM events WHERE delivered_at IS NOT NULL "
                          "ORDER BY seq LIMIT 2000"),
        ]
        if undelivered:
            steps.append(("undelivered", "SELECT seq, seq, length(payload) FROM events WHERE delivered_at IS NULL "
                                         "ORDER BY seq LIMIT 2000"))
        for kind, select in steps:
            for _ in range(1000):  # bounded: each round deletes at least one row or stops
                excess = self._used_bytes() - target
                if excess <= 0:
                    return
                picked, total = [], 0
                for key, seq, length in self._db.execute(select, {"c": self._confirmed}):
                    picked.append((key, seq))
                    total += length + (0 if kind == "crops" else ROW_OVERHEAD)
                    if total >= excess:
                        break
                if not picked:
                    break
                self._db.execute("BEGIN IMMEDIATE")
                keys = json.dumps([k for k, _ in picked])
                if kind == "crops":
                    self._db.execute("DELETE FROM crops WHERE id IN (SELECT value FROM json_each(?))", (keys,))
                else:
                    self._db.execute("DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))", (keys,))
                    self._db.execute("DELETE FROM crops WHERE seq IN (SELECT value FROM json_each(?))", (keys,))
                seqs = [s for _, s in picked]
                if kind == "undelivered":
                    for a, b in _ranges(seqs):  # one row per run of seqs: extend the previous drop when it adjoins
                        extended = self._db.execute(
                            "UPDATE dropped SET last_seq = ?, at = ? WHERE last_seq = ? AND reason = ?",
                            (b, time.time(), a - 1, reason)).rowcount
                        if not extended:
                            self._db.execute("INSERT INTO dropped VALUES (?, ?, ?, ?)", (a, b, time.time(), reason))
                self._record(kind, reason, seqs)
                self._db.execute("COMMIT")
                if kind == "undelivered":
                    self._loud("outbox: %s: dropped %d undelivered event(s), seq %s", REASONS.get(reason, reason),
                               len(seqs), _format_ranges(_ranges(seqs)), level=logging.ERROR, force=True)
                else:
                    log.info("outbox: %s: pruned %d %s (seq %d-%d)", reason, len(seqs),
                             "crop(s)" if kind == "crops" else "delivered event(s)", min(seqs), max(seqs))

    def _record(self, kind: str, reason: str, seqs: list[int]) -> None:
        crops_left = self._db.execute("SELECT count(*) FROM crops").fetchone()[0]
        delivered_left = self._db.execute("SELECT count(*) FROM events WHERE delivered_at IS NOT NULL").fetchone()[0]
        self._db.execute(
            "INSERT INTO prune_log (at, kind, reason, count, first_seq, last_seq, crops_left, delivered_left) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), kind, reason, len(seqs), min(seqs), max(seqs), crops_left, delivered_left),
        )

    def _loud(self, message: str, *args: object, level: int = logging.ERROR, force: bool = False) -> None:
        """Log problems that repeat at most every 10 s, unless `force` (every drop of events is logged)."""
        now = time.monotonic()
        if force or now - self._last_loud >= 10:
            self._last_loud = now
            log.log(level, message, *args)

    # ------------------------------------------------------------ publisher side
    def pending(self, after_seq: int, limit: int) -> list[Pending]:
        """Undelivered events after `after_seq`, in seq order, with their remaining crops put back."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, crops FROM events WHERE delivered_at IS NULL AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            with_crop = [r[0] for r in rows if r[3]]
            crops: dict[int, list[tuple[int, str]]] = {}
            if with_crop:
                for seq, plate, b64 in self._db.execute(
                    "SELECT seq, plate, b64 FROM crops WHERE seq IN (SELECT value FROM json_each(?))",
                    (json.dumps(with_crop),),
                ):
                    crops.setdefault(seq, []).append((plate, b64))
        return [Pending(seq, topic, with_crops(payload, crops[seq]) if seq in crops else payload)
                for seq, topic, payload, _ in rows]

    def mark_delivered(self, seqs: list[int]) -> None:
        if not seqs:
            return
        now = time.time()
        with self._lock:
            self._sync("NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("UPDATE events SET delivered_at = ? WHERE seq = ?", [(now, s) for s in seqs])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:  # a full disk: the marks are lost, the events are sent again later
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._loud("outbox: cannot mark %d event(s) delivered: %s", len(seqs), exc)
            finally:
                self._sync("FULL")

    def requeue(self, ranges: list[tuple[int, int | None]], delivered_before: float) -> list[int]:
        """Make delivered events in `ranges` (inclusive; None: no upper end) undelivered again, if they were
        delivered before `delivered_before`; returns their seqs. For events the central says it lacks."""
        seqs: list[int] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for first, last in ranges:
                seqs += [s for (s,) in self._db.execute(
                    "UPDATE events SET delivered_at = NULL WHERE seq BETWEEN ? AND ? AND delivered_at IS NOT NULL "
                    "AND delivered_at < ? RETURNING seq",
                    (first, last if last is not None else 2**62, delivered_before),
                )]
            self._db.execute("COMMIT")
        return sorted(seqs)

    def confirm(self, contiguous_seq: int) -> None:
        """The central's latest receipt: every event up to this seq is stored there."""
        self._confirmed = contiguous_seq

    @property
    def confirmed_seq(self) -> int:
        return self._confirmed

    # ------------------------------------------------------------ status
    def disk_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    def health(self) -> OutboxHealth:
        with self._lock:
            backlog = self._db.execute("SELECT count(*) FROM events WHERE delivered_at IS NULL").fetchone()[0]
            oldest = self._db.execute(
                "SELECT created_at FROM events WHERE delivered_at IS NULL ORDER BY seq LIMIT 1").fetchone()
            unconfirmed = self._db.execute(
                "SELECT count(*) FROM events WHERE seq > ? AND delivered_at IS NOT NULL", (self._confirmed,)
            ).fetchone()[0]
            dropped_total, last_drop = self._db.execute(
                "SELECT coalesce(sum(last_seq - first_seq + 1), 0), max(at) FROM dropped").fetchone()
            latest = [tuple(r) for r in self._db.execute(
                "SELECT first_seq, last_seq, reason FROM dropped ORDER BY first_seq DESC LIMIT 16")][::-1]
            used = self._used_bytes()
        alarm = self._alarm(used, dropped_total, last_drop, latest)
        return OutboxHealth(
            backlog=backlog, oldest_age_s=round(time.time() - oldest[0], 1) if oldest else None, alarm=alarm,
            unconfirmed=unconfirmed, disk_bytes=self.disk_bytes(), dropped_events=dropped_total,
            dropped_seqs=tuple((a, b) for a, b, _ in latest),
        )

    def _alarm(self, used: int, dropped_total: int, last_drop: float | None, latest: list[tuple]) -> str | None:
        parts = []
        if self._disk_full:
            parts.append(f"disk full: {self.queued} event(s) wait in memory")
        if last_drop is not None and time.time() - last_drop < self.limits.alarm_hold_h * 3600:
            reason = latest[-1][2]
            parts.append(f"{REASONS.get(reason, reason)}: {dropped_total} undelivered event(s) dropped, latest seq "
                         f"{_format_ranges([(a, b) for a, b, _ in latest][::-1])}")
        elif used > self.limits.max_bytes:
            parts.append(f"undelivered events use {used / 2**20:.1f} MiB, over the "
                         f"{self.limits.max_bytes.human_readable()} size limit; at "
                         f"{self.limits.hard_limit_bytes.human_readable()} the oldest are dropped")
        if self.lost_in_memory:
            parts.append(f"{self.lost_in_memory} event(s) lost before they could be stored")
        return "; ".join(parts) or None
