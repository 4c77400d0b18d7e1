"""The edge's vision (project model → ByteTrack → lane lines and zones) against the simulator's truth.

One busy lane, five minutes, on a seed never used for training (training uses 1000+); the queue
camera and the gate camera each run through exactly the edge's analysis. `make bench` reports the
same figures over more trucks (bench/bench_vision.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.vision_eval import Score, analyse_camera, score, simulate

SEED = 11
DURATION_S = 300
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Score:
    world = simulate(tmp_path_factory.mktemp("sim") / f"busy-{SEED}", SEED, DURATION_S)
    with ThreadPoolExecutor(2) as pool:  # one camera per core, as on the gate computer
        runs = list(pool.map(lambda cam: analyse_camera(world, cam), ["lane-1-queue", "lane-1-gate"]))
    total = Score()
    for run in runs:
        total.add(score(world, run))
    return total


def test_enough_truth_to_judge(result):
    assert result.truth_events >= 15


def test_trucks_counted(result):
    assert result.recall >= 0.99, f"missed: {result.misses}"


def test_few_false_events(result):
    assert result.false_rate <= 0.01, f"false: {result.falses}"


def test_crossing_times_within_2_frames(result):
    late = sorted(e for e in result.timing_errors_frames if e > 2)
    assert result.on_time >= 0.95, f"errors beyond 2 frames: {late}"


def test_one_id_per_truck_per_camera(result):
    assert result.split_ids == 0


def test_queue_zone_occupancy_matches_truth(result):
    assert result.occupancy_agreement >= 0.95, f"{result.occupancy_equal}/{result.occupancy_seconds} seconds equal"
