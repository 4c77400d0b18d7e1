"""The web side of the central service: live lane board, JSON API and a push stream (SSE)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from central import pages
from central.config import CentralConfig
from central.store import Store

HERE = Path(__file__).parent


class Broadcaster:
    """Fans a change notice out to every open SSE stream; called from the ingest thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[str]] = set()

    def notify_threadsafe(self, message: str) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._fan_out, message)

    def _fan_out(self, message: str) -> None:
        for q in self._queues:
            if q.qsize() < 100:
                q.put_nowait(message)

    async def listen(self) -> AsyncIterator[str]:
        q: asyncio.Queue[str] = asyncio.Queue()
        self._queues.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._queues.discard(q)


def lanes_snapshot(config: CentralConfig, store: Store) -> list[dict]:
    statuses = store.statuses()
    now = time.time()
    out = []
    for site in config.sites:
        for lane in site.lanes:
            edges = statuses.get((site.id, lane.id), [])
            out.append({
                "site": site.id, "site_name": site.name, "lane": lane.id, "name": lane.name or lane.id,
                "direction": lane.direction,
                "edges": edges,
                "queue_occupancy": sum(e["queue_occupancy"] for e in edges) if edges else None,
                "status_age_s": round(now - max(e["received_at"] for e in edges), 1) if edges else None,
                "recent_events": store.recent_events(site.id, lane.id, limit=8),
            })
    return out


def create_app(config: CentralConfig, broadcaster: Broadcaster) -> Starlette:
    store: Store | None = None

    def get_store() -> Store:
        nonlocal store
        if store is None:  # created on the event loop's thread, which serves every request
            store = Store(config.database)
        return store

    async def api_lanes(request: Request):
        return JSONResponse({"lanes": lanes_snapshot(config, get_store())})

    async def stream(request: Request):
        async def events() -> AsyncIterator[str]:
            yield f"event: lanes\ndata: {json.dumps(lanes_snapshot(config, get_store()))}\n\n"
            listener = broadcaster.listen()
            while True:
                try:
                    await asyncio.wait_for(anext(listener), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if await request.is_disconnected():
                    break
                yield f"event: lanes\ndata: {json.dumps(lanes_snapshot(config, get_store()))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        broadcaster.loop = asyncio.get_running_loop()
        yield

    app = Starlette(
        routes=[
            Route("/api/lanes", api_lanes),
            Route("/api/stream", stream),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lifespan,
    )
    pages.install(app, config, broadcaster.listen)  # board, history, sign-in, admin; and the sign-in guard
    return app
