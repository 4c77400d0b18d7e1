"""Finding crossings in the history: the filters, pages and CSV that the API and the CLI share.

Stored times are UTC; every time shown is converted to the zone asked for (`vn` = Asia/Ho_Chi_Minh,
UTC+7; `cn` = Asia/Shanghai, UTC+8; any IANA name or ±HH:MM offset). Pages use keyset pagination
on (start time, id): the next page starts after the last row shown, so page 1,000 costs what page
1 costs. A partial plate is looked up in the distinct-plates table first (trigram index), then its
crossings by exact plate; a fragment shared by very many plates scans by time instead. A plate filter
finds a crossing by its front plate (`plate`) or by its trailer's (`trailer_plate`).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from central.store import SCHEMA_VERSION
from lanewatch.plates import normalise

ZONE_ALIASES = {"vn": "Asia/Ho_Chi_Minh", "cn": "Asia/Shanghai", "utc": "UTC"}
STATUSES = ("waiting", "processing", "complete", "lost", "partial")
MAX_PAGE = 1000
PLATES_FOR_LOOKUP = 500  # a fragment matching more distinct plates is filtered during a time-ordered scan
UNCERTAIN_BELOW = 0.5
"""A plate read less sure than this is shown as uncertain (`plate_uncertain`, `trailer_uncertain`). The edge's
plate reader accepts a read at or above the same level (edge/plates/reader.py `accept_confidence`, default 0.5);
a track's vote can still publish a best read below it (no better one came), and people must see that it is a guess."""
CSV_COLUMNS = ("id", "site", "lane", "direction", "status", "method", "plate", "plate_country", "plate_confidence",
               "plate_uncertain", "trailer_plate", "trailer_country", "trailer_confidence", "trailer_uncertain",
               "enter", "gate", "weigh", "exit", "wait_s", "processing_s", "crossing_s", "weight_kg", "note")
_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)


class QueryError(ValueError):
    """A history query that cannot be answered as asked; the message says what was expected."""


def zone(name: str | None) -> tzinfo:
    """`vn`, `cn`, `utc`, an IANA zone name or a ±HH:MM offset."""
    if name is None or name == "":
        return UTC
    key = ZONE_ALIASES.get(name.lower(), name)
    match = _OFFSET.match(key)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise QueryError(f"tz offset must be within ±14:00, got {name!r}")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(f"tz must be vn, cn, utc, an IANA zone such as Asia/Ho_Chi_Minh, or an offset such as "
                         f"+07:00; got {name!r}") from None


