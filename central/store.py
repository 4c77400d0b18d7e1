"""The central history store: SQLite through sqlite-utils, with versioned migrations."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from central.assembly import Crossing
from lanewatch.contract import LaneEvent, LaneStatus, LaneSummary, format_ts


def iso_utc(epoch: float) -> str:
    """UTC epoch seconds as stored: ISO-8601 with milliseconds and `Z`."""
    return format_ts(datetime.fromtimestamp(round(epoch, 3), UTC))


def status_fresh_at(produced: float, synced: bool, received_at: float) -> float:
    """How recent an edge's lane status is, for staleness: its arrival, on the central's own clock — or
    its own time when that is older and the edge's clock is synchronised: a retained status that the broker
    hands over on (re)connecting arrives now but tells what the edge saw when it sent it, maybe hours ago.
    An unsynchronised edge clock may be off by hours either way: then only the arrival counts."""
    return min(received_at, produced) if synced else received_at


def _iso_or_none(epoch: float | None) -> str | None:
    return None if epoch is None else iso_utc(epoch)


def _v1(db: sqlite_utils.Database) -> None:
    db["events"].create(
        {"id": str, "type": str, "site": str, "lane": str, "edge": str, "camera": str, "seq": int,
         "ts": str, "mono_ms": int, "track_id": int, "received_at": float, "payload": str},
        pk="id",
    )
    db["events"].create_index(["site", "lane", "ts"])
    db["events"].create_index(["edge", "seq"])
    db["dead_letters"].create(
        {"id": int, "received_at": float, "topic": str, "reason": str, "payload": bytes}, pk="id"
    )
    db["lane_status"].create(
        {"site": str, "lane": str, "edge": str, "received_at": float, "payload": str}, pk=("site", "lane", "edge")
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Crossings and what feeds them: lane open/closed, sequence gaps, dead-letter kinds, lane samples."""
    db.execute("ALTER TABLE dead_letters ADD COLUMN kind TEXT")
    db["dead_letters"].create_index(["kind"])
    db["dead_letters"].create_index(["received_at"])
    # Times are UTC ISO-8601 with milliseconds (`...Z`), like events.ts: they sort as text.
    # `key` is the crossing's first event id, stable while assembly refines the crossing.
    db.execute("""
        CREATE TABLE crossings (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            site TEXT NOT NULL, lane TEXT NOT NULL, direction TEXT NOT NULL,
            status TEXT NOT NULL, method TEXT, plate_distance REAL,
            plate TEXT, plate_country TEXT,
            start_ts TEXT NOT NULL, enter_ts TEXT, gate_ts TEXT, weigh_ts TEXT, exit_ts TEXT, last_ts TEXT NOT NULL,
            weight_kg REAL, wait_s REAL, processing_s REAL, crossing_s REAL,
            event_ids TEXT NOT NULL, edges TEXT NOT NULL, clock_synced INTEGER NOT NULL, note TEXT,
            updated_at REAL NOT NULL
        )""")
    db.execute("CREATE INDEX crossings_lane_start ON crossings (site, lane, start_ts)")
    db.execute("CREATE INDEX crossings_site_start ON crossings (site, start_ts)")
    db.execute("CREATE INDEX crossings_start ON crossings (start_ts)")
    db.execute("CREATE INDEX crossings_plate ON crossings (plate, start_ts)")
    # Distinct plates with a trigram index: a partial plate finds its plates here, then their crossings.
    db.execute("CREATE TABLE plates (id INTEGER PRIMARY KEY, plate TEXT NOT NULL UNIQUE, first_ts TEXT, last_ts TEXT)")
    db.execute("CREATE VIRTUAL TABLE plates_fts USING fts5(plate, content='plates', content_rowid='id', "
               "tokenize='trigram')")
    db.execute("""CREATE TRIGGER plates_fts_add AFTER INSERT ON plates BEGIN
                    INSERT INTO plates_fts (rowid, plate) VALUES (new.id, new.plate); END""")
    db["lane_state"].create({"site": str, "lane": str, "open": int, "by": str, "at": float, "note": str},
                            pk=("site", "lane"))
    db["lane_state_log"].create({"id": int, "site": str, "lane": str, "open": int, "by": str, "at": float,
                                 "note": str}, pk="id")
    db["lane_state_log"].create_index(["site", "lane", "at"])
    db["lane_summaries"].create({"site": str, "lane": str, "computed_at": float, "payload": str}, pk=("site", "lane"))
    db["lane_samples"].create({"site": str, "lane": str, "minute": str, "queue_length": int, "waiting": int,
                               "camera_occupancy": int, "expected_wait_s": float}, pk=("site", "lane", "minute"))
    db["edge_sequences"].create({"site": str, "edge": str, "max_seq": int, "max_ts": float, "received": int,
                                 "missing": int, "resets": int, "gaps": str, "updated_at": float}, pk=("site", "edge"))


