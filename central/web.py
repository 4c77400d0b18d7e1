"""The web side of the central service: the live lane board, and the JSON API mounted at /api."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from central import pages
from central.api import create_api
from central.config import CentralConfig
from central.store import Store

HERE = Path(__file__).parent


class Broadcaster:
    """Fans a change notice out to every open SSE stream; called from the ingest thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[str]] = set()

    def notify_threadsafe(self, message: str) -> None:
        loop = self.loop
        if loop is None:
            return
        # While the service stops, the web's loop closes before the ingest's threads do: nobody is listening.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._fan_out, message)

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


def create_app(config: CentralConfig, broadcaster: Broadcaster) -> Starlette:

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        broadcaster.loop = asyncio.get_running_loop()
        Store(config.database).close()  # created and migrated before the first request reads it
        yield
        broadcaster.loop = None

    app = Starlette(
        routes=[
            Mount("/api", create_api(config, broadcaster)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lifespan,
    )
    pages.install(app, config, broadcaster.listen)  # board, history, sign-in, admin; and the sign-in guard
    return app
