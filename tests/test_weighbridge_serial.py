"""The reader on real serial I/O: simulated indicators play into pseudo-terminals, pyserial reads the slave."""

from __future__ import annotations

import os
import random

import pytest
from weighbridge_rig import wait_until

from edge.weighbridge import yaohua_tf0
from edge.weighbridge.config import parse_config
from edge.weighbridge.reader import WeighbridgeReader
from edge.weighbridge.stable import StableWeight
from sim.weighbridge import PtyIndicator, encode_stream, encode_timeline, play_into_pty, truck_timeline

SPEED = 8.0  # the timeline plays 8x faster than real time; windows below are scaled to match
TRUCKS = [24_560.0, 38_120.0]


def scaled_config(protocol: str, device: str, **extra: object):
    return parse_config(
        {
            "protocol": protocol,
            "connection": {"device": device, "baud": 9600},
            "stable": {"window_s": 3.0 / SPEED, "max_gap_s": 0.5},
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.4,
            **extra,
        }
    )


@pytest.mark.parametrize("protocol", ["yaohua-tf0", "yaohua-tf1", "toledo"])
def test_continuous_indicator_through_a_pty(protocol):
    rng = random.Random(7)
    rows, truth = truck_timeline(TRUCKS, rng)
    timeline = encode_timeline(rows, protocol, rng, noise_rate=0.05)
    with PtyIndicator() as indicator:
        reader = WeighbridgeReader(scaled_config(protocol, indicator.path))
        with reader:
            assert wait_until(lambda: reader.opens == 1)  # pyserial flushes input on open: play after
            indicator.play(timeline, speed=SPEED)
            indicator.wait(60)
            wait_until(lambda: len(reader.readings) >= len(rows), 3.0)
            health = reader.health()
        readings = reader.drain()
        events = [e.event for e in reader.drain_events()]

    assert [r.reading.weight_kg for r in readings] == [row.weight_kg for row in rows]  # every frame, in order
    if protocol == "toledo":
        assert [r.reading.motion for r in readings] == [row.motion for row in rows]
    assert health.state == "ok" and health.weight_kg == rows[-1].weight_kg
    assert health.frame_errors > 0  # the line noise was seen and counted…
    assert reader.source.stats.checksum_errors == 0  # …as framing, not as damaged frames
    captures = [e for e in events if isinstance(e, StableWeight)]
    assert len(captures) == len(truth)
    assert all(abs(c.weight_kg - w) <= 10.0 for c, (_, w) in zip(captures, truth, strict=True))  # one division
    assert all(b.mono_s >= a.mono_s for a, b in zip(readings, readings[1:], strict=False))


def test_sma_request_response_through_a_pty():
    rng = random.Random(3)
    rows, truth = truck_timeline(TRUCKS, rng)
    with PtyIndicator() as indicator:
        reader = WeighbridgeReader(scaled_config("sma", indicator.path, poll_interval_s=0.02))
        with reader:
            assert wait_until(lambda: reader.opens == 1)
            indicator.serve_sma(rows, speed=SPEED)
            indicator.wait(60)
        readings = reader.drain()
        events = [e.event for e in reader.drain_events()]
    shown = {row.weight_kg for row in rows}
    # Polled at 50 Hz, the sped-up timeline's 6.1 s give ~300 answers; a reader stuck waiting out a 1 s timeout per
    # request would get ~6. The floor leaves room for a loaded machine (236 seen with the suite's other worker busy).
    assert len(readings) > 100
    assert all(r.reading.weight_kg in shown for r in readings)
    captures = [e for e in events if isinstance(e, StableWeight)]
    assert len(captures) == len(truth)
    assert all(abs(c.weight_kg - w) <= 10.0 for c, (_, w) in zip(captures, truth, strict=True))


def test_raw_bytes_at_line_rate():
    rows = [(i / 10, 1000.0 + i, False) for i in range(200)]
    data = encode_stream(rows, "yaohua-tf0", random.Random(1), noise_rate=0.0)
    indicator = play_into_pty(data, bytes_per_s=9600 / 10 * 4)  # 4x a 9600-baud line
    try:
        reader = WeighbridgeReader(scaled_config("yaohua-tf0", indicator.path))
        with reader:
            assert wait_until(lambda: len(reader.readings) >= 1)
            wait_until(lambda: reader.readings and reader.readings[-1].reading.weight_kg == 1199.0)
        weights = [r.reading.weight_kg for r in reader.drain()]
    finally:
        indicator.close()
    # Whatever was written before the reader opened the port is lost (pyserial flushes on open).
    assert weights == [1000.0 + i for i in range(200 - len(weights), 200)]
    assert len(weights) > 150


def test_missing_port_keeps_connecting_with_backoff(tmp_path):
    reader = WeighbridgeReader(scaled_config("yaohua-tf0", str(tmp_path / "ttyUSB9")))
    with reader:
        assert wait_until(lambda: reader.reconnects >= 3, 5.0)
        health = reader.health()
    assert (health.state, health.weight_kg, reader.opens) == ("connecting", None, 0)


def test_lost_port_is_reported_and_reopened(tmp_path):
    """A USB adapter is pulled and plugged back: /dev/serial/by-id/… points at a new tty."""
    link = tmp_path / "ttyWEIGH"
    first = PtyIndicator()
    os.symlink(first.path, link)
    reader = WeighbridgeReader(scaled_config("yaohua-tf0", str(link), stale_after_s=1.0))
    frames = [(i * 0.02, yaohua_tf0.encode(12_340)) for i in range(500)]
    with reader:
        assert wait_until(lambda: reader.opens == 1)
        assert reader.state == "connecting"
        first.play(frames)
        assert wait_until(lambda: reader.state == "ok")
        assert reader.health().weight_kg == 12340.0
        first.close()  # hang-up: reads fail
        assert wait_until(lambda: reader.state == "lost", 5.0)
        lost = reader.health()
        assert lost.weight_kg is None and not lost.stable  # no stale weight shown as current
        second = PtyIndicator()
        try:
            tmp = tmp_path / "new-link"
            os.symlink(second.path, tmp)
            os.replace(tmp, link)
            assert wait_until(lambda: reader.opens == 2, 10.0)
            second.play(frames)
            assert wait_until(lambda: reader.state == "ok", 10.0)
        finally:
            second.close()
    assert reader.reconnects >= 1
