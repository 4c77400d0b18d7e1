"""The central's HTTP JSON API (FastAPI, mounted at /api; its OpenAPI schema at /api/openapi.json).

Live lane status and figures, the board's push stream, lanes opened and closed by people,
crossings history with filters and keyset pages, CSV export, and ingest health. Handlers are
plain functions run in the server's thread pool, each with its own read-only SQLite connection,
so a long export never holds up the live stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import closing
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Literal, cast

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from central import history
from central.auth import audited_rows, record_from_thread
from central.config import CentralConfig
from central.store import Store, iso_utc

if TYPE_CHECKING:
    from central.web import Broadcaster

# Figures that describe "now": withheld when the summary itself is old (the aggregator stopped).
CURRENT_FIGURES = ("queue_length", "waiting", "camera_occupancy", "trucks_per_hour", "expected_wait_s",
                   "direction_expected_wait_s")


# Parameters shared by the endpoints (module level: FastAPI resolves annotations by name).
SiteId = Annotated[str, Path(description="site id", max_length=63)]
LaneId = Annotated[str, Path(description="lane id", max_length=63)]

Site = Annotated[str | None, Query(description="site id", max_length=63)]
Lane = Annotated[str | None, Query(description="lane id", max_length=63)]
Dir = Annotated[Literal["export", "import"] | None, Query(description="export (VN→CN) or import (CN→VN)")]
PlateExact = Annotated[str | None, Query(description="whole plate, e.g. 24C-123.45 or 24C12345: the vehicle's, "
                                                    "the tractor's or the trailer's", max_length=20)]
PlatePart = Annotated[str | None, Query(description="any part of the plate (or of the trailer's), e.g. 12345",
                                        max_length=20)]
From = Annotated[str | None, Query(alias="from", description="crossings that started at or after (ISO-8601)")]
To = Annotated[str | None, Query(description="crossings that started before (ISO-8601)")]
Status = Annotated[str | None, Query(description="waiting, processing, complete, lost or partial")]
Tz = Annotated[str | None, Query(description="zone of times shown and of times given without offset: "
                                             "vn (UTC+7), cn (UTC+8), utc, an IANA zone, or ±HH:MM")]
Order = Annotated[Literal["asc", "desc"], Query(description="by start time")]



class LaneChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=80, description="who opens or closes the lane (recorded)")
    note: str | None = Field(None, max_length=500, description="why, for the log")


class CrossingPage(BaseModel):
    crossings: list[dict] = Field(description="crossings, newest first unless order=asc; times in the zone asked for")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    tz: str


def _summary_view(payload: dict | None, now: float, update_interval_s: float) -> dict | None:
    """A stored summary, marked stale (current figures withheld) when it has not been refreshed."""
    if payload is None:
        return None
    view = dict(payload)
    age = now - view.pop("computed_at")
    view["summary_age_s"] = round(age, 1)
    if age > max(update_interval_s, 10.0):
        view["state"] = "stale"
        view["expected_wait_state"] = "stale"
        for name in CURRENT_FIGURES:
            view[name] = None
    return view


def lanes_snapshot(config: CentralConfig, store: Store) -> list[dict]:
    statuses = store.statuses()
    summaries = store.summaries()
    states = store.lane_states()
    now = time.time()
    out = []
    for site in config.sites:
        for lane in site.lanes:
            key = (site.id, lane.id)
            edges = statuses.get(key, [])
            state = states.get(key)
            out.append({
                "site": site.id, "site_name": site.name, "lane": lane.id, "name": lane.name or lane.id,
                "direction": lane.direction,
                "open": bool(state["open"]) if state else lane.open,
                "open_changed": None if state is None else
                {"by": state["by"], "at": iso_utc(state["at"]), "note": state["note"]},
                "edges": edges,
                "queue_occupancy": sum(e["queue_occupancy"] for e in edges) if edges else None,
                "status_age_s": round(now - max(e["fresh_at"] for e in edges), 1) if edges else None,
                "summary": _summary_view(summaries.get(key), now, config.metrics.update_interval_s),
                "recent_events": store.recent_events(site.id, lane.id, limit=8),
            })
    return out


STREAM_KEEP_ALIVE_S = 15.0  # a comment line on the live stream this often keeps proxies from closing it


def create_api(config: CentralConfig, broadcaster: Broadcaster) -> FastAPI:
    api = FastAPI(
        title="lanewatch central",
        description="Truck lanes of a road border crossing: live lane figures and the crossings history. "
                    "Times are stored in UTC and shown in the zone asked for with `tz` "
                    "(vn = UTC+7, cn = UTC+8, or any IANA zone).",
        version="1",
        # The schema only: the interactive docs pages load their scripts from a CDN, which the gate network lacks.
        openapi_url="/openapi.json", docs_url=None, redoc_url=None,
    )

    def reader() -> Store:
        try:
            conn = history.connect(config.database)
        except history.QueryError as exc:
            raise HTTPException(503, str(exc)) from None
        return Store.reader(conn)

    def known_lane(site: str, lane: str) -> None:
        if config.lane(site, lane) is None:
            raise HTTPException(404, f"no lane {site}/{lane} in the central config")

    @api.exception_handler(history.QueryError)
    async def _bad_query(request: Request, exc: history.QueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @api.get("/lanes", summary="Every lane now: figures, edge statuses, recent events")
    def lanes() -> dict:
        with closing(reader()) as store:
            return {"lanes": lanes_snapshot(config, store)}

    @api.get("/lanes/{site}/{lane}", summary="One lane now")
    def lane_now(site: SiteId, lane: LaneId) -> dict:
        known_lane(site, lane)
        with closing(reader()) as store:
            return next(x for x in lanes_snapshot(config, store) if (x["site"], x["lane"]) == (site, lane))

    def change(site: str, lane: str, body: LaneChange, is_open: bool) -> dict:
        known_lane(site, lane)
        store = Store(config.database)
        try:
            row = store.set_lane_open(site, lane, is_open, body.by, body.note)
        finally:
            store.db.close()
        broadcaster.notify_threadsafe("lanes")
        return {"site": site, "lane": lane, "open": is_open, "by": row["by"], "at": iso_utc(row["at"]),
                "note": row["note"]}

    @api.post("/lanes/{site}/{lane}/open", summary="Open a lane (recorded with who and when)")
    def open_lane(site: SiteId, lane: LaneId, body: LaneChange) -> dict:
        return change(site, lane, body, True)

    @api.post("/lanes/{site}/{lane}/close", summary="Close a lane: it stops feeding its direction's expected wait")
    def close_lane(site: SiteId, lane: LaneId, body: LaneChange) -> dict:
        return change(site, lane, body, False)

    @api.get("/lanes/{site}/{lane}/log", summary="Who opened and closed the lane, newest first")
    def lane_log(site: SiteId, lane: LaneId, tz: str | None = Query(None, description="vn, cn, utc, IANA zone"),
                 limit: int = Query(50, ge=1, le=1000)) -> dict:
        known_lane(site, lane)
        zone = history.zone(tz)
        with closing(reader()) as store:
            rows = store.lane_state_log(site, lane, limit)
        return {"log": [{"open": bool(r["open"]), "by": r["by"], "note": r["note"],
                         "at": history.shown(iso_utc(r["at"]), zone)} for r in rows]}

    @api.get("/lanes/{site}/{lane}/samples", summary="Queue length and expected wait, one sample per minute")
    def lane_samples(site: SiteId, lane: LaneId,
                     from_: str = Query(..., alias="from", description="start, ISO-8601 (in tz when no offset)"),
                     to: str = Query(..., description="end, ISO-8601"),
                     tz: str | None = Query(None, description="vn, cn, utc, IANA zone")) -> dict:
        known_lane(site, lane)
        zone = history.zone(tz)
        start, end = history.parse_time(from_, zone, "from"), history.parse_time(to, zone, "to")
        if not start < end or end - start > timedelta(days=31):
            raise history.QueryError("from must be before to, at most 31 days apart")
        with closing(reader()) as store:
            rows = store.samples(site, lane, history.stored(start)[:16], history.stored(end)[:16])
        return {"samples": [r | {"minute": history.shown(r["minute"] + ":00.000Z", zone)} for r in rows]}

    @api.get("/stream", include_in_schema=False)
    async def stream(request: Request) -> StreamingResponse:
        def snapshot() -> str:
            with closing(reader()) as store:
                return json.dumps(lanes_snapshot(config, store))

        async def events() -> AsyncIterator[str]:
            yield f"event: lanes\ndata: {await asyncio.to_thread(snapshot)}\n\n"
            listener = cast(AsyncGenerator[str, None], broadcaster.listen())
            # The wait for the next notice outlives keep-alives: `wait_for` would cancel it, and a cancelled
            # `anext` closes the listener for good (the stream would go silent after its first keep-alive).
            notice: asyncio.Future[str] | None = None
            try:
                while True:
                    notice = notice or asyncio.ensure_future(anext(listener))
                    done, _ = await asyncio.wait({notice}, timeout=STREAM_KEEP_ALIVE_S)
                    if not done:
                        yield ": keep-alive\n\n"
                        continue
                    notice.result()
                    notice = None
                    if await request.is_disconnected():
                        break
                    yield f"event: lanes\ndata: {await asyncio.to_thread(snapshot)}\n\n"
            finally:
                if notice is not None:
                    notice.cancel()
                await listener.aclose()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    def crossing_filter(site: str | None, lane: str | None, direction: str | None, plate: str | None,
                        plate_contains: str | None, from_: str | None, to: str | None, status: str | None,
                        zone: tzinfo) -> history.Filter:
        if site is not None and config.site(site) is None:
            raise HTTPException(404, f"no site {site!r} in the central config")
        if site is not None and lane is not None:
            known_lane(site, lane)
        return history.Filter(
            site=site, lane=lane, direction=direction,  # type: ignore[arg-type]
            plate=plate, plate_part=plate_contains, status=status,
            start=history.parse_time(from_, zone, "from") if from_ else None,
            end=history.parse_time(to, zone, "to") if to else None,
        ).check()

    @api.get("/crossings", summary="Crossings, filtered and paginated", response_model=CrossingPage)
    def crossings(request: Request, site: Site = None, lane: Lane = None, direction: Dir = None,
                  plate: PlateExact = None,
                  plate_contains: PlatePart = None, from_: From = None, to: To = None, status: Status = None,
                  tz: Tz = None, order: Order = "desc",
                  limit: int = Query(100, ge=1, le=history.MAX_PAGE, description="rows per page"),
                  cursor: str | None = Query(None, max_length=200, description="next_cursor of the previous page"),
                  ) -> CrossingPage:
        zone = history.zone(tz)
        flt = crossing_filter(site, lane, direction, plate, plate_contains, from_, to, status, zone)
        with closing(history.connect(config.database)) as conn:
            result = history.page(conn, flt, zone, limit, cursor, order)
        record_from_thread(request, "history", dict(request.query_params), len(result.rows))
        return CrossingPage(crossings=result.rows, next_cursor=result.next_cursor, tz=str(zone))

    @api.get("/crossings.csv", summary="The same crossings as CSV (every matching row, streamed)",
             response_class=StreamingResponse)
    def crossings_csv(request: Request, site: Site = None, lane: Lane = None, direction: Dir = None,
                      plate: PlateExact = None,
                      plate_contains: PlatePart = None, from_: From = None, to: To = None, status: Status = None,
                      tz: Tz = None, order: Order = "asc") -> StreamingResponse:
        zone = history.zone(tz)
        flt = crossing_filter(site, lane, direction, plate, plate_contains, from_, to, status, zone)
        conn = history.connect(config.database)

        def body() -> Iterator[str]:
            try:
                yield from history.csv_chunks(audited_rows(request, "export", dict(request.query_params),
                                                           history.iter_all(conn, flt, zone, order)))
            finally:
                conn.close()

        return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="crossings.csv"'})

    @api.get("/crossings/{crossing_id}", summary="One crossing with its events")
    def crossing(crossing_id: int = Path(ge=1), tz: Tz = None) -> dict:
        zone = history.zone(tz)
        with closing(history.connect(config.database)) as conn:
            found = history.crossing(conn, crossing_id, zone)
            if found is None:
                raise HTTPException(404, f"no crossing {crossing_id}")
            marks = ",".join("?" * len(found["event_ids"]))
            events = [json.loads(r[0]) for r in conn.execute(
                f"SELECT payload FROM events WHERE id IN ({marks}) ORDER BY ts", found["event_ids"])]
        return found | {"events": events}

    @api.get("/ingest", summary="Ingest health: dead letters by kind, per-edge sequence gaps")
    def ingest() -> dict:
        with closing(reader()) as store:
            sequences = store.sequences()
            return {
                "dead_letters": store.dead_letter_counts(),
                "edges": [{"site": r["site"], "edge": r["edge"], "max_seq": r["max_seq"], "received": r["received"],
                           "missing": r["missing"], "resets": r["resets"], "gaps": json.loads(r["gaps"])[:20]}
                          for r in sequences],
            }

    @api.get("/dead-letters", summary="The latest rejected payloads with their reasons")
    def dead_letters(limit: int = Query(50, ge=1, le=1000)) -> dict:
        with closing(reader()) as store:
            return {"dead_letters": store.dead_letters(limit)}

    return api
