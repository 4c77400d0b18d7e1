"""What the pages show, read from what the central already computed; nothing is recomputed here.

- The board: each lane's `LaneSummary` as the aggregator stored it (queue, camera occupancy, expected
  wait, last hour's wait and crossing time, trucks per hour, stale / insufficient data), the latest
  `LaneStatus` of each edge (health), the last plate reads from the stored events (with their crops),
  the truck past the gate and not yet out (from the crossings table), and the queue over the last hours
  from the aggregator's per-minute samples (the latest one in each 5-minute bin).
- History: the crossings table through central/history.py (the same filters, keyset pages and CSV rows
  as the JSON API), a histogram of crossing times counted in SQL, and the queue length at the end of evenly
  spaced bins from the per-minute samples.
A figure is {"value", "state"}: a value only when the state is "ok"; otherwise "stale", "insufficient",
"closed" or "unknown", which the pages show as words, never as a number.
"""

from __future__ import annotations

import base64
import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from central import history
from central.config import CentralConfig
from central.store import Store, iso_utc
from lanewatch.contract import format_ts

# Histogram bin widths (seconds); the narrowest giving at most HISTOGRAM_BINS bins is used.
HISTOGRAM_WIDTHS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)
HISTOGRAM_BINS = 24
# Queue chart spacing for a history range: the narrowest giving at most QUEUE_POINTS points.
QUEUE_BINS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
QUEUE_POINTS = 240
BOARD_CHART_BIN = timedelta(minutes=5)
SUMMARY_MAX_AGE_S = 10.0  # a summary not refreshed for longer (and longer than the update interval) is stale
LAST_PLATES = 4


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- types shared with the pages
@dataclass(frozen=True)
class HistoryFilter:
    since: datetime  # UTC, inclusive
    until: datetime  # UTC, exclusive
    site: str | None = None
    lane: str | None = None
    direction: str | None = None
    plate: str | None = None  # part of a plate, any separators

    def for_audit(self) -> dict:
        out = {"since": format_ts(self.since), "until": format_ts(self.until)}
        out.update({k: v for k, v in (("site", self.site), ("lane", self.lane), ("direction", self.direction),
                                      ("plate", self.plate)) if v})
        return out

    def query(self) -> history.Filter:
        """The central's own history filter; raises history.QueryError when the plate has no letter or digit."""
        return history.Filter(site=self.site, lane=self.lane, direction=self.direction,  # type: ignore[arg-type]
                               plate_part=self.plate, start=self.since, end=self.until).check()


@dataclass(frozen=True)
class CrossingRow:
    id: int
    site: str
    lane: str
    direction: str
    status: str
    method: str | None  # how enter and gate were joined: track, plate, plate_fifo, fifo; None: not joined
    plate_distance: float | None
    plate: str | None  # the vehicle's, or the tractor's of a tractor-trailer
    country: str | None
    plate_confidence: float | None
    plate_uncertain: bool | None  # read below history.UNCERTAIN_BELOW; None: no plate or confidence not stored
    trailer_plate: str | None
    trailer_country: str | None
    trailer_confidence: float | None
    trailer_uncertain: bool | None
    started: datetime
    enter: datetime | None
    gate: datetime | None
    weigh: datetime | None
    exit: datetime | None
    wait_s: float | None
    processing_s: float | None
    crossing_s: float | None
    weight_kg: float | None
    note: str | None
    edges: list[str]
    event_ids: list[str]

    @classmethod
    def from_history(cls, row: dict) -> CrossingRow:
        """From history.row_out with times in UTC."""
        def at(key: str) -> datetime | None:
            return None if row[key] is None else datetime.fromisoformat(row[key])

        return cls(
            id=row["id"], site=row["site"], lane=row["lane"], direction=row["direction"], status=row["status"],
            method=row["method"], plate_distance=row["plate_distance"], plate=row["plate"],
            country=row["plate_country"], plate_confidence=row["plate_confidence"],
            plate_uncertain=row["plate_uncertain"], trailer_plate=row["trailer_plate"],
            trailer_country=row["trailer_country"], trailer_confidence=row["trailer_confidence"],
            trailer_uncertain=row["trailer_uncertain"], started=datetime.fromisoformat(row["started"]),
            enter=at("enter"),
            gate=at("gate"), weigh=at("weigh"), exit=at("exit"), wait_s=row["wait_s"],
            processing_s=row["processing_s"], crossing_s=row["crossing_s"], weight_kg=row["weight_kg"],
            note=row["note"], edges=row["edges"], event_ids=row["event_ids"])

    def cursor(self) -> str:
        return history.encode_cursor(history.stored(self.started), self.id)


