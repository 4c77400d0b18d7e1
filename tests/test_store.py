"""The history store: v1 and v2 databases upgrade in place, crossings are written and replaced, plates found."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC

import pytest
import sqlite_utils

from central import store as store_module
from central.assembly import Crossing
from central.store import Store

T0 = 1_800_000_000.0


def crossing(key: str, plate: str | None, start: float, status: str = "complete") -> Crossing:
    return Crossing(key=key, status=status, method="plate", plate_distance=0.0, plate=plate, plate_country="VN",
                    enter_ts=start, gate_ts=start + 600, weigh_ts=start + 620, exit_ts=start + 700, weight_kg=30000.0,
                    wait_s=600.0, processing_s=100.0, crossing_s=700.0, start_ts=start, last_ts=start + 700,
                    enter_event=key, gate_event=key + "g", weigh_event=None, exit_event=key + "x",
                    event_ids=(key, key + "g", key + "x"), edges=("g1", "q1"), clock_synced=True)


def test_a_version_1_database_is_upgraded_in_place_with_its_data(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite_utils.Database(path)
    store_module.MIGRATIONS[0](old)  # exactly what a v1 service created
    old.execute("PRAGMA user_version = 1")
    old["events"].insert({"id": "e1", "type": "enter", "site": "laocai", "lane": "out-1", "edge": "q1",
                          "camera": None, "seq": 1, "ts": "2026-11-30T01:00:00.000Z", "mono_ms": 5, "track_id": 3,
                          "received_at": 1.0, "payload": "{}"})
    old["dead_letters"].insert({"received_at": 2.0, "topic": "t", "reason": "malformed JSON: x", "payload": b"{"})
    old["lane_status"].insert({"site": "laocai", "lane": "out-1", "edge": "q1", "received_at": 3.0, "payload": "{}"})
    old.conn.commit()
    old.close()

    store = Store(path)
    assert store.version == len(store_module.MIGRATIONS) == 3
    assert [r["id"] for r in store.db["events"].rows] == ["e1"]
    assert list(store.db.execute("SELECT reason, kind FROM dead_letters")) == [("malformed JSON: x", None)]
    assert store.db["lane_status"].count == 1
    for table in ("crossings", "plates", "lane_state", "lane_state_log", "lane_summaries", "lane_samples",
                  "edge_sequences"):
        assert store.db[table].exists(), table
    store.close()
    again = Store(path)  # a second start runs nothing twice
    assert again.version == 3 and again.db["events"].count == 1


def test_crossings_upsert_by_key_and_removed_keys_disappear(tmp_path):
    store = Store(tmp_path / "c.sqlite")
    store.write_crossings("laocai", "out-1", "export",
                          [crossing("a", "24C12345", T0), crossing("b", None, T0 + 60)], [])
    first_id = store.db.execute("SELECT id FROM crossings WHERE key = 'a'").fetchone()[0]
    store.write_crossings("laocai", "out-1", "export", [crossing("a", "24C12345", T0, status="lost")], ["b"])
    rows = list(store.db.query("SELECT id, key, status, start_ts, event_ids FROM crossings"))
    assert rows == [{"id": first_id, "key": "a", "status": "lost", "start_ts": "2027-01-15T08:00:00.000Z",
                     "event_ids": json.dumps(["a", "ag", "ax"])}]
    assert [r["plate"] for r in store.db["plates"].rows] == ["24C12345"]


def test_plate_trigram_index_finds_any_part(tmp_path):
    store = Store(tmp_path / "p.sqlite")
    plates = ["24C12345", "24C12346", "29H00123", "云G12345"]
    store.write_crossings("laocai", "out-1", "export",
                          [crossing(f"k{i}", p, T0 + i) for i, p in enumerate(plates)], [])
    conn = sqlite3.connect(tmp_path / "p.sqlite")
    found = {r[0] for r in conn.execute("SELECT plate FROM plates_fts WHERE plates_fts MATCH ?", ['"2345"'])}
    assert found == {"24C12345", "云G12345"}


def test_new_events_are_returned_once(tmp_path):
    from datetime import datetime

    from lanewatch.contract import ClockState, EnterEvent
    from lanewatch.ids import uuid7

    store = Store(tmp_path / "e.sqlite")
    e = EnterEvent(id=uuid7(), site="laocai", lane="out-1", edge="q1", seq=1, ts=datetime.now(UTC),
                   mono_ms=1, clock=ClockState(synced=True))
    assert store.add_new_events([e, e]) == [e]
    assert store.add_new_events([e]) == [] and store.add_events([e]) == 0


def _v2_database(path) -> None:
    """A database exactly as the v2 service left it: its two steps, and a crossing written with its INSERT."""
    old = sqlite_utils.Database(path)
    for step in store_module.MIGRATIONS[:2]:
        step(old)
    old.execute("PRAGMA user_version = 2")
    old.execute("""INSERT INTO crossings (key, site, lane, direction, status, method, plate_distance, plate,
        plate_country, start_ts, enter_ts, gate_ts, weigh_ts, exit_ts, last_ts, weight_kg, wait_s, processing_s,
        crossing_s, event_ids, edges, clock_synced, note, updated_at)
        VALUES ('old', 'laocai', 'out-1', 'export', 'complete', 'plate', 0.0, '24C12345', 'VN',
        '2026-11-30T01:00:00.000Z', '2026-11-30T01:00:00.000Z', '2026-11-30T01:10:00.000Z', NULL,
        '2026-11-30T01:12:00.000Z', '2026-11-30T01:12:00.000Z', NULL, 600.0, 120.0, 720.0, '["old"]', 'g1,q1', 1,
        NULL, 1.0)""")
    old.execute("INSERT INTO plates (plate, first_ts, last_ts) VALUES ('24C12345', '2026-11-30T01:00:00.000Z', "
                "'2026-11-30T01:00:00.000Z')")
    old.conn.commit()
    old.close()


def test_a_version_2_database_gains_trailer_plates_and_confidence_in_place(tmp_path):
    from central import history

    path = tmp_path / "v2.sqlite"
    _v2_database(path)
    with pytest.raises(history.QueryError, match="schema version 2.*lanewatch-central run"):
        history.connect(path)  # a read-only reader cannot upgrade: it says what to do instead of failing on SQL
    store = Store(path)
    assert store.version == 3
    old = store.db.execute("SELECT plate, plate_confidence, trailer_plate, trailer_country, trailer_confidence "
                           "FROM crossings WHERE key = 'old'").fetchone()
    assert old == ("24C12345", None, None, None, None)  # the old row is kept, unknowns stay unknown
    tractor = replace(crossing("new", "24C55555", T0), plate_confidence=0.48, trailer_plate="24R00123",
                      trailer_country="VN", trailer_confidence=0.93)
    store.write_crossings("laocai", "out-1", "export", [tractor], [])
    store.close()

    with closing(history.connect(path)) as conn:
        vn = history.zone("vn")
        by_trailer = history.page(conn, history.Filter(plate="24R-001.23"), vn).rows
        assert [(r["plate"], r["trailer_plate"]) for r in by_trailer] == [("24C55555", "24R00123")]
        assert (by_trailer[0]["plate_uncertain"], by_trailer[0]["trailer_uncertain"]) == (True, False)
        assert [r["trailer_plate"] for r in history.page(conn, history.Filter(plate_part="R001"), vn).rows] == [
            "24R00123"]
        assert [r["plate"] for r in history.page(conn, history.Filter(plate_part="12345"), vn).rows] == ["24C12345"]
        old_row = history.page(conn, history.Filter(plate="24C12345"), vn).rows[0]
        assert (old_row["plate_confidence"], old_row["plate_uncertain"], old_row["trailer_uncertain"]) == (
            None, None, None)
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM crossings WHERE (plate = ? OR trailer_plate = ?)", ["x", "x"]))
        assert "crossings_trailer_plate" in plan and "crossings_plate" in plan  # both sides indexed, no scan


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_of_a_plate_found_as_front_or_trailer_plate_cover_each_crossing_once_in_order(tmp_path, order):
    from central import history

    store = Store(tmp_path / "pages.sqlite")
    # The same text as a front plate and as a trailer plate, interleaved in time, among other trucks.
    kinds = ["front", "trailer", "other", "trailer", "front", "front", "other", "trailer", "trailer", "front"]
    rows = []
    for i, kind in enumerate(kinds):
        c = crossing(f"k{i}", "24C77777" if kind == "front" else f"24C1000{i}", T0 + 60 * i)
        if kind == "trailer":
            c = replace(c, trailer_plate="24C77777", trailer_country="VN", trailer_confidence=0.9)
        rows.append(c)
    store.write_crossings("laocai", "out-1", "export", rows, [])
    store.close()
    wanted = [f"k{i}" for i, kind in enumerate(kinds) if kind != "other"]
    wanted = wanted if order == "asc" else wanted[::-1]
    with closing(history.connect(tmp_path / "pages.sqlite")) as conn:
        keys = dict(conn.execute("SELECT id, key FROM crossings").fetchall())
        for flt in (history.Filter(plate="24C77777"), history.Filter(plate_part="7777")):
            seen, cursor = [], None
            while True:
                page = history.page(conn, flt, history.zone("utc"), limit=3, cursor=cursor, order=order)
                seen += [keys[r["id"]] for r in page.rows]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert seen == wanted, flt
