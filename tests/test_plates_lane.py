"""Plate reading for a lane's tracks: gating, pacing, voting and the lane's counters, with the real reader."""

from __future__ import annotations

import random

import numpy as np
import pytest
from plate_synth import Scene, random_plate, scene

from edge.plates.lane import LanePlates, LanePlatesConfig, assign_plates
from edge.plates.reader import PlateReader, PlateReaderConfig


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlateReaderConfig(threads=2))


def _approach(text: str, layout: str, seed: int, frames: int = 24) -> list[Scene]:
    """A truck driving towards the camera: its plate grows from 8 to about 60 px high."""
    two_rows = layout in ("vn2", "cn_yellow2")
    shots = []
    for i in range(frames):
        height = int(8 + (52 * i / (frames - 1))) * (2 if two_rows else 1)
        # One truck, one look: the same seed each frame, only the distance changes.
        shots.append(scene(text, layout, random.Random(seed), size=(640, 480), plate_height=height))  # type: ignore[arg-type]
    return shots


@pytest.mark.parametrize("layout, seed", [("vn1", 1), ("vn2", 2), ("cn_yellow", 3), ("cn_yellow2", 4)])
def test_a_track_gets_its_plate_and_the_lane_counts_reads(reader: PlateReader, layout: str, seed: int) -> None:
    text = random_plate(layout, random.Random(seed))  # type: ignore[arg-type]
    lane = LanePlates(reader)
    for i, shot in enumerate(_approach(text, layout, seed)):
        lane.offer(7, shot.image, shot.plate_box, now_s=i * 0.1)
    plates = lane.plates(7)
    assert plates and plates[0].text == text
    assert plates[0].country == ("VN" if layout.startswith("vn") else "CN")
    assert plates[0].rows == (2 if layout in ("vn2", "cn_yellow2") else 1)
    assert plates[0].crop_jpeg_b64
    counts = lane.status()
    assert counts.attempted >= 1 and counts.accepted >= 1
    assert counts.accepted + counts.rejected == counts.attempted
    assert lane.counters.skipped >= 2  # the first, tiny plates were not worth reading
    # 2.4 s of video at one read per 0.25 s at most
    assert counts.attempted <= 10
    assert lane.finish(7) == plates and lane.plates(7) == ()


def test_tractor_and_trailer_plates_of_one_track(reader: PlateReader) -> None:
    rng = random.Random(8)
    front, rear = "24C12345", "24R00123"
    lane = LanePlates(reader, LanePlatesConfig(min_interval_s=0))
    for i in range(4):
        shot = scene(front, "vn1", rng, size=(640, 480), plate_height=40)
        lane.offer(3, shot.image, shot.plate_box, now_s=i, role_hint="tractor")
    for i in range(4, 8):
        shot = scene(rear, "vn2", rng, size=(640, 480), plate_height=96)
        lane.offer(3, shot.image, shot.plate_box, now_s=i, role_hint="trailer")
    assert {(p.text, p.role) for p in lane.plates(3)} == {(front, "tractor"), (rear, "trailer")}


def test_blurred_plates_are_skipped_not_read(reader: PlateReader) -> None:
    import cv2

    shot = scene("24C12345", "vn1", random.Random(5), size=(640, 480), plate_height=40)
    blurred = cv2.GaussianBlur(shot.image, (0, 0), 4)
    lane = LanePlates(reader)
    assert lane.offer(1, blurred, shot.plate_box, now_s=0) is None
    assert lane.counters.skipped == 1 and lane.status().attempted == 0


def test_reads_are_paced_and_capped(reader: PlateReader) -> None:
    shot = scene("云G12345", "cn_yellow", random.Random(6), size=(640, 480), plate_height=40)
    lane = LanePlates(reader, LanePlatesConfig(min_interval_s=1.0, max_reads_per_track=3, settle_reads=99))
    results = [lane.offer(1, shot.image, shot.plate_box, now_s=t * 0.5) for t in range(20)]
    assert sum(r is not None for r in results) == 3
    assert [i for i, r in enumerate(results) if r is not None] == [0, 2, 4]