def _v3(db: sqlite_utils.Database) -> None:
    """Tractor-trailers: the trailer's plate beside the front plate, and how sure each read was.
    Cheap on a big history: added columns are NULL without touching a row, and the trailer index is partial
    (only rows with a trailer plate), so building it reads the table once and writes next to nothing.
    Trailer plates go into `plates` (and its trigram index) like front plates: a search finds either."""
    for column, kind in (("plate_confidence", "REAL"), ("trailer_plate", "TEXT"), ("trailer_country", "TEXT"),
                         ("trailer_confidence", "REAL")):
        db.execute(f"ALTER TABLE crossings ADD COLUMN {column} {kind}")
    db.execute("CREATE INDEX crossings_trailer_plate ON crossings (trailer_plate, start_ts) "
               "WHERE trailer_plate IS NOT NULL")


# Append only: a database is upgraded in place by running the steps it has not seen.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes, fsync at checkpoints
        self.migrate()

    @classmethod
    def reader(cls, conn: sqlite3.Connection) -> Store:
        """Reading through an open connection (the web side's read-only ones): no migration, no writes."""
        store = cls.__new__(cls)
        store.db = sqlite_utils.Database(conn)
        return store

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        for number, step in enumerate(MIGRATIONS, start=1):
            if self.version < number:
                with self.db.conn:
                    step(self.db)
                    self.db.execute(f"PRAGMA user_version = {number}")

    def add_events(self, events: list[LaneEvent]) -> int:
        """Insert events, ignoring ids already stored; returns how many were new."""
        return len(self.add_new_events(events))

    def add_new_events(self, events: list[LaneEvent]) -> list[LaneEvent]:
        """Insert events, ignoring ids already stored (or repeated in the batch); returns the new ones."""
        known = self.stored_event_ids(e.id for e in events)
        new: list[LaneEvent] = []
        for e in events:
            if e.id not in known:
                known.add(e.id)
                new.append(e)
        now = time.time()
        rows = [
            (e.id, e.type, e.site, e.lane, e.edge, e.camera, e.seq,
             e.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),  # = format_ts: ts is UTC, whole ms
             e.mono_ms, e.track_id, now, e.model_dump_json(exclude_none=True))
            for e in new
        ]
        with self.db.conn:
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO events (id, type, site, lane, edge, camera, seq, ts, mono_ms, track_id, "
                "received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return new

    def add_dead_letter(self, topic: str, reason: str, payload: bytes, kind: str | None = None) -> None:
        with self.db.conn:
            self.db["dead_letters"].insert(
                {"received_at": time.time(), "topic": topic, "reason": reason, "payload": payload, "kind": kind}
            )

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT coalesce(kind, 'other'), count(*) FROM dead_letters GROUP BY 1")
        return {kind: n for kind, n in rows}

    def dead_letters(self, limit: int = 50) -> list[dict]:
        rows = self.db.execute(
            "SELECT id, received_at, topic, kind, reason, substr(payload, 1, 200) FROM dead_letters "
            "ORDER BY id DESC LIMIT ?", [limit])
        return [{"id": i, "received_at": iso_utc(at), "topic": topic, "kind": kind, "reason": reason,
                 "payload_start": head.decode("utf-8", "replace") if isinstance(head, bytes) else head}
                for i, at, topic, kind, reason, head in rows]

    # ------------------------------------------------------------ crossings
    def lane_events_since(self, site: str, lane: str, start: float) -> Iterator[tuple[str, str]]:
        """(id, payload) of a lane's events at or after `start`, in time order."""
        yield from self.db.execute(
            "SELECT id, payload FROM events WHERE site = ? AND lane = ? AND ts >= ? ORDER BY ts",
            [site, lane, iso_utc(start)])

    def frozen_event_ids(self, site: str, lane: str, start: float, lookback_s: float) -> set[str]:
        """Events at or after `start` that belong to crossings starting before it (those stay as they are)."""
        ids: set[str] = set()
        rows = self.db.execute(
            "SELECT event_ids FROM crossings WHERE site = ? AND lane = ? AND start_ts >= ? AND start_ts < ? "
            "AND last_ts >= ?", [site, lane, iso_utc(start - lookback_s), iso_utc(start), iso_utc(start)])
        for (event_ids,) in rows:
            ids.update(json.loads(event_ids))
        return ids

    def crossing_events_since(self, site: str, lane: str, start: float) -> list[tuple[str, list[str]]]:
        """(key, event ids) of a lane's crossings starting at or after `start`."""
        return [(k, json.loads(ids)) for k, ids in self.db.execute(
            "SELECT key, event_ids FROM crossings WHERE site = ? AND lane = ? AND start_ts >= ?",
            [site, lane, iso_utc(start)])]

    def stored_event_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these event ids are in the events table."""
        ids = list(ids)
        found: set[str] = set()
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def write_crossings(self, site: str, lane: str, direction: str, changed: Iterable[Crossing],
                        removed: Iterable[str]) -> None:
        now = time.time()
        rows = [
            (c.key, site, lane, direction, c.status, c.method, c.plate_distance, c.plate, c.plate_country,
             iso_utc(c.start_ts), _iso_or_none(c.enter_ts), _iso_or_none(c.gate_ts), _iso_or_none(c.weigh_ts),
             _iso_or_none(c.exit_ts), iso_utc(c.last_ts), c.weight_kg, c.wait_s, c.processing_s, c.crossing_s,
             json.dumps(c.event_ids), ",".join(c.edges), int(c.clock_synced), c.note, now,
             c.plate_confidence, c.trailer_plate, c.trailer_country, c.trailer_confidence)
            for c in changed
        ]
        plates = [(text, r[9], r[9]) for r in rows for text in (r[7], r[25]) if text]
        with self.db.conn:
            self.db.conn.executemany(
                "DELETE FROM crossings WHERE key = ?", [(k,) for k in removed])
            self.db.conn.executemany("""
                INSERT INTO crossings (key, site, lane, direction, status, method, plate_distance, plate,
                    plate_country, start_ts, enter_ts, gate_ts, weigh_ts, exit_ts, last_ts, weight_kg, wait_s,
                    processing_s, crossing_s, event_ids, edges, clock_synced, note, updated_at,
                    plate_confidence, trailer_plate, trailer_country, trailer_confidence)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET status = excluded.status, method = excluded.method,
                    plate_distance = excluded.plate_distance, plate = excluded.plate,
                    plate_country = excluded.plate_country, start_ts = excluded.start_ts,
                    enter_ts = excluded.enter_ts, gate_ts = excluded.gate_ts, weigh_ts = excluded.weigh_ts,
                    exit_ts = excluded.exit_ts, last_ts = excluded.last_ts, weight_kg = excluded.weight_kg,
                    wait_s = excluded.wait_s, processing_s = excluded.processing_s,
                    crossing_s = excluded.crossing_s, event_ids = excluded.event_ids, edges = excluded.edges,
                    clock_synced = excluded.clock_synced, note = excluded.note, updated_at = excluded.updated_at,
                    plate_confidence = excluded.plate_confidence, trailer_plate = excluded.trailer_plate,
                    trailer_country = excluded.trailer_country, trailer_confidence = excluded.trailer_confidence
                """, rows)
            self.db.conn.executemany("""
                INSERT INTO plates (plate, first_ts, last_ts) VALUES (?, ?, ?)
                ON CONFLICT (plate) DO UPDATE SET first_ts = min(first_ts, excluded.first_ts),
                    last_ts = max(last_ts, excluded.last_ts)""", plates)

    def finished_since(self, site: str, lane: str, since: float, lookback_s: float) -> list[dict]:
        """Crossings of a lane that passed the gate or left at or after `since` (started up to
        `lookback_s` earlier), plus lost ones that entered since."""
        cur = self.db.execute(
            "SELECT key, status, enter_ts, gate_ts, exit_ts, wait_s, processing_s, crossing_s FROM crossings "
            "WHERE site = ? AND lane = ? AND start_ts >= ? AND (gate_ts >= ? OR exit_ts >= ? OR status = 'lost')",
            [site, lane, iso_utc(since - lookback_s), *[iso_utc(since)] * 2])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def last_event_received(self, site: str, lane: str) -> float | None:
        row = self.db.execute("SELECT received_at FROM events WHERE site = ? AND lane = ? ORDER BY ts DESC LIMIT 1",
                              [site, lane]).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ lanes open / closed
    def lane_states(self) -> dict[tuple[str, str], dict]:
        """Lanes opened or closed by a person (config gives the rest), keyed by (site, lane)."""
        return {(r["site"], r["lane"]): r for r in self.db["lane_state"].rows}

    def set_lane_open(self, site: str, lane: str, is_open: bool, by: str, note: str | None = None) -> dict:
        row = {"site": site, "lane": lane, "open": int(is_open), "by": by, "at": time.time(), "note": note}
        with self.db.conn:
            self.db["lane_state"].upsert(row, pk=("site", "lane"))
            self.db["lane_state_log"].insert(row)
        return row

    def lane_state_log(self, site: str, lane: str, limit: int = 50) -> list[dict]:
        return list(self.db["lane_state_log"].rows_where("site = ? AND lane = ?", [site, lane],
                                                          order_by="at DESC, id DESC", limit=limit))

    # ------------------------------------------------------------ summaries and samples
    def put_summary(self, summary: LaneSummary, computed_at: float) -> None:
        with self.db.conn:
            self.db["lane_summaries"].upsert(
                {"site": summary.site, "lane": summary.lane, "computed_at": computed_at,
                 "payload": summary.model_dump_json(exclude_none=True)}, pk=("site", "lane"))

    def summaries(self) -> dict[tuple[str, str], dict]:
        return {(r["site"], r["lane"]): json.loads(r["payload"]) | {"computed_at": r["computed_at"]}
                for r in self.db["lane_summaries"].rows}

    def put_sample(self, site: str, lane: str, minute: str, queue_length: int | None, waiting: int | None,
                   camera_occupancy: int | None, expected_wait_s: float | None) -> None:
        with self.db.conn:
            self.db["lane_samples"].upsert(
                {"site": site, "lane": lane, "minute": minute, "queue_length": queue_length, "waiting": waiting,
                 "camera_occupancy": camera_occupancy, "expected_wait_s": expected_wait_s},
                pk=("site", "lane", "minute"))

    def samples(self, site: str, lane: str, start: str, end: str) -> list[dict]:
        return list(self.db["lane_samples"].rows_where(
            "site = ? AND lane = ? AND minute >= ? AND minute < ?", [site, lane, start, end], order_by="minute"))

    # ------------------------------------------------------------ per-edge sequences
    def put_sequences(self, rows: list[dict]) -> None:
        # Plain SQL: after every stored batch, where sqlite-utils' table lookups would cost more than the write.
        columns = ("site", "edge", "max_seq", "max_ts", "received", "missing", "resets", "gaps", "updated_at")
        sql = f"INSERT OR REPLACE INTO edge_sequences ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with self.db.conn:
            self.db.conn.executemany(sql, [tuple(row[c] for c in columns) for row in rows])

    def sequences(self) -> list[dict]:
        return list(self.db["edge_sequences"].rows_where(order_by="site, edge"))

    def put_status(self, status: LaneStatus, received_at: float | None = None) -> None:
        """Keep an edge's latest status of a lane, latest by the status's own time: one that arrives after a
        newer one (a retained copy delivered late) changes nothing. `received_at`: its arrival (default now)."""
        with self.db.conn:
            self.db.execute(
                "INSERT INTO lane_status (site, lane, edge, received_at, payload) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (site, lane, edge) DO UPDATE SET received_at = excluded.received_at, "
                "payload = excluded.payload "
                "WHERE json_extract(excluded.payload, '$.ts') >= json_extract(lane_status.payload, '$.ts')",
                [status.site, status.lane, status.edge, time.time() if received_at is None else received_at,
                 status.model_dump_json(exclude_none=True)])

    def statuses(self) -> dict[tuple[str, str], list[dict]]:
        """Latest status of each edge watching a lane, keyed by (site, lane); `fresh_at` says how recent
        it is (see `status_fresh_at`)."""
        out: dict[tuple[str, str], list[dict]] = {}
        for r in self.db["lane_status"].rows:
            status = json.loads(r["payload"]) | {"received_at": r["received_at"]}
            status["fresh_at"] = status_fresh_at(datetime.fromisoformat(status["ts"]).timestamp(),
                                                 status["clock"]["synced"], r["received_at"])
            out.setdefault((r["site"], r["lane"]), []).append(status)
        return out

    def recent_events(self, site: str, lane: str, limit: int = 10) -> list[dict]:
        rows = self.db.query(
            "SELECT payload FROM events WHERE site = ? AND lane = ? ORDER BY ts DESC LIMIT ?", [site, lane, limit]
        )
        return [json.loads(r["payload"]) for r in rows]
