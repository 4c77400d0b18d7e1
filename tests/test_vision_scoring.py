"""bench/vision_eval.py's scoring against hand-made truth: what counts as found, missed, false, and what the
video's end leaves unscored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.vision_eval import END_GUARD_S, CameraRun, camera_config, score
from edge.lane import Crossing, FrameTime

START = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
DURATION_S = 120.0


def world(tmp_path: Path, exits_s: list[float]) -> Path:
    (tmp_path / "world.json").write_text(json.dumps({
        "start_utc": "2025-06-02T01:00:00.000Z", "duration_s": DURATION_S, "fps": 10.0}))
    truth = [{"truck": f"T{i:04d}", "exit": {"frame": round(s * 10), "utc": (START + timedelta(seconds=s)).isoformat()}}
             for i, s in enumerate(exits_s)]
    (tmp_path / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / "gate.jsonl").write_text("")
    return tmp_path


def run(crossings_s: list[float]) -> CameraRun:
    crossings = [Crossing("exit", i + 1, FrameTime(START + timedelta(seconds=s), round(s * 1e9)))
                 for i, s in enumerate(crossings_s)]
    return CameraRun("gate", "gate", 10.0, crossings, {}, int(DURATION_S * 10), 0, {})


def test_a_truck_crossing_in_the_last_seconds_unreported_yet_is_not_missed(tmp_path: Path):
    # Truth: one truck early (found), one mid-video the edge missed, one a second before the end that the edge
    # had not reported yet. Edge: the first, and a false one mid-video (further than the match window from all).
    result = score(world(tmp_path, [10.0, 50.0, DURATION_S - 1.0]), run([10.05, 85.0]))
    assert (result.truth_events, result.found, result.false_events) == (2, 1, 1)
    assert len(result.misses) == 1 and "01:00:50" in result.misses[0]
    assert len(result.falses) == 1 and "01:01:25" in result.falses[0]
    assert len(result.at_end) == 1 and "01:01:59" in result.at_end[0], result.at_end


def test_a_crossing_reported_just_before_the_end_whose_truth_falls_after_it_is_not_false(tmp_path: Path):
    result = score(world(tmp_path, [10.0]), run([10.05, DURATION_S - 0.5]))
    assert (result.truth_events, result.found, result.false_events, result.falses) == (1, 1, 0, [])
    assert len(result.at_end) == 1 and "01:01:59.5" in result.at_end[0], result.at_end


def test_a_crossing_matched_near_the_end_still_counts_with_its_error(tmp_path: Path):
    end = DURATION_S
    result = score(world(tmp_path, [end - 1.0]), run([end - 1.5]))
    assert (result.truth_events, result.found, result.false_events, result.at_end) == (1, 1, 0, [])
    assert abs(result.errors_by_kind["exit"][0] - 5.0) < 1e-6  # 0.5 s late at 10 frames/s


def test_the_guard_is_only_the_videos_last_seconds(tmp_path: Path):
    end = DURATION_S
    result = score(world(tmp_path, [end - END_GUARD_S - 1]), run([end - END_GUARD_S - 0.5 - 31]))
    assert (result.truth_events, result.found, result.false_events) == (1, 0, 1)
    assert result.at_end == []


def test_the_sites_pixel_settings_scale_with_the_cameras_width(tmp_path: Path):
    """An installer sets pixel distances per camera: a 1920 px wide camera sees everything three times as large."""
    world = {"fps": 10.0, "start_utc": "2025-06-02T01:00:00.000Z"}

    def tracking(width: int):
        camera = {"id": "q", "role": "queue", "video": "q.mp4", "width": width, "height": width * 9 // 16,
                  "geometry": {}}
        return camera_config(world, camera, tmp_path).tracking

    small, large = tracking(640), tracking(1920)
    assert (small.rejoin_radius_px, small.duplicate_radius_px, small.queued_past_entry_px) == (40.0, 120.0, 15.0)
    assert (large.rejoin_radius_px, large.duplicate_radius_px, large.queued_past_entry_px) == (120.0, 360.0, 45.0)
    assert large.line_fit_frames == small.line_fit_frames == 16 and large.hidden_hold_s == small.hidden_hold_s