def parse_time(text: str, tz: tzinfo, what: str) -> datetime:
    """An ISO-8601 time or date; without an offset it is read in `tz`."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{what} must be an ISO-8601 time such as 2026-11-30T08:00 or 2026-11-30, "
                         f"got {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def stored(value: datetime) -> str:
    """A UTC time as the store writes it (sorts as text)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def shown(value: str | None, tz: tzinfo) -> str | None:
    if value is None:
        return None
    local = datetime.fromisoformat(value).astimezone(tz)
    return local.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Filter:
    site: str | None = None
    lane: str | None = None
    direction: Literal["export", "import"] | None = None
    plate: str | None = None  # exact, after normalising
    plate_part: str | None = None  # any part of the plate, after normalising
    start: datetime | None = None  # crossings that started at or after (UTC)
    end: datetime | None = None  # ... and before
    status: str | None = None

    def check(self) -> Filter:
        if self.start and self.end and self.start >= self.end:
            raise QueryError(f"from ({self.start.isoformat()}) must be before to ({self.end.isoformat()})")
        if self.status is not None and self.status not in STATUSES:
            raise QueryError(f"status must be one of {', '.join(STATUSES)}; got {self.status!r}")
        if self.plate is not None and not normalise(self.plate):
            raise QueryError("plate must contain letters or digits")
        if self.plate_part is not None and not normalise(self.plate_part):
            raise QueryError("plate_contains must contain letters or digits")
        return self


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_cursor: str | None


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection that any one thread at a time may use (streamed responses hop threads)."""
    if not Path(path).exists():
        raise QueryError(f"no history database at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < SCHEMA_VERSION:
        conn.close()  # read-only: it cannot upgrade itself, and older tables lack columns the queries name
        raise QueryError(f"history database {path} has schema version {version}, this version reads "
                         f"{SCHEMA_VERSION}: start `lanewatch-central run` once to upgrade it in place")
    return conn


def encode_cursor(start_ts: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([start_ts, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        start_ts, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(start_ts, str) or not isinstance(row_id, int):
            raise ValueError
        return start_ts, row_id
    except (ValueError, TypeError):
        raise QueryError("cursor is not one this service handed out (use next_cursor from the previous page)") from None


def _matching_plates(conn: sqlite3.Connection, part: str) -> list[str] | None:
    """Distinct stored plates containing `part`; None when there are too many to list."""
    if len(part) >= 3:
        quoted = '"' + part.replace('"', '""') + '"'
        rows = conn.execute("SELECT plate FROM plates_fts WHERE plates_fts MATCH ? LIMIT ?",
                            [quoted, PLATES_FOR_LOOKUP + 1])
    else:
        rows = conn.execute("SELECT plate FROM plates WHERE instr(plate, ?) > 0 LIMIT ?", [part, PLATES_FOR_LOOKUP + 1])
    plates = [r[0] for r in rows]
    return None if len(plates) > PLATES_FOR_LOOKUP else plates


PLATE_COLUMNS = ("plate", "trailer_plate")  # a plate filter finds a crossing by either


@dataclass(frozen=True)
class _PlateTerm:
    sql: str  # a condition on one plate column, `{col}`
    params: list
    indexed: bool  # looks plates up by the column's index (else it reads every row it is offered)


def _plate_terms(conn: sqlite3.Connection, flt: Filter) -> list[_PlateTerm] | None:
    """The filter's plate conditions; None when no plate can match."""
    terms = []
    if flt.plate is not None:
        terms.append(_PlateTerm("{col} = ?", [normalise(flt.plate)], True))
    if flt.plate_part is not None:
        part = normalise(flt.plate_part)
        plates = _matching_plates(conn, part)
        if plates == []:
            return None
        if plates is None:
            terms.append(_PlateTerm("instr({col}, ?) > 0", [part], False))
        else:
            terms.append(_PlateTerm(f"{{col}} IN ({','.join('?' * len(plates))})", plates, True))
    return terms