def test_a_settled_plate_is_read_seldom(reader: PlateReader) -> None:
    shot = scene("云G12345", "cn_yellow", random.Random(6), size=(640, 480), plate_height=44)
    lane = LanePlates(
        reader, LanePlatesConfig(min_interval_s=0.1, settle_confidence=0.5, settle_reads=2, settled_interval_s=5)
    )
    results = [lane.offer(1, shot.image, shot.plate_box, now_s=t * 0.1) for t in range(40)]
    read_at = [i for i, r in enumerate(results) if r is not None]
    assert read_at[:2] == [0, 1] and len(read_at) <= 2 + 40 * 0.1 / 5 + 1


def test_assign_plates_to_tracks() -> None:
    trucks = np.array([[0, 0, 400, 300], [100, 50, 300, 280], [500, 0, 900, 300]], float)
    ids = np.array([1, 2, 3])
    plates = np.array([[180, 240, 240, 260], [600, 250, 640, 265], [620, 240, 700, 270], [950, 10, 990, 30]], float)
    assigned = assign_plates(trucks, ids, plates)
    assert assigned == {2: (180.0, 240.0, 240.0, 260.0), 3: (620.0, 240.0, 700.0, 270.0)}
    assert assign_plates(trucks, ids, np.zeros((0, 4))) == {}


def test_a_failing_read_is_counted_and_does_not_raise(reader: PlateReader) -> None:
    shot = scene("24C12345", "vn1", random.Random(5), size=(640, 480), plate_height=40)
    lane = LanePlates(reader)
    # A float frame cannot be read: the failure is counted and the lane carries on.
    assert lane.offer(("cam1", 1), shot.image.astype(np.float32), shot.plate_box, now_s=0) is None
    assert lane.status().attempted == 1 and lane.status().rejected == 1
    assert lane.offer(("cam1", 1), shot.image, shot.plate_box, now_s=1) is not None
    assert lane.plates(("cam1", 1))[0].text == "24C12345"
    assert lane.plates(("cam2", 1)) == ()  # same track number on another camera: another truck


def test_tracks_never_finished_are_forgotten(reader: PlateReader) -> None:
    shot = scene("24C12345", "vn1", random.Random(5), size=(640, 480), plate_height=40)
    lane = LanePlates(reader, LanePlatesConfig(forget_after_s=30))
    lane.offer(1, shot.image, shot.plate_box, now_s=0)
    assert lane.plates(1)
    lane.offer(2, shot.image, shot.plate_box, now_s=31)
    assert lane.plates(1) == () and lane.plates(2)


@pytest.mark.parametrize("layout, seed", [("cn_yellow2", 11), ("vn2", 12)])
def test_a_box_around_the_bottom_row_only_still_reads_the_two_row_plate(
    reader: PlateReader, layout: str, seed: int
) -> None:
    # The truck detector often boxes only the larger bottom row of a two-row plate (`12345` under `云 G`).
    text = random_plate(layout, random.Random(seed))  # type: ignore[arg-type]
    shot = scene(text, layout, random.Random(seed), size=(640, 480), plate_height=70)  # type: ignore[arg-type]
    x0, y0, x1, y1 = shot.plate_box
    bottom_row = (x0, y0 + 0.45 * (y1 - y0), x1, y1)
    assert reader.read_plate(shot.image, hint_box=bottom_row).text != text  # the box alone lacks the top row
    result = LanePlates(reader).offer(1, shot.image, bottom_row, now_s=0.0)
    assert result is not None and result.accepted and result.text == text and result.rows == 2
    bare = LanePlates(reader, LanePlatesConfig(top_row_reach=0)).offer(1, shot.image, bottom_row, now_s=0.0)
    assert bare is not None and bare.text != text
