"""The central history store: SQLite through sqlite-utils, with versioned migrations."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from lanewatch.contract import LaneEvent, LaneStatus, format_ts


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


# Append only: a database is upgraded in place by running the steps it has not seen.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes, fsync at checkpoints
        self.migrate()

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
        before = self.db.execute("SELECT total_changes()").fetchone()[0]
        now = time.time()
        rows = [
            {"id": e.id, "type": e.type, "site": e.site, "lane": e.lane, "edge": e.edge, "camera": e.camera,
             "seq": e.seq, "ts": format_ts(e.ts), "mono_ms": e.mono_ms, "track_id": e.track_id,
             "received_at": now, "payload": e.model_dump_json(exclude_none=True)}
            for e in events
        ]
        with self.db.conn:
            self.db["events"].insert_all(rows, ignore=True)
        return self.db.execute("SELECT total_changes()").fetchone()[0] - before

    def add_dead_letter(self, topic: str, reason: str, payload: bytes) -> None:
        with self.db.conn:
            self.db["dead_letters"].insert(
                {"received_at": time.time(), "topic": topic, "reason": reason, "payload": payload}
            )

    def put_status(self, status: LaneStatus) -> None:
        with self.db.conn:
            self.db["lane_status"].upsert(
                {"site": status.site, "lane": status.lane, "edge": status.edge, "received_at": time.time(),
                 "payload": status.model_dump_json(exclude_none=True)},
                pk=("site", "lane", "edge"),
            )

    def statuses(self) -> dict[tuple[str, str], list[dict]]:
        """Latest status of each edge watching a lane, keyed by (site, lane)."""
        out: dict[tuple[str, str], list[dict]] = {}
        for r in self.db["lane_status"].rows:
            out.setdefault((r["site"], r["lane"]), []).append(json.loads(r["payload"]) | {"received_at": r["received_at"]})
        return out

    def recent_events(self, site: str, lane: str, limit: int = 10) -> list[dict]:
        rows = self.db.query(
            "SELECT payload FROM events WHERE site = ? AND lane = ? ORDER BY ts DESC LIMIT ?", [site, lane, limit]
        )
        return [json.loads(r["payload"]) for r in rows]
