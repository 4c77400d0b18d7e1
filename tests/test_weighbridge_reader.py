"""Reader thread policy: capped exponential backoff, and a failing frame decoder never kills the thread."""

from __future__ import annotations

import time

from edge.weighbridge.config import parse_config
from edge.weighbridge.reader import WeighbridgeReader
from edge.weighbridge.reading import ParserStats, Reading


class UnpluggedPort:
    """A port that never opens; records when the reader tried."""

    def __init__(self) -> None:
        self.stats = ParserStats()
        self.attempts: list[float] = []

    def describe(self) -> str:
        return "unplugged"

    def open(self) -> None:
        self.attempts.append(time.monotonic())
        raise OSError("no such device")

    def read(self) -> list[Reading]:
        raise AssertionError("never opened")

    def close(self) -> None:
        pass


class FlakyPort(UnpluggedPort):
    """Opens, gives two readings, then a decoder bug; then works again."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def open(self) -> None:
        self.attempts.append(time.monotonic())

    def read(self) -> list[Reading]:
        self.calls += 1
        time.sleep(0.005)
        if self.calls == 3:
            raise ZeroDivisionError("a bug in one frame")
        return [Reading(weight_kg=float(self.calls))]


CONFIG = {
    "protocol": "yaohua-tf0",
    "connection": {"device": "/dev/null"},
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.2,
}


def test_backoff_doubles_up_to_the_cap():
    port = UnpluggedPort()
    with WeighbridgeReader(parse_config(CONFIG), source=port):  # type: ignore[arg-type]
        time.sleep(1.3)
    gaps = [b - a for a, b in zip(port.attempts, port.attempts[1:], strict=False)]
    assert len(gaps) >= 5
    expected = [0.05, 0.1, 0.2, 0.2, 0.2]
    assert all(e <= g < e + 0.1 for g, e in zip(gaps, expected, strict=False)), gaps


def test_an_exception_in_the_pump_reopens_and_carries_on():
    port = FlakyPort()
    reader = WeighbridgeReader(parse_config(CONFIG), source=port)  # type: ignore[arg-type]
    with reader:
        deadline = time.monotonic() + 5
        while port.calls < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    weights = [r.reading.weight_kg for r in reader.drain()]
    assert weights[:2] == [1.0, 2.0] and 4.0 in weights
    assert reader.reconnects == 1 and len(port.attempts) == 2
