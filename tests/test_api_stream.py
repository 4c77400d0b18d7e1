"""The API's live stream (`/api/stream`) over a real server: keep-alives while nothing happens, and the
lanes pushed again on the next change after them (the stream must not go silent after a keep-alive)."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import pytest
import uvicorn
from broker import free_port, wait_for_port

from central import api
from central.accounts import Accounts, hash_password
from central.config import CentralConfig
from central.web import Broadcaster, create_app


def _config(tmp_path) -> CentralConfig:
    return CentralConfig.model_validate({"database": str(tmp_path / "central.sqlite"), "sites": [
        {"id": "laocai", "name": "Lào Cai", "lanes": [{"id": "out-1", "direction": "export"}]}]})


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "STREAM_KEEP_ALIVE_S", 0.3)
    config = _config(tmp_path)
    broadcaster = Broadcaster()
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(config, broadcaster), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for_port(port)
    Accounts(config.web.accounts_path(config.database)).add_user("ada", "operator", hash_password("long passphrase"))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
        assert client.post("/signin", data={"csrf": token, "username": "ada", "password": "long passphrase"}
                           ).status_code == 303
        yield client, broadcaster
    srv.should_exit = True
    thread.join(timeout=10)


def test_stream_sends_keep_alives_and_still_pushes_the_next_change(server):
    client, broadcaster = server
    seen: list[str] = []

    def read() -> None:
        with client.stream("GET", "/api/stream") as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                seen.append(line)
                if sum(1 for s in seen if s.startswith("event: lanes")) == 2:
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while sum(1 for s in seen if s.startswith(": keep-alive")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(1 for s in seen if s.startswith(": keep-alive")) >= 3, seen
    broadcaster.notify_threadsafe("lanes")
    reader.join(timeout=10)
    lanes = [s for s in seen if s.startswith("event: lanes")]
    assert len(lanes) == 2, seen  # the first snapshot, and the change pushed after the keep-alives
    data = [s for s in seen if s.startswith("data: ")]
    assert '"out-1"' in data[-1]


def test_a_change_after_the_web_stopped_is_dropped_quietly(tmp_path):
    """On shutdown the web's loop closes before the ingest's aggregator stops; its last notice must not kill it."""
    broadcaster = Broadcaster()
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(_config(tmp_path), broadcaster), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for_port(port)
    srv.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()
    broadcaster.notify_threadsafe("lanes")  # raised "Event loop is closed" from the aggregator's thread
    loop = asyncio.new_event_loop()
    broadcaster.loop = loop
    loop.close()  # the race: the loop closes between the check and the call
    broadcaster.notify_threadsafe("lanes")
