"""What the pages show, behind five functions: `board_snapshot`, `history_query`, `history_rows`,
`crossing_detail` and `plate_crop`. Pages, templates and board.js rely only on these and their types.

PROVISIONAL IMPLEMENTATION — to be pointed at the crossings and metrics of issue 8.
Until central assembles crossings itself, the figures here are derived from the raw `events` and
`lane_status` tables, simply and openly:
- a crossing is the events of one track id on one edge; a repeated `enter`, or a gap longer than the
  match window, starts a new one. `matched_by` is therefore always "track";
- a crossing belongs to a time range by its first event;
- queue length from events: crossings that entered within the match window and have neither passed the
  gate nor exited; queue length from cameras: the edges' own `queue_occupancy`;
- wait = gate − enter, crossing time = exit − enter, over trucks that finished in the last hour;
  expected wait = queue ÷ departures per second in the last hour (Little's law);
- a lane is stale when no edge status arrived within `stale_after_s`: every current figure then reads
  "stale", never an old number; fewer than `min_crossings` finished trucks read "insufficient".
- edge online = its status is fresh (central does not subscribe to availability messages yet).
Replacing the bodies with queries over issue 8's tables keeps every page working unchanged.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby

from central.config import CentralConfig
from central.store import Store
from lanewatch.contract import format_ts

PLATE_SEPARATORS = str.maketrans("", "", " .-·")
HISTOGRAM_WIDTHS_S = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
QUEUE_BINS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)


def normalise_plate_query(text: str) -> str:
    """What a person types (`24c-123.45`) in the form plates are stored (`24C12345`)."""
    return text.upper().translate(PLATE_SEPARATORS)


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


@dataclass(frozen=True)
class CrossingRow:
    id: str
    site: str
    lane: str
    direction: str
    edge: str
    plate: str | None
    country: str | None
    started: datetime
    enter: datetime | None
    gate: datetime | None
    exit: datetime | None
    weight_kg: float | None
    matched_by: str

    @property
    def wait_s(self) -> float | None:
        return (self.gate - self.enter).total_seconds() if self.gate and self.enter else None

    @property
    def crossing_s(self) -> float | None:
        return (self.exit - self.enter).total_seconds() if self.exit and self.enter else None


@dataclass(frozen=True)
class HistoryResult:
    rows: list[CrossingRow]  # one page, newest first
    total: int
    histogram: list[tuple[float, float, int]]  # crossing time bins: from s, to s, trucks
    queue_bin_s: int
    queue: list[tuple[str, int]]  # (UTC time, queue length from events) per bin


@dataclass(frozen=True)
class PlateImage:
    text: str
    country: str | None
    confidence: float
    valid_format: bool
    event_id: str
    index: int
    has_crop: bool


@dataclass(frozen=True)
class CrossingDetail:
    crossing: CrossingRow
    events: list[dict]  # id, type, ts, edge, camera, seq, clock, weight_kg
    plates: list[PlateImage]


# ---------------------------------------------------------------- provisional crossing assembly
@dataclass
class _Crossing:
    site: str
    lane: str
    edge: str
    events: list[dict] = field(default_factory=list)

    def first(self, kind: str) -> datetime | None:
        return next((e["at"] for e in self.events if e["type"] == kind), None)

    @property
    def start(self) -> datetime:
        return self.events[0]["at"]

    def seconds(self, since: str, until: str) -> float | None:
        start, end = self.first(since), self.first(until)
        return (end - start).total_seconds() if start and end else None

    @property
    def departed(self) -> datetime | None:
        return self.first("gate") or self.first("exit")

    def row(self, direction: str) -> CrossingRow:
        best = max((e for e in self.events if e["plate"]), key=lambda e: e["confidence"] or 0, default=None)
        weights = [e["weight"] for e in self.events if e["type"] == "weigh" and e["weight"] is not None]
        return CrossingRow(
            id=self.events[0]["id"], site=self.site, lane=self.lane, direction=direction, edge=self.edge,
            plate=best["plate"] if best else None, country=best["country"] if best else None, started=self.start,
            enter=self.first("enter"), gate=self.first("gate"), exit=self.first("exit"),
            weight_kg=weights[-1] if weights else None, matched_by="track",
        )


_EVENT_COLUMNS = """id, site, lane, edge, track_id, type, ts,
    json_extract(payload, '$.weight_kg') AS weight,
    json_extract(payload, '$.plates[0].text') AS plate,
    json_extract(payload, '$.plates[0].country') AS country,
    json_extract(payload, '$.plates[0].confidence') AS confidence"""


def _lane_events(store: Store, site: str, lane: str, since: datetime, until: datetime) -> list[dict]:
    rows = store.db.query(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE site = ? AND lane = ? AND ts >= ? AND ts < ?",
        [site, lane, format_ts(since), format_ts(until)])
    out = []
    for r in rows:
        r["at"] = parse_ts(r["ts"])
        out.append(r)
    return out


def _assemble(events: list[dict], window: timedelta) -> list[_Crossing]:
    key = lambda e: (e["site"], e["lane"], e["edge"], e["track_id"] is None, e["track_id"] or 0)  # noqa: E731
    out: list[_Crossing] = []
    for (site, lane, edge, no_track, _), group in groupby(sorted(events, key=lambda e: (*key(e), e["ts"])), key=key):
        current: _Crossing | None = None
        for e in group:
            if (current is None or no_track or e["at"] - current.events[-1]["at"] > window
                    or (e["type"] == "enter" and any(x["type"] in ("enter", "gate", "exit") for x in current.events))):
                current = _Crossing(site, lane, edge)
                out.append(current)
            current.events.append(e)
    return out


def _lanes(config: CentralConfig, site: str | None = None, lane: str | None = None,
           direction: str | None = None) -> list[tuple[str, str, str]]:
    return [(s.id, ln.id, ln.direction) for s in config.sites for ln in s.lanes
            if (site is None or s.id == site) and (lane is None or ln.id == lane)
            and (direction is None or ln.direction == direction)]


def _crossings(store: Store, config: CentralConfig, lanes: list[tuple[str, str, str]], since: datetime,
               until: datetime) -> list[tuple[_Crossing, str]]:
    """Crossings that started in [since - match window, until), with their lane's direction. Events up to a
    window after `until` are read too, so a crossing that straddles the end of the range is whole."""
    window = timedelta(minutes=config.web.match_window_min)
    out = []
    for site, lane, direction in lanes:
        for c in _assemble(_lane_events(store, site, lane, since - window, until + window), window):
            if c.start < until:
                out.append((c, direction))
    return out


def _queue_at(crossings: list[_Crossing], times: list[datetime], window: timedelta) -> list[int]:
    """Queue length from events at each time: entered, not yet departed, entered within the window."""
    changes: list[tuple[datetime, int]] = []
    for c in crossings:
        entered = c.first("enter")
        if entered is None:
            continue
        gone = c.departed
        leave = min(gone, entered + window) if gone else entered + window
        if leave > entered:
            changes += [(entered, 1), (leave, -1)]
    changes.sort(key=lambda x: x[0])
    stamps = [t for t, _ in changes]
    running = [0]
    for _, d in changes:
        running.append(running[-1] + d)
    return [running[bisect.bisect_right(stamps, t)] for t in times]


def _nice_bin(span_s: float, widths: tuple[int, ...], max_bins: int) -> int:
    return next((w for w in widths if span_s / w <= max_bins), widths[-1])


def _histogram(durations: list[float]) -> list[tuple[float, float, int]]:
    if not durations:
        return []
    width = _nice_bin(max(durations), HISTOGRAM_WIDTHS_S, 24)
    counts = [0] * (int(max(durations) // width) + 1)
    for d in durations:
        counts[int(d // width)] += 1
    return [(i * width, (i + 1) * width, n) for i, n in enumerate(counts)]


# ---------------------------------------------------------------- history
def _filtered(store: Store, config: CentralConfig, f: HistoryFilter) -> tuple[list[CrossingRow], list[_Crossing]]:
    """The filtered rows (started in the range), and every crossing of the lanes around it (for the queue)."""
    crossings = _crossings(store, config, _lanes(config, f.site, f.lane, f.direction), f.since, f.until)
    rows = [c.row(direction) for c, direction in crossings if c.start >= f.since]
    if f.plate:
        needle = normalise_plate_query(f.plate)
        rows = [r for r in rows if r.plate and needle in r.plate]
    rows.sort(key=lambda r: (r.started, r.id), reverse=True)
    return rows, [c for c, _ in crossings]


def history_query(store: Store, config: CentralConfig, f: HistoryFilter, page: int, page_size: int) -> HistoryResult:
    """One page of the filtered crossings, their count, a histogram of crossing times and the queue length
    over the range (the queue ignores the plate filter: it is the lane's queue, not one truck's)."""
    rows, crossings = _filtered(store, config, f)
    span = (f.until - f.since).total_seconds()
    bin_s = _nice_bin(span, QUEUE_BINS_S, 240)
    times = [f.since + timedelta(seconds=bin_s * i) for i in range(int(span // bin_s) + 1)]
    queue = _queue_at(crossings, times, timedelta(minutes=config.web.match_window_min))
    return HistoryResult(
        rows=rows[(page - 1) * page_size: page * page_size], total=len(rows),
        histogram=_histogram([r.crossing_s for r in rows if r.crossing_s is not None]),
        queue_bin_s=bin_s, queue=[(format_ts(t), q) for t, q in zip(times, queue, strict=False)],
    )


def history_rows(store: Store, config: CentralConfig, f: HistoryFilter) -> Iterator[CrossingRow]:
    """Every filtered crossing, newest first, for the CSV download: exactly the rows the table pages through."""
    rows, _ = _filtered(store, config, f)
    yield from rows


def crossing_detail(store: Store, config: CentralConfig, crossing_id: str) -> CrossingDetail | None:
    first = next(store.db.query("SELECT site, lane, ts FROM events WHERE id = ?", [crossing_id]), None)
    if first is None:
        return None
    at = parse_ts(first["ts"])
    lanes = _lanes(config, first["site"], first["lane"])
    if not lanes:
        return None
    found = next(((c, d) for c, d in _crossings(store, config, lanes, at, at + timedelta(milliseconds=1))
                  if c.events[0]["id"] == crossing_id), None)
    if found is None:
        return None
    crossing, direction = found
    ids = [e["id"] for e in crossing.events]
    marks = ",".join("?" * len(ids))
    full = {r["id"]: json.loads(r["payload"])
            for r in store.db.query(f"SELECT id, payload FROM events WHERE id IN ({marks})", ids)}
    events, plates = [], []
    for e in crossing.events:
        p = full[e["id"]]
        events.append({"id": e["id"], "type": e["type"], "ts": p["ts"], "edge": p["edge"], "camera": p.get("camera"),
                       "seq": p["seq"], "clock": p["clock"], "weight_kg": p.get("weight_kg")})
        for i, plate in enumerate(p.get("plates", [])):
            plates.append(PlateImage(plate["text"], plate.get("country"), plate["confidence"], plate["valid_format"],
                                     e["id"], i, bool(plate.get("crop_jpeg_b64"))))
    return CrossingDetail(crossing.row(direction), events, plates)


def plate_crop(store: Store, event_id: str, index: int) -> bytes | None:
    """The JPEG of a plate read, or None when there is none (or it is not a JPEG)."""
    row = next(store.db.query("SELECT json_extract(payload, '$.plates[' || ? || '].crop_jpeg_b64') AS crop "
                              "FROM events WHERE id = ?", [index, event_id]), None)
    if row is None or not row["crop"]:
        return None
    try:
        data = base64.b64decode(row["crop"], validate=True)
    except ValueError:
        return None
    return data if data[:3] == b"\xff\xd8\xff" else None


# ---------------------------------------------------------------- board
def _metric(value: float | int | None, state: str = "ok") -> dict:
    """A figure with its state: ok (value shown), stale, insufficient or unknown (no value)."""
    if state != "ok":
        return {"value": None, "state": state}
    return {"value": value, "state": "ok" if value is not None else "unknown"}


def _stats(values: list[float], minimum: int, stale: bool) -> dict:
    if stale:
        return {"median": _metric(None, "stale"), "p85": _metric(None, "stale"), "n": len(values)}
    if len(values) < minimum:
        return {"median": _metric(None, "insufficient"), "p85": _metric(None, "insufficient"), "n": len(values)}
    ordered = sorted(values)
    p85 = ordered[max(0, math.ceil(0.85 * len(ordered)) - 1)]  # nearest rank
    return {"median": _metric(round(statistics.median(ordered))), "p85": _metric(round(p85)), "n": len(values)}


def _health(status: dict, now: float, stale_after_s: float) -> dict:
    age = now - status["received_at"]
    wb = status.get("weighbridge")
    outbox = status.get("outbox") or {}
    return {
        "edge": status["edge"], "online": age <= stale_after_s, "age_s": round(age, 1),
        "cameras": [{"id": k, "state": v["state"], "fps": v["fps"]}
                    for k, v in sorted(status.get("cameras", {}).items())],
        "weighbridge": wb["state"] if wb else None,
        "clock": {"synced": status["clock"]["synced"], "offset_ms": status["clock"].get("offset_ms"),
                  "step": status["clock"].get("step_detected", False)},
        "backlog": outbox.get("backlog"), "backlog_age_s": outbox.get("oldest_age_s"), "alarm": outbox.get("alarm"),
    }


def _last_plates(store: Store, site: str, lane: str, limit: int = 4) -> list[dict]:
    rows = store.db.query(
        "SELECT id, type, ts, json_extract(payload, '$.plates[0].text') AS text, "
        "json_extract(payload, '$.plates[0].country') AS country, "
        "json_extract(payload, '$.plates[0].crop_jpeg_b64') IS NOT NULL AS has_crop "
        "FROM events WHERE site = ? AND lane = ? AND json_array_length(payload, '$.plates') > 0 "
        "ORDER BY ts DESC LIMIT 40", [site, lane])
    out, seen = [], set()
    for r in rows:
        if r["text"] in seen:
            continue
        seen.add(r["text"])
        out.append({"text": r["text"], "country": r["country"], "ts": r["ts"], "type": r["type"],
                    "crop": f"/crops/{r['id']}/0" if r["has_crop"] else None})
        if len(out) == limit:
            break
    return out


def board_snapshot(store: Store, config: CentralConfig, now: datetime) -> dict:
    """Everything the live board shows, as JSON-ready data: {"now", "chart": {"start", "bin_s"}, "lanes": [card]}.

    A card: site, site_name, lane, name, direction, stale, queue_events, queue_camera, expected_wait_s,
    wait_s {median, p85, n}, crossing_s {median, p85, n}, trucks_per_hour, weighbridge, last_plates,
    health [per edge], queue_series [queue length at the end of each chart bin]. Figures are {"value", "state"}.
    """
    chart_bin = timedelta(minutes=5)
    bins = config.web.board_chart_hours * 12
    chart_start = now - chart_bin * bins
    chart_times = [chart_start + chart_bin * (i + 1) for i in range(bins)]
    statuses = store.statuses()
    cards = [_card(store, config, site.id, site.name, lane.id, lane.name or lane.id, lane.direction,
                   statuses.get((site.id, lane.id), []), now, chart_times)
             for site in config.sites for lane in site.lanes]
    return {"now": format_ts(now), "chart": {"start": format_ts(chart_start), "bin_s": int(chart_bin.total_seconds())},
            "lanes": cards}


def _card(store: Store, config: CentralConfig, site: str, site_name: str, lane: str, name: str, direction: str,
          statuses: list[dict], now: datetime, chart_times: list[datetime]) -> dict:
    web = config.web
    window = timedelta(minutes=web.match_window_min)
    hour_ago = now - timedelta(hours=1)
    edges = sorted(statuses, key=lambda s: s["edge"])
    fresh = [s for s in edges if now.timestamp() - s["received_at"] <= web.stale_after_s]
    stale = not fresh
    read_from = min(chart_times[0], hour_ago) - window
    crossings = _assemble(_lane_events(store, site, lane, read_from, now + timedelta(minutes=5)), window)
    queue_now = _queue_at(crossings, [now], window)[0]

    def in_hour(t: datetime | None) -> bool:
        return t is not None and hour_ago < t <= now

    waits = [w for c in crossings if in_hour(c.first("gate")) and (w := c.seconds("enter", "gate")) is not None]
    times = [d for c in crossings if in_hour(c.first("exit")) and (d := c.seconds("enter", "exit")) is not None]
    departures = sum(1 for c in crossings if in_hour(c.departed))
    if stale:
        expected = _metric(None, "stale")
    elif queue_now == 0:
        expected = _metric(0)
    elif departures < web.min_crossings:
        expected = _metric(None, "insufficient")
    else:
        expected = _metric(round(queue_now / (departures / 3600.0)))
    return {
        "site": site, "site_name": site_name, "lane": lane, "name": name, "direction": direction, "stale": stale,
        "queue_events": _metric(None, "stale") if stale else _metric(queue_now),
        "queue_camera": _metric(None, "stale") if stale else _metric(sum(s["queue_occupancy"] for s in fresh)),
        "expected_wait_s": expected,
        "wait_s": _stats(waits, web.min_crossings, stale),
        "crossing_s": _stats(times, web.min_crossings, stale),
        "trucks_per_hour": _metric(None, "stale") if stale else _metric(departures),
        "weighbridge": ({"state": "stale"} if stale
                        else {"state": "ok", "truck": _on_bridge(fresh, crossings, direction)}),
        "last_plates": _last_plates(store, site, lane),
        "health": [_health(s, now.timestamp(), web.stale_after_s) for s in edges],
        "queue_series": _queue_at(crossings, chart_times, window),
    }


def _on_bridge(fresh: list[dict], crossings: list[_Crossing], direction: str) -> dict | None:
    """The truck on the weighbridge: the latest one past the gate and not yet out, with its weight."""
    if not any(s.get("weighbridge_occupied") for s in fresh):
        return None
    live = next((s["weighbridge"] for s in fresh if s.get("weighbridge")), None) or {}
    inside = [c for c in crossings if c.first("gate") and not c.first("exit")]
    truck = max(inside, key=lambda c: c.first("gate") or c.start).row(direction) if inside else None
    weight = truck.weight_kg if truck and truck.weight_kg is not None else live.get("weight_kg")
    return {"plate": truck.plate if truck else None, "weight_kg": weight, "stable": bool(live.get("stable"))}


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
