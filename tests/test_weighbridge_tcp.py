"""The reader through a serial-to-Ethernet converter: a raw TCP socket that drops and comes back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from weighbridge_rig import wait_until

from edge.weighbridge import toledo
from edge.weighbridge.config import parse_config
from edge.weighbridge.reader import WeighbridgeReader


class Converter:
    """A TCP server that plays frames to each client; `hang_up()` drops the current one."""

    def __init__(self, frame: bytes, period_s: float = 0.01):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._frame, self._period = frame, period_s
        self._client: socket.socket | None = None
        self.accepted = 0
        self.silent = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            self._client = client
            try:
                while not self._stop.is_set() and self._client is client:
                    if not self.silent:
                        client.sendall(self._frame)
                    time.sleep(self._period)
            except OSError:
                pass  # the reader went away
            finally:
                client.close()

    def hang_up(self) -> None:
        self._client = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()


@pytest.fixture
def converter() -> Iterator[Converter]:
    converter = Converter(b"\x00garbage" + toledo.encode(31_250, motion=False))
    yield converter
    converter.close()


def test_tcp_converter_drop_and_silence_are_recovered(converter):
    reader = WeighbridgeReader(parse_config({
        "protocol": "toledo", "connection": {"host": "127.0.0.1", "port": converter.port},
        "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "stale_after_s": 0.5,
    }))
    with reader:
        assert wait_until(lambda: reader.state == "ok")
        assert reader.health().weight_kg == 31_250.0
        assert reader.health().frame_errors > 0  # the garbage before each frame
        converter.hang_up()  # the converter reboots: connection reset
        assert wait_until(lambda: converter.accepted == 2)
        assert wait_until(lambda: reader.state == "ok")
        converter.silent = True  # half-open link: connected, but nothing arrives
        assert wait_until(lambda: reader.state == "lost", 3.0)
        assert reader.health().weight_kg is None
        converter.silent = False
        assert wait_until(lambda: converter.accepted >= 3 and reader.state == "ok", 5.0)
    assert reader.reconnects >= 2
    assert all(r.reading.weight_kg == 31_250.0 for r in reader.drain())
