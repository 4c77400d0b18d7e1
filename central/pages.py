"""The central's pages: live board, history, crossing detail, sign-in and the viewer's language and zone.

Routes only; what is shown comes from central/views.py, who may see it from central/auth.py.
Every handler is async and runs on the event loop; store queries go to worker threads (feed.Readers).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from central import admin, history, i18n, views
from central.auth import (
    Auth,
    AuthMiddleware,
    checked_form,
    csrf_token,
    kiosk,
    record,
    safe_next,
    sign_in,
    sign_out,
    viewer_of,
)
from central.config import CentralConfig
from central.feed import BoardFeed, Readers, html_json
from central.store import Store
from lanewatch.plates import normalise

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["parse_ts"] = views.parse_ts
templates.env.filters["from_epoch"] = lambda value: datetime.fromtimestamp(value, UTC)
LANG_COOKIE, ZONE_COOKIE = "lw_lang", "lw_zone"
EVENT_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FORM_TIME = "%Y-%m-%dT%H:%M"


def prefs(request: Request, config: CentralConfig) -> tuple[str, str]:
    lang = request.cookies.get(LANG_COOKIE)
    zone = request.cookies.get(ZONE_COOKIE)
    return (lang if lang in i18n.LANGUAGES else config.web.default_language,
            zone if zone in i18n.ZONES else config.web.default_zone)


def page(request: Request, config: CentralConfig, name: str, status: int = 200, **context: object) -> Response:
    lang, zone = prefs(request, config)
    viewer = viewer_of(request)
    t = partial(i18n.translate, lang)
    base = {
        "lang": lang, "zone": zone, "t": t, "viewer": viewer, "csrf": csrf_token(request),
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "local": lambda value, fmt="%Y-%m-%d %H:%M:%S": i18n.local(value, zone, fmt),
        "duration": i18n.duration, "number": partial(i18n.number, lang=lang),
        "zone_offset_h": int(i18n.ZONES[zone].utcoffset(None).total_seconds() // 3600),
        "uncertain_pct": round(history.UNCERTAIN_BELOW * 100),
    }
    response = templates.TemplateResponse(request, name, base | context, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


@dataclass(frozen=True)
class FilterForm:
    values: dict[str, str]  # what the form shows back
    filter: views.HistoryFilter | None
    errors: list[str]  # locale keys
    page: int  # shown as "page n of m"; the rows themselves are found by the cursors
    older: str | None  # keyset cursors of history.py: the page after this row, or before it
    newer: str | None


CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def parse_filter(request: Request, config: CentralConfig, zone: str, now: datetime) -> FilterForm:
    q = request.query_params
    tz = i18n.ZONES[zone]
    local_now = now.astimezone(tz).replace(second=0, microsecond=0)
    values = {
        "site": q.get("site", ""), "lane": q.get("lane", ""), "direction": q.get("direction", ""),
        "plate": q.get("plate", "").strip()[:32],
        "from": q.get("from") or (local_now - timedelta(hours=24)).replace(minute=0).strftime(FORM_TIME),
        "to": q.get("to") or (local_now.replace(minute=0) + timedelta(hours=1)).strftime(FORM_TIME),
    }
    errors = []
    if values["site"] and not any(s.id == values["site"] for s in config.sites):
        errors.append("history.error.site")
    if values["lane"] and not any(ln.id == values["lane"] for s in config.sites for ln in s.lanes):
        errors.append("history.error.lane")
    if values["direction"] not in ("", "export", "import"):
        errors.append("history.error.direction")
    if values["plate"] and not normalise(values["plate"]):
        errors.append("history.error.plate")
    times = []
    for key in ("from", "to"):
        try:
            times.append(datetime.strptime(values[key], FORM_TIME).replace(tzinfo=tz).astimezone(UTC))
        except ValueError:
            errors.append(f"history.error.{key}")
    if len(times) == 2:
        if times[0] >= times[1]:
            errors.append("history.error.order")
        elif times[1] - times[0] > timedelta(days=config.web.history_max_days):
            errors.append("history.error.span")
    try:
        number = max(1, int(q.get("page", "1")))
    except ValueError:
        number = 1
    older, newer = q.get("older"), q.get("newer")
    cursors = [c for c in (older, newer) if c]
    if len(cursors) > 1 or any(not CURSOR_RE.match(c) for c in cursors):
        errors.append("history.error.cursor")
    if errors:
        return FilterForm(values, None, errors, number, None, None)
    f = views.HistoryFilter(since=times[0], until=times[1], site=values["site"] or None, lane=values["lane"] or None,
                            direction=values["direction"] or None, plate=values["plate"] or None)
    return FilterForm(values, f, [], number if cursors else 1, older or None, newer or None)


def _csv_cell(value: object) -> object:
    # A cell starting like a formula would run in a spreadsheet: make it plain text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(rows: Iterator[dict], zone: str) -> Iterator[dict]:
    """history.row_out rows (UTC) with times at the viewer's offset (ISO 8601, exact and still local), and no cell
    a spreadsheet would run."""
    tz = i18n.ZONES[zone]
    for row in rows:
        out = {k: _csv_cell(v) for k, v in row.items()}
        for key in ("enter", "gate", "weigh", "exit", "started"):
            if row[key] is not None:
                out[key] = datetime.fromisoformat(row[key]).astimezone(tz).isoformat(timespec="milliseconds")
        yield out


async def audited_csv(chunks: Iterator[str], tally: list[int], conn: sqlite3.Connection,
                      note: Callable[[int], None]) -> AsyncIterator[str]:
    """CSV pieces made in worker threads; when the last one is sent, `note` gets the rows counted in `tally`,
    on the event loop, where the audit log's connection lives."""
    try:
        while (chunk := await run_in_threadpool(next, chunks, None)) is not None:
            yield chunk
    finally:
        conn.close()
        note(tally[0])


