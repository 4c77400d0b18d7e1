"""The indicator simulator: CSV rows in, the indicator's bytes out, line noise that the parser survives."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from weighbridge_rig import wait_until

from edge.config import EdgeConfig
from edge.weighbridge.config import parse_config
from edge.weighbridge.reader import WeighbridgeReader
from edge.weighbridge.toledo import ToledoParser
from edge.weighbridge.yaohua_tf0 import YaohuaTf0Parser
from lanewatch import demo
from lanewatch.config import load_config
from sim.outputs import read_weighbridge_rows
from sim.weighbridge import Row, TcpIndicator, encode_stream, encode_timeline, truck_timeline

ROOT = Path(__file__).resolve().parent.parent

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


def test_a_tcp_indicator_plays_in_real_time_loops_and_lets_a_reader_rejoin():
    rows = [Row(t_s=i / 10, weight_kg=1_000.0 * i, motion=False) for i in range(10)]  # one second
    with TcpIndicator(encode_timeline(rows, "toledo", random.Random(1), noise_rate=0.0), loop_s=1.0) as indicator:
        reader = WeighbridgeReader(parse_config({
            "protocol": "toledo", "connection": {"host": indicator.host, "port": indicator.port},
            "reconnect_min_s": 0.05}))
        with reader:
            assert wait_until(lambda: len(reader.readings) >= 25, 5.0)  # 2.5 loops
        first = [r.reading.weight_kg for r in reader.drain()]
        with reader.__class__(reader.config) as again:  # a second connection joins where the clock is
            assert wait_until(lambda: len(again.readings) >= 5, 5.0)
        rejoined = [r.reading.weight_kg for r in again.drain()]
    assert first[:12] == [1_000.0 * (i % 10) for i in range(12)]
    assert rejoined[1] == (rejoined[0] + 1_000.0) % 10_000.0 and indicator.connections == 2


def test_the_demo_gives_each_gate_edge_lane_its_simulated_indicator(tmp_path):
    world_dir = tmp_path / "world"
    subprocess.run([sys.executable, "-m", "sim.cli", "generate", "--seed", "5", "--duration", "20", "--lanes", "2",
                    "--no-video", "--rear-camera", "--quiet", "--out", str(world_dir)], check=True, cwd=ROOT)
    world = json.loads((world_dir / "world.json").read_text())
    indicators = demo.start_indicators(world_dir, world, seed=5)
    try:
        queue_file, gate_file = demo.write_configs(tmp_path, world_dir, world, 1883, 8080, indicators)
        gate, queue = load_config(gate_file, EdgeConfig), load_config(queue_file, EdgeConfig)
        assert all(lane.weighbridge is None for lane in queue.lanes)
        # The gate edge reads each lane's rear plate camera too, bound to the gate camera's deck.
        assert [(lane.deck_camera.id, lane.rear_camera.id) for lane in gate.lanes] == [
            (f"lane-{n}-gate", f"lane-{n}-rear") for n in (1, 2)]
        assert [lane.weighbridge.protocol for lane in gate.lanes] == ["yaohua-tf0", "toledo"]
        for lane in gate.lanes:
            config = lane.weighbridge
            assert config.stable.auto_zero_range_kg == 0  # the simulated indicator zeroes itself
            with WeighbridgeReader(config) as reader:
                assert wait_until(lambda r=reader: len(r.readings) >= 3, 5.0)
            # What the lane's timeline starts with, in that lane's protocol:
            truth = read_weighbridge_rows(world_dir / f"{lane.id}-weighbridge.csv")
            assert [r.reading.weight_kg for r in reader.drain()][:3] == [float(t["weight_kg"]) for t in truth[:3]]
    finally:
        for _, indicator in indicators.values():
            indicator.close()
