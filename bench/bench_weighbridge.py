"""Weighbridge parser throughput: frames per second on one core (target ≥ 50,000 per parser).

Each stream parser is fed a simulated indicator stream (2 % of frames preceded by line noise) in
4 KiB reads, as a serial port delivers it; Modbus is timed on register decoding and the stable
capture on a 10 Hz deck timeline. The deck log is what the edge adds to a camera thread (one note per
analysed frame) and to each captured weight (the join over a full two-minute history).
"""

from __future__ import annotations

import random
import time

from edge.weighbridge.config import ModbusRegisters, StableConfig
from edge.weighbridge.deck import DeckLog
from edge.weighbridge.modbus import block, decode_registers, encode_registers
from edge.weighbridge.protocols import STREAM_PROTOCOLS
from edge.weighbridge.reading import Reading
from edge.weighbridge.sma import SmaParser
from edge.weighbridge.stable import StableWeighing
from edge.weighbridge.toledo import ToledoParser
from edge.weighbridge.yaohua_tf0 import YaohuaTf0Parser
from edge.weighbridge.yaohua_tf1 import YaohuaTf1Parser
from sim.weighbridge import Row, encode_stream

TARGET = 50_000.0
FRAMES = 60_000
PARSERS = {"yaohua-tf0": YaohuaTf0Parser, "yaohua-tf1": YaohuaTf1Parser, "toledo": ToledoParser, "sma": SmaParser}


def _best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def _row(name: str, value: float, unit: str = "frames/s", target: float = TARGET) -> dict:
    return {"name": name, "value": round(value), "unit": unit, "target": f">= {target:,.0f}", "ok": value >= target}


def run() -> list[dict]:
    rng = random.Random(42)
    rows = [
        Row(t_s=i / 10, weight_kg=float(rng.randrange(0, 99_999)), motion=rng.random() < 0.3) for i in range(FRAMES)
    ]
    out = []
    for protocol in STREAM_PROTOCOLS:
        data = encode_stream(rows, protocol, random.Random(1), noise_rate=0.02)
        chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
        counted: list[int] = []

        def parse(chunks=chunks, make=PARSERS[protocol], counted=counted) -> None:
            parser = make()
            n = 0
            for chunk in chunks:
                n += len(parser.feed(chunk))
            counted.append(n)

        seconds = _best_of(3, parse)
        assert counted[-1] >= FRAMES, f"{protocol}: parsed {counted[-1]} of {FRAMES} frames"
        out.append(_row(f"weighbridge parse {protocol}", FRAMES / seconds))

    registers = ModbusRegisters.model_validate(
        {"weight": {"address": 0, "type": "int32", "scale": 10.0}, "status": {"address": 2, "motion_bit": 3}}
    )
    first, count = block(registers)
    samples = []
    for row in rows[:10_000]:
        encoded = encode_registers(row.weight_kg, registers, motion=row.motion)
        samples.append([encoded.get(first + i, 0) for i in range(count)])

    def decode() -> None:
        for values in samples:
            decode_registers(values, first, registers)

    out.append(_row("weighbridge decode modbus registers", len(samples) / _best_of(3, decode)))

    readings = [Reading(weight_kg=w, motion=False) for w in ([0.0] * 50 + [25_000.0] * 100) * 60]

    def weigh() -> None:
        weighing = StableWeighing(StableConfig())
        for i, reading in enumerate(readings):
            weighing.update(i / 10, reading)

    out.append(_row("weighbridge stable capture", len(readings) / _best_of(3, weigh), "readings/s", 10_000.0))

    frames = [(i / 10, [i // 300] if i % 300 < 200 else []) for i in range(12_000)]  # 20 min at 10 frames/s

    def note() -> None:
        deck = DeckLog()
        for t, tracks in frames:
            deck.note(t, tracks)

    out.append(_row("weighbridge deck note (camera thread)", len(frames) / _best_of(3, note), "frames/s", 10_000.0))
    full = DeckLog()
    for t, tracks in frames:
        full.note(t, tracks)
    end = frames[-1][0]

    def join() -> None:
        for k in range(200):
            full.join(end - 3.0 - k * 0.1, end - k * 0.1)

    out.append(_row("weighbridge deck join (per weight)", 200 / _best_of(3, join), "joins/s", 100.0))
    return out


if __name__ == "__main__":
    for line in run():
        print(line)