def counted(rows: Iterator[dict], tally: list[int]) -> Iterator[dict]:
    for row in rows:
        tally[0] += 1
        yield row


def routes(config: CentralConfig, notices: Callable[[], AsyncIterator[str]]) -> tuple[list[BaseRoute], Auth]:
    auth = Auth(config)
    readers = Readers(config.database)
    feed = BoardFeed(config, readers, notices)

    async def board(request: Request) -> Response:
        lang, _ = prefs(request, config)
        return page(request, config, "board.html", snapshot=html_json(await feed.current()),
                    strings=i18n.client_strings(lang))

    async def board_data(request: Request) -> Response:
        return Response(await feed.current(), media_type="application/json", headers={"cache-control": "no-store"})

    async def board_stream(request: Request) -> Response:
        return StreamingResponse(feed.stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def crop(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        index = request.path_params["index"]
        if not EVENT_ID_RE.match(event_id) or not 0 <= index < 4:
            return PlainTextResponse("no such plate image", status_code=404)
        data = await readers.run(views.plate_crop, event_id, index)
        if data is None:
            return PlainTextResponse("no such plate image", status_code=404)
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400, immutable"})

    async def history_page(request: Request) -> Response:
        lang, zone = prefs(request, config)
        form = parse_filter(request, config, zone, datetime.now(UTC))
        result = None
        if form.filter is not None:
            result = await readers.run(views.history_query, config, form.filter, config.web.history_page_size,
                                       form.older, form.newer)
            record(auth, request, "history", filters=form.filter.for_audit() | {"page": form.page}, rows=result.total)
        query = {k: v for k, v in form.values.items() if v}
        pages = max(1, -(-result.total // config.web.history_page_size)) if result else 1
        charts = None
        if result is not None:
            charts = html_json(views_json({"histogram": result.histogram, "queue": result.queue,
                                           "queue_bin_s": result.queue_bin_s}))
        links = {}
        if result is not None and result.newer:
            links["prev"] = "/history?" + urlencode(query | {"newer": result.newer, "page": form.page - 1})
        if result is not None and result.older:
            links["next"] = "/history?" + urlencode(query | {"older": result.older, "page": form.page + 1})
        return page(request, config, "history.html", status=400 if form.errors else 200, form=form, result=result,
                    query=query, pages=pages, sites=config.sites, charts=charts, strings=i18n.client_strings(lang),
                    max_days=config.web.history_max_days, links=links)

    async def history_csv(request: Request) -> Response:
        lang, zone = prefs(request, config)
        form = parse_filter(request, config, zone, datetime.now(UTC))
        if form.filter is None:
            return PlainTextResponse("; ".join(i18n.translate(lang, e) for e in form.errors), status_code=400)
        flt = form.filter
        conn = history.connect(config.database)  # its own: the download may outlast any worker's turn
        tally = [0]
        chunks = history.csv_chunks(csv_rows(counted(views.history_rows(Store.reader(conn), flt), tally), zone))
        stamp = flt.since.astimezone(i18n.ZONES[zone]).strftime("%Y%m%d-%H%M")
        def note(rows: int) -> None:
            record(auth, request, "export", filters=flt.for_audit(), rows=rows)

        return StreamingResponse(
            audited_csv(chunks, tally, conn, note),
            media_type="text/csv; charset=utf-8", headers={
                "content-disposition": f'attachment; filename="lanewatch-crossings-{stamp}.csv"',
                "cache-control": "no-store"})

    async def crossing(request: Request) -> Response:
        crossing_id = request.path_params["crossing_id"]
        detail = await readers.run(views.crossing_detail, crossing_id)
        record(auth, request, "crossing", filters={"id": crossing_id}, rows=0 if detail is None else 1)
        if detail is None:
            return page(request, config, "crossing.html", status=404, detail=None)
        return page(request, config, "crossing.html", detail=detail,
                    site_name=next((s.name for s in config.sites if s.id == detail.crossing.site), ""))

    async def signin_page(request: Request, message: str | None = None, status: int = 200) -> Response:
        return page(request, config, "signin.html", status=status, message=message,
                    next=safe_next(request.query_params.get("next")))

    async def signin(request: Request) -> Response:
        if request.method == "POST":
            return await sign_in(request, auth, signin_page)
        if viewer_of(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        return await signin_page(request)

    async def set_prefs(request: Request) -> Response:
        form = await checked_form(request)
        if isinstance(form, Response):
            return form
        response = RedirectResponse(safe_next(form.get("next")), status_code=303)
        cookie = {"max_age": 365 * 86400, "httponly": True, "samesite": "strict", "secure": auth.secure(request)}
        if form.get("lang") in i18n.LANGUAGES:
            response.set_cookie(LANG_COOKIE, form["lang"], **cookie)  # type: ignore[arg-type]
        if form.get("zone") in i18n.ZONES:
            response.set_cookie(ZONE_COOKIE, form["zone"], **cookie)  # type: ignore[arg-type]
        return response

    return [
        Route("/", board),
        Route("/board/data", board_data),
        Route("/board/stream", board_stream),
        Route("/crops/{event_id}/{index:int}", crop),
        Route("/history", history_page),
        Route("/history.csv", history_csv),
        Route("/crossings/{crossing_id:int}", crossing),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", partial(sign_out, auth=auth), methods=["POST"]),
        Route("/kiosk", partial(kiosk, auth=auth)),
        Route("/prefs", set_prefs, methods=["POST"]),
        *admin.routes(config, auth, page),
    ], auth


def views_json(value: object) -> str:
    return json.dumps(views.as_json(value), ensure_ascii=False, separators=(",", ":"))


def install(app: Starlette, config: CentralConfig, notices: Callable[[], AsyncIterator[str]]) -> None:
    """Add the pages and the sign-in guard to the central's web app (called by central/web.py)."""
    page_routes, auth = routes(config, notices)
    app.router.routes[:0] = page_routes
    app.add_middleware(AuthMiddleware, auth=auth)
