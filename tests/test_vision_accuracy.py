"""The edge's vision (project model → ByteTrack → lane lines and zones) against the simulator's truth.

One busy lane, ten minutes, on a seed never used for training (training uses 1000+); the queue
camera and the gate camera each run through exactly the edge's analysis, with the simulated site's
tracking settings (bench/vision_eval.py, SITE_TRACKING).

The issue's targets: recall >= 99 %, <= 1 % false events, >= 95 % of crossings within 2 frames of
the truth, no truck with two ids, queue-zone occupancy equal to the truth in >= 95 % of seconds.
Tests named `..._target` assert the target itself. Those named `..._floor` assert the measured level
of a target not yet reached, so that nothing gets worse (docs/vision.md, "Known limitations", says
why each is short); `make bench` (bench/bench_vision.py) reports every figure against its target
over more trucks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.vision_eval import CameraRun, Score, analyse_camera, score, simulate

SEED = 11
DURATION_S = 600
# The fixture renders and analyses ten minutes of two cameras: 285 s in `make test` on a slow day, so the
# suite's 300 s per test is too tight a guard against a hang.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Score]:
    world = simulate(tmp_path_factory.mktemp("sim") / f"busy-{SEED}", SEED, DURATION_S)
    with ThreadPoolExecutor(2) as pool:  # one camera per core, as on the gate computer
        runs: list[CameraRun] = list(pool.map(lambda cam: analyse_camera(world, cam), ["lane-1-queue", "lane-1-gate"]))
    return {run.role: score(world, run) for run in runs}


def test_enough_truth_to_judge(results):
    assert results["queue"].truth_events >= 30 and results["gate"].truth_events >= 6


def test_no_truck_gets_two_ids_target(results):
    assert results["queue"].split_ids == 0 and results["gate"].split_ids == 0


def test_queue_camera_false_entries_floor(results):
    """Target <= 1 %; measured 0 of 34 (1 with the 40 % part rule: a second track on a long truck, alternating
    with the truck's own track from frame to frame, crosses the line seconds after it; docs/vision.md)."""
    queue = results["queue"]
    assert queue.false_events <= 1, f"false: {queue.falses}"


def test_gate_camera_counts_every_truck_target(results):
    gate = results["gate"]
    assert gate.recall >= 0.99, f"missed: {gate.misses}"


def test_gate_camera_false_events_target(results):
    gate = results["gate"]
    assert gate.false_rate <= 0.01, f"false: {gate.falses}"


def test_exit_times_target(results):
    """The exit line is near the gate camera, where a leaving truck moves ~10 px a frame. Met on this
    seed; over the bench's seeds 21 and 22, 75 % (a near truck's box bottom is sometimes far off)."""
    gate = results["gate"]
    assert gate.on_time_of("exit") >= 0.95, gate.errors_by_kind["exit"]


def test_queue_camera_counts_every_truck_target(results):
    """Met since a track taken for the truck ahead is let go once both are seen apart (edge/lane.py, TWIN_FRAMES):
    T0025 and T0032, missed before (94.1 %), are found since."""
    queue = results["queue"]
    assert queue.recall >= 0.99, f"missed: {queue.misses}"


def test_entry_times_target(results):
    """Met since a crossing is stamped with the first video frame that shows the truck past the line, as the truth
    is (edge/lane.py): 97 % (33 of 34; T0024 a track-level error of 54 frames) with lanewatch-truck-v3 and the
    road's model of December 2026. 91 % before, stamped with the fitted moment, half a frame before that frame on
    average (T0010 and T0019 2.04 and 2.14 frames early); 88 % before twin tracks were let go, 81 % before the
    refinement's margin beside other boxes; 47 % with v2; 44 % before anchor refinement. A truck moves under a
    pixel a frame there: 0.5 px is 2 frames. The gate line (2 crossings on this seed) is a floor: 100 % measured,
    50 % with v2."""
    queue, gate = results["queue"], results["gate"]
    assert queue.on_time_of("enter") >= 0.95, sorted(queue.errors_by_kind["enter"])
    assert gate.on_time_of("gate") >= 0.4, sorted(gate.errors_by_kind["gate"])
    errors = sorted(queue.errors_by_kind["enter"])
    assert errors[len(errors) // 2] <= 1.0, errors  # median, in whole frames now; 2.1 with v2


def test_queue_occupancy_target(results):
    """Met since a track taken for the truck ahead is let go once both are seen apart: 97.2 % of seconds (84.7 %
    before; docs/vision.md, "Two trucks taken for one")."""
    queue = results["queue"]
    assert queue.occupancy_agreement >= 0.95, f"{queue.occupancy_equal}/{queue.occupancy_seconds} seconds equal"