@dataclass(frozen=True)
class HistoryResult:
    rows: list[CrossingRow]  # one page, newest first
    total: int
    histogram: list[tuple[float, float, int]]  # crossing time bins: from s, to s, trucks
    queue_bin_s: int
    queue: list[tuple[str, int | None]]  # (UTC end of each bin, trucks in the queue then; None: no sample)
    newer: str | None  # cursor of the page before (newer rows); None on the first page
    older: str | None  # cursor of the page after; None on the last page


@dataclass(frozen=True)
class PlateImage:
    text: str
    country: str | None
    role: str  # vehicle, tractor or trailer
    confidence: float
    uncertain: bool
    valid_format: bool
    event_id: str
    index: int
    has_crop: bool


@dataclass(frozen=True)
class CrossingDetail:
    crossing: CrossingRow
    events: list[dict]  # id, type, ts, edge, camera, seq, clock, weight_kg
    plates: list[PlateImage]


# ---------------------------------------------------------------- history
def _conn(store: Store) -> sqlite3.Connection:
    """The store's connection, which must come from history.connect (rows readable by column name)."""
    return store.db.conn


def _where(conn: sqlite3.Connection, flt: history.Filter) -> tuple[str, list] | None:
    where = history._where(conn, flt)
    if where is None:
        return None
    clauses, params = where
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _nice(span_s: float, widths: tuple[int, ...], most: int) -> int:
    return next((w for w in widths if span_s / w <= most), widths[-1])


