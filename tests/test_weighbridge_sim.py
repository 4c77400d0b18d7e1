"""The indicator simulator: CSV rows in, the indicator's bytes out, line noise that the parser survives."""

from __future__ import annotations

import csv
import io
import random

import pytest

from edge.weighbridge.toledo import ToledoParser
from edge.weighbridge.yaohua_tf0 import YaohuaTf0Parser
from sim.weighbridge import encode_stream, encode_timeline, truck_timeline

CSV = """t_s,utc,weight_kg,motion,truck
0.0,2026-03-02T03:00:00.000Z,0,0,
0.1,2026-03-02T03:00:00.100Z,5230,1,t1
0.2,2026-03-02T03:00:00.200Z,24560,0,t1
0.3,2026-03-02T03:00:00.300Z,24560,false,t1
"""


def test_the_simulators_csv_rows_are_accepted():
    rows = list(csv.DictReader(io.StringIO(CSV)))
    data = encode_stream(rows, "toledo", random.Random(0), noise_rate=0.0)
    readings = ToledoParser().feed(data)
    assert [(r.weight_kg, r.motion) for r in readings] == [(0.0, False), (5230.0, True), (24560.0, False),
                                                          (24560.0, False)]


def test_noise_is_survived_and_corruption_is_counted():
    rng = random.Random(5)
    rows, _ = truck_timeline([30_000.0, 41_000.0], rng)
    timeline = encode_timeline(rows, "yaohua-tf0", random.Random(9), noise_rate=0.1, corrupt_rate=0.05)
    parser = YaohuaTf0Parser()
    readings = [r for _, chunk in timeline for r in parser.feed(chunk)]
    damaged = len(rows) - len(readings)
    assert 0.02 * len(rows) < damaged < 0.08 * len(rows)  # only the corrupted frames are lost
    assert parser.stats.checksum_errors + parser.stats.framing_errors >= damaged
    shown = [row.weight_kg for row in rows]
    it = iter(shown)
    assert all(any(r.weight_kg == w for w in it) for r in readings)  # in order, values intact


def test_modbus_has_no_byte_stream():
    with pytest.raises(ValueError, match="modbus-tcp"):
        encode_stream([(0.0, 1.0, False)], "modbus-tcp", random.Random(0))
