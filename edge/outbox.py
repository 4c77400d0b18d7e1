"""The durable outbox: every event is committed to local SQLite before anything tries to send it.

Durability choice: WAL with synchronous=FULL. In WAL mode FULL fsyncs the log at every commit,
so a committed event survives a power cut, not just a process crash (NORMAL would only survive
the latter). The cost is one fsync per commit, which a group commit pays once for every event
that arrived meanwhile: producers hand events to a writer thread and never wait for the disk.
Sequence numbers are assigned at commit by that single writer, so they are gapless per edge.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# A builder receives the sequence number and returns (event id, topic, payload).
EventBuilder = Callable[[int], tuple[str, str, bytes]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    topic        TEXT NOT NULL,
    payload      BLOB NOT NULL,
    created_at   REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE delivered_at IS NULL;
"""


@dataclass(frozen=True)
class Pending:
    seq: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._incoming: queue.Queue[EventBuilder] = queue.Queue()
        self.committed = threading.Condition()
        self._last_seq = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._writer.start()

    # ------------------------------------------------------------ producers
    def submit(self, build: EventBuilder) -> None:
        """Queue an event for commit; returns at once."""
        self._incoming.put(build)

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
        self._writer.join(timeout=5)
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._incoming.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < 1000:
                try:
                    batch.append(self._incoming.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)
            for _ in batch:
                self._incoming.task_done()

    def _commit(self, batch: list[EventBuilder]) -> None:
        while True:
            try:
                with self._lock:
                    rows = []
                    for offset, build in enumerate(batch, start=1):
                        event_id, topic, payload = build(self._last_seq + offset)
                        rows.append((self._last_seq + offset, event_id, topic, payload, time.time()))
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany(
                        "INSERT INTO events (seq, id, topic, payload, created_at) VALUES (?, ?, ?, ?, ?)", rows
                    )
                    self._db.execute("COMMIT")
                    self._last_seq += len(rows)
                break
            except sqlite3.OperationalError as exc:
                # A full disk or a locked file: keep the batch in memory and try again, never drop it.
                with self._lock:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                log.error("outbox: cannot commit %d event(s): %s; retrying", len(batch), exc)
                if self._stop.wait(1.0):
                    return
        with self.committed:
            self.committed.notify_all()

    # ------------------------------------------------------------ publisher side
    def pending(self, after_seq: int, limit: int) -> list[Pending]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM events WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Pending(*row) for row in rows]

    def mark_delivered(self, seqs: list[int]) -> None:
        if not seqs:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE events SET delivered_at = ? WHERE seq = ?", [(now, s) for s in seqs])
            self._db.execute("COMMIT")

    def backlog(self) -> tuple[int, float | None]:
        """(events not yet acknowledged, age in seconds of the oldest of them)."""
        with self._lock:
            count, oldest = self._db.execute(
                "SELECT count(*), min(created_at) FROM events WHERE delivered_at IS NULL"
            ).fetchone()
        return count, (time.time() - oldest) if oldest is not None else None
