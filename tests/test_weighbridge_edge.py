"""The weighbridge inside the edge: weights joined with the deck camera's track, the lane status, the clock."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from weighbridge_rig import wait_until

from edge.app import EdgeApp
from edge.config import EdgeConfig
from edge.lane import Crossing, FrameTime
from edge.weighbridge.config import parse_config
from edge.weighbridge.deck import DeckLog, Join
from edge.weighbridge.lane import LaneWeighbridge, WeighCapture
from edge.weighbridge.reader import TimedEvent
from edge.weighbridge.stable import StableWeight
from lanewatch.clock import ClockWatch
from lanewatch.contract import ClockState
from sim.weighbridge import PtyIndicator, Row, encode_timeline, truck_timeline

SPEED = 8.0  # the indicator plays 8x faster than real time; the stable window is scaled to match
DIVISION = 10.0


# ------------------------------------------------------------------ the join
def test_the_truck_standing_on_the_deck_is_joined():
    deck = DeckLog()
    for i in range(30):  # 3 s at 10 frames/s: truck 4 stands; truck 9 drives past for 0.5 s
        deck.note(100.0 + i / 10, [4, 9] if 10 <= i < 15 else [4])
    assert deck.join(100.0, 102.9).track_id == 4
    assert deck.latest_s() == pytest.approx(102.9)


def test_two_trucks_or_none_leave_the_weight_unjoined():
    deck = DeckLog()
    for i in range(30):
        deck.note(100.0 + i / 10, [4, 5])  # two trucks on the deck, or one truck split into two tracks
    two = deck.join(100.0, 102.9)
    assert two.track_id is None and two.reason == "2 trucks on the deck: 4, 5"
    empty = DeckLog()
    for i in range(30):
        empty.note(100.0 + i / 10, [])
    assert empty.join(100.0, 102.9) == Join(None, "no truck on the deck")
    assert DeckLog().join(100.0, 102.9).reason.startswith("no frames")


def test_a_replay_that_restarts_its_clock_forgets_the_old_frames():
    deck = DeckLog()
    deck.note(500.0, [1])
    deck.note(3.0, [2])
    assert deck.join(0.0, 10.0).track_id == 2 and deck.join(499.0, 501.0).track_id is None


def _deck_tracks(rows: list[Row], doubled_visit: int) -> list[list[int]]:
    """What a deck camera would see per row: visit k's truck as track k; a second track on visit
    `doubled_visit` (two trucks on the deck)."""
    out, visit, loaded = [], 0, False
    for row in rows:
        if row.weight_kg > 500 and not loaded:
            visit += 1
        loaded = row.weight_kg > 500
        tracks = [visit] if loaded else []
        if loaded and visit == doubled_visit:
            tracks.append(99)
        out.append(tracks)
    return out


def test_weights_from_a_pty_indicator_join_the_truck_on_the_deck_despite_vision_lag():
    rng = random.Random(3)
    weights = [24_560.0, 38_120.0, 17_430.0]
    rows, truth = truck_timeline(weights, rng)
    deck_tracks = _deck_tracks(rows, doubled_visit=2)
    captures: list[WeighCapture] = []
    lag_s = 0.4  # the camera's analysis runs this far behind the indicator
    with PtyIndicator() as indicator:
        config = parse_config({
            "protocol": "yaohua-tf0", "connection": {"device": indicator.path},
            "stable": {"window_s": 3.0 / SPEED, "max_gap_s": 0.5},
        })
        lane = LaneWeighbridge("lane-1", config, "gate", captures.append)
        lane.start()
        try:
            assert wait_until(lambda: lane.reader.opens == 1)  # pyserial flushes input on open: play after
            start = time.monotonic()
            indicator.play(encode_timeline(rows, "yaohua-tf0", rng, noise_rate=0.05), speed=SPEED)
            noted = 0
            while noted < len(rows):  # the "camera": notes each row's deck, lag_s after it happened
                now = time.monotonic()
                while noted < len(rows) and start + rows[noted].t_s / SPEED + lag_s <= now:
                    lane.deck.note(start + rows[noted].t_s / SPEED, deck_tracks[noted])
                    noted += 1
                time.sleep(0.01)
            assert wait_until(lambda: len(captures) == len(weights), 5.0)
        finally:
            lane.stop()
    assert [c.weight_kg for c in captures] == pytest.approx(weights, abs=DIVISION)
    assert [c.track_id for c in captures] == [1, None, 3]
    assert captures[1].reason == "2 trucks on the deck: 2, 99"
    assert lane.captures == 3 and lane.unjoined == 1
    for capture, (stood_s, _) in zip(captures, truth, strict=True):
        stood = start + stood_s / SPEED  # the window starts when the truck stood still, as the truth says
        assert stood - 0.15 <= capture.mono_s - capture.window_s <= stood + 0.5
        assert capture.camera == "gate" and capture.lane == "lane-1"


# ------------------------------------------------------------------ the edge app
def _edge_config(tmp_path, device: str) -> EdgeConfig:
    zone = [[0, 0], [100, 0], [100, 100], [0, 100]]
    lane = {"id": "lane-1", "direction": "export", "cameras": [
        {"id": "gate-1", "source": {"type": "file", "path": str(tmp_path / "none.mp4")},
         "geometry": {"weighbridge_zone": zone}}],
        "weighbridge": {"protocol": "toledo", "connection": {"device": device}}}
    plain = {"id": "lane-2", "direction": "import", "cameras": [
        {"id": "gate-2", "source": {"type": "file", "path": str(tmp_path / "none.mp4")}}]}
    return EdgeConfig.model_validate({"site": "laocai", "edge_id": "gate", "data_dir": str(tmp_path / "edge"),
                                      "detector": {"type": "motion"}, "lanes": [lane, plain]})


class StepClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def app(tmp_path):
    with PtyIndicator() as indicator:
        application = EdgeApp(_edge_config(tmp_path, indicator.path))
        clocks = StepClock()
        application.clock = ClockWatch(wall=clocks.wall, read_os=lambda: ClockState(synced=True, offset_ms=0.4,
                                                                                   source="chrony"))
        application.test_indicator, application.test_clocks = indicator, clocks  # type: ignore[attr-defined]
        try:
            yield application
        finally:
            application._stop_weighbridges()
            application.outbox.close()


def test_the_lane_status_shows_the_indicator_and_lanes_without_one_show_none(app):
    lane1, lane2 = app.config.lanes
    weighbridge = app.weighbridges["lane-1"]
    assert set(app.weighbridges) == {"lane-1"}
    assert app.lane_status(lane1, app.outbox.health()).weighbridge.state == "connecting"
    weighbridge.start()
    assert wait_until(lambda: weighbridge.reader.opens == 1)
    rows = [Row(t_s=i / 10, weight_kg=31_250.0, motion=False) for i in range(100)]
    app.test_indicator.play(encode_timeline(rows, "toledo", random.Random(1), noise_rate=0.0))
    assert wait_until(lambda: app.lane_status(lane1, app.outbox.health()).weighbridge.stable, 10.0)
    status = app.lane_status(lane1, app.outbox.health())
    assert status.weighbridge.state == "ok" and status.weighbridge.weight_kg == 31_250.0
    assert status.weighbridge.frame_errors == 0
    assert app.lane_status(lane2, app.outbox.health()).weighbridge is None


def test_a_wall_clock_step_is_logged_and_shown_once_in_every_status_and_the_events(app, caplog):
    lanes = app.config.lanes
    before = [app.lane_status(lane, app.outbox.health()).clock for lane in lanes]
    assert all(c.synced and c.source == "chrony" and not c.step_detected for c in before)
    app.test_clocks.offset = -3600.0  # someone sets the clock back an hour
    with caplog.at_level(logging.WARNING, logger="lanewatch.clock"):
        after = [app.lane_status(lane, app.outbox.health()).clock for lane in lanes]
    assert "wall clock stepped by -3600" in caplog.text
    assert [c.step_detected for c in after] == [True, True]  # each lane's status shows it
    assert app.clock_state().step_detected  # and so does the next event
    again = [app.lane_status(lane, app.outbox.health()).clock for lane in lanes]
    assert not any(c.step_detected for c in again) and not app.clock_state().step_detected


def test_a_wall_clock_step_changes_no_duration(app):
    """The edge stamps every event with its monotonic clock beside the wall clock, so a step of the wall clock
    between two events changes neither their monotonic interval nor a weight's place in it. (That the central
    measures same-edge durations on these stamps is tests/test_assembly.py's
    test_same_edge_joins_by_track_and_measures_on_the_monotonic_clock.)"""
    lane, camera = app.config.lanes[0], app.config.lanes[0].cameras[0]
    t0 = FrameTime(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), 5_000_000_000_000)
    # The truck takes 60 s from gate to exit; in between NTP set the wall clock back 25 s.
    t1 = FrameTime(t0.utc + timedelta(seconds=60 - 25), t0.mono_ns + 60_000_000_000)
    app.emit(lane, camera, Crossing("gate", 7, t0))
    app.emit_weigh(WeighCapture(lane="lane-1", camera=camera.id, wall_s=t0.utc.timestamp() + 12,
                                mono_s=t0.mono_ns / 1e9 + 12, weight_kg=31_250.0, window_s=3.0, track_id=7,
                                reason="joined"))
    app.emit(lane, camera, Crossing("exit", 7, t1))
    assert app.outbox.flush()
    db = sqlite3.connect(app.config.data_dir / "outbox.sqlite")
    gate, weigh, exit_ = [json.loads(row[0]) for row in db.execute("SELECT payload FROM events ORDER BY seq")]
    db.close()
    assert [e["type"] for e in (gate, weigh, exit_)] == ["gate", "weigh", "exit"]
    # One truck: the same published track id (this run's base + the camera's id) on all three.
    assert {e["track_id"] for e in (gate, weigh, exit_)} == {app.track_base + 7} and app.track_base > 0
    wall = lambda event: datetime.fromisoformat(event["ts"]).timestamp()  # noqa: E731
    assert wall(exit_) - wall(gate) == 35.0  # what the wall clock says
    assert exit_["mono_ms"] - gate["mono_ms"] == 60_000  # what happened
    assert weigh["mono_ms"] - gate["mono_ms"] == 12_000 and weigh["weight_kg"] == 31_250.0


def test_a_weight_is_recorded_unjoined_when_the_deck_camera_has_stopped(app):
    """The cameras were never started here: the capture goes out at once, without a track, not held back."""
    weighbridge = app.weighbridges["lane-1"]
    pipeline = app.pipelines[0]
    pipeline.analysis.lane.weighbridge_tracks = [3]
    app.deck_seen(pipeline, FrameTime(datetime.now(UTC), 1_000_000_000))  # one frame, long before the weight
    # What the reader thread hands over when a window completes:
    weighbridge.reader.events.append(TimedEvent(wall_s=time.time(), event=StableWeight(
        mono_s=time.monotonic(), weight_kg=18_420.0, window_s=3.0, spread_kg=10.0, net=False, zero_offset_kg=0.0)))
    weighbridge.poll()
    assert weighbridge.captures == 1 and weighbridge.unjoined == 1
    assert app.outbox.flush()
    db = sqlite3.connect(app.config.data_dir / "outbox.sqlite")
    [payload] = [json.loads(row[0]) for row in db.execute("SELECT payload FROM events")]
    db.close()
    assert payload["type"] == "weigh" and payload["weight_kg"] == 18_420.0 and "track_id" not in payload
    assert payload["camera"] == "gate-1" and payload["clock"]["source"] == "chrony"