def _count_and_histogram(conn: sqlite3.Connection, flt: history.Filter) -> tuple[int, list[tuple[float, float, int]]]:
    """How many crossings match, and how their crossing times spread: one pass over the matching rows,
    counted by whole minutes in SQL, then merged into at most HISTOGRAM_BINS bins."""
    where = _where(conn, flt)
    if where is None:
        return 0, []
    clause, params = where
    by_minute = conn.execute(f"SELECT CAST(crossing_s / 60 AS INTEGER), count(*) FROM crossings{clause} GROUP BY 1",
                             params).fetchall()
    total = sum(n for _, n in by_minute)
    minutes = [(m, n) for m, n in by_minute if m is not None]
    if not minutes:
        return total, []
    width = _nice((max(m for m, _ in minutes) + 1) * 60, HISTOGRAM_WIDTHS_S, HISTOGRAM_BINS)
    counts = [0] * ((max(m for m, _ in minutes) * 60) // width + 1)
    for m, n in minutes:
        counts[(m * 60) // width] += n
    return total, [(i * width, (i + 1) * width, n) for i, n in enumerate(counts)]


def _lanes(config: CentralConfig, site: str | None, lane: str | None, direction: str | None) -> list[tuple[str, str]]:
    return [(s.id, ln.id) for s in config.sites for ln in s.lanes
            if (site is None or s.id == site) and (lane is None or ln.id == lane)
            and (direction is None or ln.direction == direction)]


def _queue_at(store: Store, lanes: list[tuple[str, str]], ends: list[datetime], bin_s: float) -> list[int | None]:
    """Trucks in the queue at the end of each bin: each lane's latest minute sample (the aggregator's) within the
    bin, summed over the lanes; None where no lane has one (the central was not running then). One indexed
    look-up per lane and bin, so a month costs what a day costs."""
    out: list[int | None] = []
    for end in ends:
        hi, lo = iso_utc(end.timestamp())[:16], iso_utc(end.timestamp() - bin_s)[:16]
        found = [row[0] for site, lane in lanes for row in store.db.execute(
            "SELECT queue_length FROM lane_samples WHERE site = ? AND lane = ? AND minute >= ? AND minute < ? "
            "ORDER BY minute DESC LIMIT 1", [site, lane, lo, hi]) if row[0] is not None]
        out.append(sum(found) if found else None)
    return out


def history_query(store: Store, config: CentralConfig, f: HistoryFilter, page_size: int,
                  older: str | None = None, newer: str | None = None) -> HistoryResult:
    """One page of the filtered crossings (newest first; after cursor `older` or before `newer`), their count,
    a histogram of their crossing times, and the lanes' queue length over the range (the queue ignores the
    plate: it is the lane's queue, not one truck's)."""
    conn = _conn(store)
    flt = f.query()
    if newer is not None:  # the page before: the next rows going up in time, shown newest first
        up = history.page(conn, flt, UTC, page_size, newer, order="asc")
        rows = [CrossingRow.from_history(r) for r in reversed(up.rows)]
        more_newer = up.next_cursor is not None
        older_cursor = rows[-1].cursor() if rows else None
    else:
        down = history.page(conn, flt, UTC, page_size, older, order="desc")
        rows = [CrossingRow.from_history(r) for r in down.rows]
        more_newer = older is not None
        older_cursor = down.next_cursor
    total, histogram = _count_and_histogram(conn, flt)
    span = (f.until - f.since).total_seconds()
    bin_s = _nice(span, QUEUE_BINS_S, QUEUE_POINTS)
    start = f.since.replace(second=0, microsecond=0)
    times = [start + timedelta(seconds=bin_s * (i + 1)) for i in range(math.ceil(span / bin_s))]
    queue = _queue_at(store, _lanes(config, f.site, f.lane, f.direction), times, bin_s)
    return HistoryResult(
        rows=rows, total=total, histogram=histogram, queue_bin_s=bin_s,
        queue=[(format_ts(t), q) for t, q in zip(times, queue, strict=True)],
        newer=rows[0].cursor() if rows and more_newer else None, older=older_cursor)


def history_rows(store: Store, f: HistoryFilter) -> Iterator[dict]:
    """Every filtered crossing, newest first, as history.row_out dicts in UTC: exactly the rows the table pages
    through, for the CSV download."""
    yield from history.iter_all(_conn(store), f.query(), UTC, order="desc")


def crossing_detail(store: Store, crossing_id: int) -> CrossingDetail | None:
    conn = _conn(store)
    found = history.crossing(conn, crossing_id, UTC)
    if found is None:
        return None
    crossing = CrossingRow.from_history(found)
    marks = ",".join("?" * len(crossing.event_ids))
    payloads = [json.loads(r[0]) for r in conn.execute(
        f"SELECT payload FROM events WHERE id IN ({marks}) ORDER BY ts, seq", crossing.event_ids)]
    events, plates = [], []
    for p in payloads:
        events.append({"id": p["id"], "type": p["type"], "ts": p["ts"], "edge": p["edge"], "camera": p.get("camera"),
                       "seq": p["seq"], "clock": p["clock"], "weight_kg": p.get("weight_kg")})
        for i, plate in enumerate(p.get("plates", [])):
            plates.append(PlateImage(plate["text"], plate.get("country"), plate.get("role", "vehicle"),
                                     plate["confidence"], plate["confidence"] < history.UNCERTAIN_BELOW,
                                     plate["valid_format"], p["id"], i, bool(plate.get("crop_jpeg_b64"))))
    return CrossingDetail(crossing, events, plates)


def plate_crop(store: Store, event_id: str, index: int) -> bytes | None:
    """The JPEG of a plate read, or None when there is none (or it is not a JPEG)."""
    row = store.db.execute("SELECT json_extract(payload, '$.plates[' || ? || '].crop_jpeg_b64') FROM events "
                           "WHERE id = ?", [index, event_id]).fetchone()
    if row is None or not row[0]:
        return None
    try:
        data = base64.b64decode(row[0], validate=True)
    except ValueError:
        return None
    return data if data[:3] == b"\xff\xd8\xff" else None


# ---------------------------------------------------------------- board
def _metric(value: float | int | None, state: str = "ok") -> dict:
    """A figure with its state: ok (value shown), or stale, insufficient, closed, unknown (no value)."""
    if state != "ok":
        return {"value": None, "state": state}
    return {"value": value, "state": "ok" if value is not None else "unknown"}


STATES = {"ok": "ok", "insufficient_data": "insufficient", "stale": "stale", "closed": "closed"}


def _stats(stats: dict | None) -> dict:
    """Median and 85th percentile of one DurationStats."""
    if stats is None:
        return {"median": _metric(None, "stale"), "p85": _metric(None, "stale"), "n": None}
    state = STATES[stats["state"]]
    return {"median": _metric(stats.get("median_s"), state), "p85": _metric(stats.get("p85_s"), state),
            "n": stats["trucks"]}


def _health(status: dict, now: float, fresh_s: float) -> dict:
    age = now - status["fresh_at"]
    wb = status.get("weighbridge")
    outbox = status.get("outbox") or {}
    return {
        "edge": status["edge"], "online": age <= fresh_s, "age_s": round(age, 1),
        "cameras": [{"id": k, "state": v["state"], "fps": v["fps"]}
                    for k, v in sorted(status.get("cameras", {}).items())],
        "weighbridge": wb["state"] if wb else None,
        "weighbridge_kg": wb.get("weight_kg") if wb else None,
        "clock": {"synced": status["clock"]["synced"], "offset_ms": status["clock"].get("offset_ms"),
                  "step": status["clock"].get("step_detected", False)},
        "backlog": outbox.get("backlog"), "backlog_age_s": outbox.get("oldest_age_s"), "alarm": outbox.get("alarm"),
    }


def _plate_view(text: str | None, country: str | None, confidence: float | None) -> dict | None:
    """A plate as the board shows it, with its confidence and whether it is an uncertain read."""
    if text is None:
        return None
    return {"text": text, "country": country, "confidence": confidence,
            "uncertain": history.uncertain(text, confidence)}


def _last_plates(store: Store, site: str, lane: str) -> list[dict]:
    """The latest distinct plates read on the lane, newest first: each event's best front read (the
    vehicle's or tractor's) with its trailer's beside it, and a link to the front read's crop when there is one.
    A read below history.UNCERTAIN_BELOW is marked `uncertain`."""
    rows = store.db.execute(
        "SELECT e.id, e.type, e.ts, p.key, json_extract(p.value, '$.text'), json_extract(p.value, '$.country'), "
        "json_extract(p.value, '$.role'), json_extract(p.value, '$.confidence'), "
        "json_extract(p.value, '$.crop_jpeg_b64') IS NOT NULL "
        "FROM (SELECT id, type, ts, payload FROM events WHERE site = ? AND lane = ? "
        "      AND json_array_length(payload, '$.plates') > 0 ORDER BY ts DESC LIMIT 40) AS e, "
        "json_each(e.payload, '$.plates') AS p ORDER BY e.ts DESC, e.id, p.key", [site, lane])
    events: dict[str, dict] = {}
    for event_id, kind, ts, index, text, country, role, confidence, has_crop in rows:
        reads = events.setdefault(event_id, {"ts": ts, "type": kind, "front": None, "trailer": None})
        slot = "trailer" if role == "trailer" else "front"
        if reads[slot] is None:  # reads come best first
            reads[slot] = (index, text, country, confidence, has_crop)
    out: list[dict] = []
    by_truck: dict[str, dict] = {}  # one line per truck: its front plate (or its trailer's when no front was read)
    for event_id, reads in events.items():
        front, rear = reads["front"], reads["trailer"]
        key = front[1] if front else "\ttrailer " + rear[1]
        trailer = _plate_view(rear[1], rear[2], rear[3]) if rear and front else None
        if key in by_truck:
            # Its newest event may not carry the trailer's read (only the gate side's rear camera reads it).
            by_truck[key]["trailer"] = by_truck[key]["trailer"] or trailer
            continue
        if len(out) == LAST_PLATES:
            continue
        index, text, country, confidence, has_crop = front or rear
        by_truck[key] = {"text": text, "country": country, "confidence": confidence,
                         "uncertain": history.uncertain(text, confidence), "trailer": trailer,
                         "role": "trailer" if front is None else "front", "ts": reads["ts"], "type": reads["type"],
                         "crop": f"/crops/{event_id}/{index}" if has_crop else None}
        out.append(by_truck[key])
    return out


def _on_bridge(store: Store, site: str, lane: str, now: datetime, window_s: float, live: dict | None) -> dict:
    """The truck through the gate and not yet out (the crossings table), with its weight, or the live
    weighbridge reading while none is known."""
    row = store.db.execute(
        "SELECT plate, plate_country, plate_confidence, trailer_plate, trailer_country, trailer_confidence, "
        "weight_kg FROM crossings WHERE site = ? AND lane = ? AND start_ts >= ? AND status = "
        "'processing' ORDER BY gate_ts DESC LIMIT 1",
        [site, lane, iso_utc((now - timedelta(seconds=window_s)).timestamp())]).fetchone()
    plate = _plate_view(*row[0:3]) if row else None
    trailer = _plate_view(*row[3:6]) if row else None
    weight = row[6] if row else None
    live = live or {}
    return {"plate": plate["text"] if plate else None, "uncertain": plate["uncertain"] if plate else None,
            "confidence": plate["confidence"] if plate else None, "trailer": trailer,
            "weight_kg": weight if weight is not None else live.get("weight_kg"), "stable": bool(live.get("stable"))}


def board_snapshot(store: Store, config: CentralConfig, now: datetime) -> dict:
    """Everything the live board shows, as JSON-ready data: {"now", "chart": {"start", "bin_s"}, "lanes": [card]}.

    A card: site, site_name, lane, name, direction, open, stale, data_age_s, queue_events, queue_camera,
    expected_wait_s, direction_expected_wait_s, wait_s {median, p85, n}, crossing_s {median, p85, n},
    trucks_per_hour, lost_today, weighbridge, last_plates, health [per edge], queue_series [queue length at
    the end of each chart bin]. Figures are {"value", "state"}.
    """
    bins = config.web.board_chart_hours * 3600 // int(BOARD_CHART_BIN.total_seconds())
    last = now.replace(second=0, microsecond=0) + timedelta(minutes=1)  # the end of this minute's sample
    chart_times = [last - BOARD_CHART_BIN * (bins - 1 - i) for i in range(bins)]
    statuses = store.statuses()
    summaries = store.summaries()
    cards = [_card(store, config, site.id, site.name, lane.id, lane.name or lane.id, lane.direction,
                   statuses.get((site.id, lane.id), []), summaries.get((site.id, lane.id)), now, chart_times)
             for site in config.sites for lane in site.lanes]
    return {"now": format_ts(now), "chart": {"start": format_ts(chart_times[0] - BOARD_CHART_BIN),
                                             "bin_s": int(BOARD_CHART_BIN.total_seconds())},
            "uncertain_below": history.UNCERTAIN_BELOW, "lanes": cards}


def _card(store: Store, config: CentralConfig, site: str, site_name: str, lane: str, name: str, direction: str,
          statuses: list[dict], summary: dict | None, now: datetime, chart_times: list[datetime]) -> dict:
    update_s = config.metrics.update_interval_s
    edges = sorted(statuses, key=lambda s: s["edge"])
    fresh = [s for s in edges if now.timestamp() - s["fresh_at"] <= update_s]
    # No summary yet, the lane's own data old, or the aggregator stopped refreshing it: every current figure
    # is withheld.
    stale = (summary is None or summary["state"] == "stale"
             or now.timestamp() - summary["computed_at"] > max(update_s, SUMMARY_MAX_AGE_S))
    s = summary or {}

    def current(key: str) -> dict:
        return _metric(None, "stale") if stale else _metric(s.get(key))

    if stale:
        expected = _metric(None, "stale")
    else:
        expected = _metric(s.get("expected_wait_s"), STATES[s["expected_wait_state"]])
    hour = None if stale else s["last_hour"]
    wb_live = next((st["weighbridge"] for st in fresh if st.get("weighbridge")), None)
    if stale:
        weighbridge: dict = {"state": "stale"}
    elif any(st.get("weighbridge_occupied") for st in fresh):
        weighbridge = {"state": "ok", "truck": _on_bridge(store, site, lane, now, config.assembly.window_min * 60,
                                                          wb_live)}
    else:
        weighbridge = {"state": "ok", "truck": None}
    return {
        "site": site, "site_name": site_name, "lane": lane, "name": name, "direction": direction,
        "open": s.get("open", True), "stale": stale, "data_age_s": s.get("data_age_s"),
        "queue_events": current("queue_length"),
        "queue_camera": current("camera_occupancy"),
        "expected_wait_s": expected,
        "direction_expected_wait_s": current("direction_expected_wait_s"),
        "wait_s": _stats(hour["wait"] if hour else None),
        "crossing_s": _stats(hour["crossing"] if hour else None),
        "trucks_per_hour": current("trucks_per_hour"),
        "lost_today": current("lost_today"),
        "weighbridge": weighbridge,
        "last_plates": _last_plates(store, site, lane),
        "health": [_health(st, now.timestamp(), update_s) for st in edges],
        "queue_series": _queue_at(store, [(site, lane)], chart_times, BOARD_CHART_BIN.total_seconds()),
    }


def as_json(value: object) -> object:
    """Dataclasses and datetimes made JSON-ready (for tests and the API)."""
    if isinstance(value, datetime):
        return format_ts(value.astimezone(UTC))
    if hasattr(value, "__dataclass_fields__"):
        return {k: as_json(v) for k, v in asdict(value).items()}  # type: ignore[call-overload]
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value
