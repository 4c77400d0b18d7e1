"""The edge's plate stage without a plate box: a large tracked truck whose plate the detector
missed is read in the bottom of its box, unless a nearer truck covers that part."""

from __future__ import annotations

import random

import numpy as np
import pytest
from plate_synth import random_plate, scene

from edge.plates.reader import PlateReader, PlateReaderConfig
from edge.plates.stage import PlateStage, PlateStageConfig


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlateReaderConfig(threads=2))


def _truck_scene(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    text = random_plate("vn1", random.Random(seed))
    shot = scene(text, "vn1", random.Random(seed), size=(640, 480), plate_height=30)
    w, h = 640, 480
    truck = np.array([[0.15 * w, 0.05 * h, 0.85 * w, 0.9 * h]])  # the cab plate_synth draws
    return shot.image, truck, text


def test_a_truck_without_a_plate_box_is_read_in_the_bottom_of_its_box(reader: PlateReader) -> None:
    image, truck, text = _truck_scene(21)
    stage = PlateStage(PlateStageConfig(), ["lane-1"], reader=reader).start()
    try:
        for i in range(3):
            stage.observe("lane-1", "cam", image, i * 1.0, truck, np.array([5]), np.zeros((0, 4)), wait=True)
        plates = stage.plates_for("lane-1", "cam", 5, final=True, wait_s=5)
    finally:
        stage.stop()
    assert plates and plates[0].text == text
    assert stage.stats.queued == 3  # one region read per second per track


def test_no_region_read_when_a_nearer_truck_covers_it_or_when_turned_off(reader: PlateReader) -> None:
    image, truck, _ = _truck_scene(22)
    nearer = np.array([[0.1 * 640, 0.7 * 480, 0.9 * 640, 479.0]])  # lower in the image: in front
    for config, trucks, ids in [
        (PlateStageConfig(), np.vstack([truck, nearer]), np.array([5, 6])),
        (PlateStageConfig(truck_region_share=0), truck, np.array([5])),
    ]:
        stage = PlateStage(config, ["lane-1"], reader=reader).start()
        try:
            stage.observe("lane-1", "cam", image, 0.0, trucks, ids, np.zeros((0, 4)), wait=True)
            assert stage.plates_for("lane-1", "cam", 5, final=True, wait_s=5) == ()
        finally:
            stage.stop()
