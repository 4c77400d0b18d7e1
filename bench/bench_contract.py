"""How fast an event is encoded and validated: the cost every event pays on both sides."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from lanewatch import contract
from lanewatch.contract import ClockState, ExitEvent, PlateRead
from lanewatch.ids import uuid7


def run() -> list[dict]:
    event = ExitEvent(id=uuid7(), site="laocai", lane="out-1", edge="gate1", seq=1, ts=datetime.now(UTC),
                      mono_ms=1, clock=ClockState(synced=True), track_id=3,
                      plates=(PlateRead(text="24C12345", country="VN", confidence=0.9, valid_format=True),))
    topic = contract.event_topic("laocai", "out-1")
    payload = contract.encode(event)
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        contract.decode_event(topic, payload)
    decode_rate = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(n):
        contract.encode(event)
    encode_rate = n / (time.perf_counter() - started)
    return [
        {"name": "decode+validate event", "value": decode_rate, "unit": "events/s", "target": "", "ok": None},
        {"name": "encode event", "value": encode_rate, "unit": "events/s", "target": "", "ok": None},
    ]
