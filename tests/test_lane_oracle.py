"""models/lane_oracle.py on a short simulated world with the project's model: the recorded lane inputs replay
exactly what the edge's replay reports, and with the truth's bottoms for every box entries are timed as the truth's
own boxes time them (0-1 frame, docs/vision.md) except where the tracker errs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.vision_eval import score, simulate
from bench.vision_replay import cache_detections, replay_camera
from models.lane_oracle import CAMERA, record, replay

SEED = 7  # not a vision tuning, test or bench seed (31-34, 11, 21, 22)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("oracle") / "busy-7", SEED, 90.0)


def test_the_recorded_inputs_replay_the_edge(world):
    rows = record(world)
    assert (world / f"lane-inputs-{CAMERA}.pkl").exists()
    live = score(world, replay_camera(world, CAMERA, cache_detections(world, CAMERA)))
    again = replay(world, rows, "none")
    assert live.truth_events >= 3, "too few entries to judge"
    assert (again.found, again.false_events, again.timing_errors_frames, again.occupancy_equal) == (
        live.found, live.false_events, live.timing_errors_frames, live.occupancy_equal)


def test_the_truths_bottoms_time_entries_no_worse(world):
    rows = record(world)
    ours, perfect = replay(world, rows, "none"), replay(world, rows, "all")
    assert perfect.found >= ours.found
    assert perfect.on_time >= ours.on_time
    errors = sorted(perfect.timing_errors_frames)
    assert errors[len(errors) // 2] <= 1.0, errors  # measured: 0.7 frame (ours 0.4; 4 of 5 within 2 frames each)