def _where(conn: sqlite3.Connection, flt: Filter, columns: tuple[str, ...] = PLATE_COLUMNS,
           terms: list[_PlateTerm] | None = None) -> tuple[list[str], list] | None:
    """SQL conditions and parameters, a plate condition holding on any of `columns`; None when nothing can
    match. `terms`: the filter's plate conditions when already looked up."""
    clauses: list[str] = []
    params: list = []
    for column in ("site", "lane", "direction", "status"):
        value = getattr(flt, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if flt.start is not None:
        clauses.append("start_ts >= ?")
        params.append(stored(flt.start))
    if flt.end is not None:
        clauses.append("start_ts < ?")
        params.append(stored(flt.end))
    terms = _plate_terms(conn, flt) if terms is None else terms
    if terms is None:
        return None
    for term in terms:
        clauses.append("(" + " OR ".join(term.sql.format(col=c) for c in columns) + ")")
        params += term.params * len(columns)
    return clauses, params


def _select(conn: sqlite3.Connection, flt: Filter, limit: int, after: tuple[str, int] | None,
            order: Literal["asc", "desc"]) -> list[sqlite3.Row]:
    terms = _plate_terms(conn, flt)
    if terms is None:
        return []
    direction = "DESC" if order == "desc" else "ASC"
    ordered = f" ORDER BY start_ts {direction}, id {direction} LIMIT ?"

    def one(columns: tuple[str, ...]) -> tuple[str, list]:
        where = _where(conn, flt, columns, terms)
        assert where is not None  # the terms were looked up: something can match
        clauses, params = where
        if after is not None:
            clauses.append("(start_ts, id) < (?, ?)" if order == "desc" else "(start_ts, id) > (?, ?)")
            params.extend(after)
        sql = "SELECT * FROM crossings" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return sql + ordered, [*params, limit]

    if terms and all(t.indexed for t in terms):
        # One query per plate column: each walks its own (plate, start_ts) index in order and stops after `limit`
        # rows; `plate = ? OR trailer_plate = ?` would fetch every crossing of a plate and sort them all.
        (front, front_params), (rear, rear_params) = one(("plate",)), one(("trailer_plate",))
        sql = f"SELECT * FROM ({front}) UNION SELECT * FROM ({rear}){ordered}"
        return conn.execute(sql, [*front_params, *rear_params, limit]).fetchall()
    sql, params = one(PLATE_COLUMNS)
    return conn.execute(sql, params).fetchall()


def row_out(row: sqlite3.Row, tz: tzinfo) -> dict:
    """A crossing as the API and CLI show it: times in `tz`."""
    return {
        "id": row["id"], "site": row["site"], "lane": row["lane"], "direction": row["direction"],
        "status": row["status"], "method": row["method"], "plate_distance": row["plate_distance"],
        "plate": row["plate"], "plate_country": row["plate_country"],
        "plate_confidence": row["plate_confidence"],
        "plate_uncertain": uncertain(row["plate"], row["plate_confidence"]),
        "trailer_plate": row["trailer_plate"], "trailer_country": row["trailer_country"],
        "trailer_confidence": row["trailer_confidence"],
        "trailer_uncertain": uncertain(row["trailer_plate"], row["trailer_confidence"]),
        "enter": shown(row["enter_ts"], tz), "gate": shown(row["gate_ts"], tz), "weigh": shown(row["weigh_ts"], tz),
        "exit": shown(row["exit_ts"], tz), "started": shown(row["start_ts"], tz),
        "wait_s": _round(row["wait_s"]), "processing_s": _round(row["processing_s"]),
        "crossing_s": _round(row["crossing_s"]), "weight_kg": row["weight_kg"],
        "clock_synced": bool(row["clock_synced"]), "note": row["note"],
        "edges": row["edges"].split(",") if row["edges"] else [], "event_ids": json.loads(row["event_ids"]),
    }


def uncertain(plate: str | None, confidence: float | None) -> bool | None:
    """True for a plate read below UNCERTAIN_BELOW; None when there is no plate or its confidence was not
    stored (crossings written before the store kept it)."""
    if plate is None or confidence is None:
        return None
    return confidence < UNCERTAIN_BELOW


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def page(conn: sqlite3.Connection, flt: Filter, tz: tzinfo, limit: int = 100, cursor: str | None = None,
         order: Literal["asc", "desc"] = "desc") -> Page:
    if not 1 <= limit <= MAX_PAGE:
        raise QueryError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    after = decode_cursor(cursor) if cursor else None
    rows = _select(conn, flt.check(), limit + 1, after, order)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["start_ts"], rows[-1]["id"]) if more else None
    return Page([row_out(r, tz) for r in rows], next_cursor)


def crossing(conn: sqlite3.Connection, crossing_id: int, tz: tzinfo) -> dict | None:
    row = conn.execute("SELECT * FROM crossings WHERE id = ?", [crossing_id]).fetchone()
    return None if row is None else row_out(row, tz)


def iter_all(conn: sqlite3.Connection, flt: Filter, tz: tzinfo, order: Literal["asc", "desc"] = "asc",
             chunk: int = 5000) -> Iterator[dict]:
    """Every matching crossing, fetched a chunk at a time (keyset), for exports."""
    flt = flt.check()
    after: tuple[str, int] | None = None
    while True:
        rows = _select(conn, flt, chunk, after, order)
        for r in rows:
            yield row_out(r, tz)
        if len(rows) < chunk:
            return
        after = (rows[-1]["start_ts"], rows[-1]["id"])


def csv_chunks(rows: Iterator[dict], rows_per_chunk: int = 2000) -> Iterator[str]:
    """CSV text in pieces, header first, for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in rows:
        writer.writerow([row[c] for c in CSV_COLUMNS])
        n += 1
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
