"""The live board's feed: one snapshot computed per change and shared by every open board.

The ingest thread's notices arrive through the Broadcaster; bursts are coalesced (at most one snapshot
per `MIN_GAP_S`), and a snapshot is also recomputed every `board_refresh_s` so ages and staleness move
on without new events. Nothing is computed while no board is open. Each browser holds a Server-Sent
Events stream; `retry: 1000` makes it come back within a second or so after the central restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from central import history, views
from central.config import CentralConfig
from central.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
MIN_GAP_S = 0.1
KEEP_ALIVE_S = 15.0


class Readers:
    """A read-only connection to the history store per worker thread: queries never block the event loop."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store.reader(history.connect(self.path))
        return store

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await run_in_threadpool(lambda: fn(self.store(), *args))


def html_json(text: str) -> str:
    """JSON that is safe inside a <script type="application/json"> element."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class BoardFeed:
    def __init__(self, config: CentralConfig, readers: Readers, notices: Callable[[], AsyncIterator[str]]):
        self.config, self.readers, self.notices = config, readers, notices
        self.snapshot: str | None = None
        self._made_at = 0.0
        self._lock = asyncio.Lock()
        self._waiters: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None

    async def current(self) -> str:
        """The latest snapshot as JSON, recomputed if it is older than the refresh interval."""
        loop = asyncio.get_running_loop()
        if self.snapshot is None or loop.time() - self._made_at > self.config.web.board_refresh_s:
            await self.refresh()
        assert self.snapshot is not None
        return self.snapshot

    async def refresh(self) -> None:
        async with self._lock:
            data = await self.readers.run(views.board_snapshot, self.config, datetime.now(UTC))
            self.snapshot = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            self._made_at = asyncio.get_running_loop().time()
        for waiter in self._waiters:
            waiter.set()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="board-feed")

    async def _run(self) -> None:
        changed = asyncio.Event()

        async def listen() -> None:
            async for _ in self.notices():
                changed.set()

        listener = asyncio.create_task(listen(), name="board-feed-notices")
        try:
            while True:
                try:
                    await asyncio.wait_for(changed.wait(), timeout=self.config.web.board_refresh_s)
                except TimeoutError:
                    pass
                changed.clear()
                if self._waiters:
                    try:
                        await self.refresh()
                    except Exception:  # one failed read must not stop every open board; the next change retries
                        log.exception("board snapshot failed; open boards keep the previous one")
                await asyncio.sleep(MIN_GAP_S)
        finally:
            listener.cancel()

    async def stream(self) -> AsyncIterator[str]:
        self._ensure_running()
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            yield "retry: 1000\n\n"
            first = await self.current()
            waiter.clear()  # set by the refresh that made `first`, if one did: it is not news to this board
            yield f"event: board\ndata: {first}\n\n"
            while True:
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=KEEP_ALIVE_S)
                except TimeoutError:
                    yield "event: ping\ndata:\n\n"
                    continue
                waiter.clear()
                yield f"event: board\ndata: {self.snapshot}\n\n"
        finally:
            self._waiters.discard(waiter)
