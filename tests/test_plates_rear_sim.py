"""Tractor and trailer plates on simulated trucks, end to end, with each lane's rear plate camera.

Real parts: the simulator renders its `plates` scenario with `--rear-camera` (a 1080p gate camera
and a 1080p rear camera per lane looking along the lane at the weighbridge deck); the edge's
detector, tracker and lane logic run over the gate video, its deck log says which truck stands
alone on the deck, the rear camera's deck view is searched for that truck's plate by the PP-OCRv4
ONNX reader, and each exit event's plates (front and rear voted together) are scored against
truth.jsonl: the trailer's plate with the role `trailer`, the tractor's with `tractor`, a rigid
truck's own plate once as `vehicle`.

Seeds: the rear join was tuned on seeds 70 and 71 only; this test's seed 44 was not looked at
before its figures were taken (docs/plates.md has them, with the benchmark's fresh seeds 103, 104).
"""

from __future__ import annotations

import pytest

from bench.plates_sim import REAR_TEST_RUN, PlateScore, run_edge, score, simulate

# Rendering 2 lanes x 360 s of three cameras and reading two 1080p videos per lane takes a few minutes
# on a busy 2-core machine.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.long]

EXACT_TARGET = 0.95  # the bar
WRONG_TARGET = 0.01  # the bar: trucks with a confidently wrong (trailer) plate


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> PlateScore:
    run = REAR_TEST_RUN
    world = simulate(tmp_path_factory.mktemp("plates-rear-sim") / "world", run.seed, run.duration_s,
                     lanes=run.lanes, rear_camera=True)  # fmt: skip
    return score(world, run_edge(world, rear_camera=True))


def _trucks(result: PlateScore, which: str) -> list:
    return [(t.truck, t.truth, [(p.text, p.role, p.confidence) for p in t.plates]) for t in result.trucks
            if (t.tractor if which == "tractor" else not t.tractor)]  # fmt: skip


def test_tractors_and_rigid_trucks_are_scored(result: PlateScore) -> None:
    assert result.missed_exits <= 1
    assert result.trailer_exact()[1] >= 5, "too few tractors with a trailer plate in the rear camera's view"
    assert result.rigid_roles()[1] >= 3


def test_trailer_plates_are_read_exactly(result: PlateScore) -> None:
    right, total = result.trailer_exact()
    assert right >= EXACT_TARGET * total, _trucks(result, "tractor")


def test_confidently_wrong_trailer_plates_are_rare(result: PlateScore) -> None:
    wrong, total = result.wrong_trailers()
    assert wrong <= WRONG_TARGET * total, [t for t in _trucks(result, "tractor") + _trucks(result, "rigid")]


def test_tractors_and_rigid_trucks_get_their_roles(result: PlateScore) -> None:
    right, total = result.tractor_roles()
    assert right >= EXACT_TARGET * total, _trucks(result, "tractor")
    right, total = result.rigid_roles()
    assert right >= EXACT_TARGET * total, _trucks(result, "rigid")


def test_front_plates_stay_exact_with_the_rear_camera(result: PlateScore) -> None:
    right, total = result.exact()
    wrong, trucks = result.wrong()
    assert right >= EXACT_TARGET * total and wrong <= WRONG_TARGET * trucks
