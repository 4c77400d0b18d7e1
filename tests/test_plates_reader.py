"""The plate reader on synthetic VN and CN plates: tight crops, detector boxes and whole scenes.

Plates are drawn by `plate_synth` (PIL + Noto CJK) with camera effects; the real PP-OCRv4 models
read them. Thresholds sit a little below what the reader achieves so that a regression fails.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
from plate_synth import LAYOUTS, Layout, camera, random_plate, render_plate, scene

from edge.plates.locate import background_colour, plate_quad
from edge.plates.quality import plate_quality, sharpness
from edge.plates.reader import PlateReader, PlateReaderConfig

TWO_ROW = {"vn2", "cn_yellow2"}


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlateReaderConfig(threads=2))


def _crops(layout: Layout, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = random_plate(layout, rng)
        height = rng.choice([24, 30, 36, 44]) * (2 if layout in TWO_ROW else 1)
        out.append((text, camera(render_plate(text, layout, rng), rng, height)))
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tight_crops_are_read_exactly(reader: PlateReader, layout: Layout) -> None:
    crops = _crops(layout, 24, seed=100 + LAYOUTS.index(layout))
    results = [(text, reader.read_plate(image)) for text, image in crops]
    exact = sum(r.accepted and r.text == text for text, r in results)
    wrong = sum(r.accepted and r.text != text for text, r in results)
    assert exact >= 22, [(t, r.text, r.confidence) for t, r in results if r.text != t]
    assert wrong <= 1
    country = "VN" if layout.startswith("vn") else "CN"
    assert all(r.country == country for text, r in results if r.text == text)
    if layout in TWO_ROW:
        assert sum(r.rows == 2 for _, r in results) >= 20


def test_a_94x24_crop_like_lprnet_data(reader: PlateReader) -> None:
    rng = random.Random(3)
    hits = 0
    for _ in range(12):
        text = random_plate("cn_blue", rng)
        image = cv2.resize(render_plate(text, "cn_blue", rng), (94, 24), interpolation=cv2.INTER_AREA)
        result = reader.read_plate(image)
        hits += result.accepted and result.text == text
        assert result.box is not None and result.crop is not None
    assert hits >= 11


def test_hint_boxes_from_the_detector_are_read(reader: PlateReader) -> None:
    rng = random.Random(11)
    hits = total = 0
    for layout in LAYOUTS:
        for _ in range(3):
            text = random_plate(layout, rng)
            shot = scene(
                text, layout, rng, plate_height=rng.choice([40, 56]) * (2 if layout in TWO_ROW else 1) // 2 * 2
            )
            x0, y0, x1, y1 = shot.plate_box
            w, h = x1 - x0, y1 - y0
            # A detector box is never exact: shift and scale it a little.
            jitter = (
                x0 + rng.uniform(-0.08, 0.08) * w,
                y0 + rng.uniform(-0.1, 0.1) * h,
                x1 + rng.uniform(-0.08, 0.08) * w,
                y1 + rng.uniform(-0.1, 0.1) * h,
            )
            result = reader.read_plate(shot.image, hint_box=jitter)
            total += 1
            hits += result.accepted and result.text == text
            if result.box is not None:
                bx0, by0, bx1, by1 = result.box
                assert bx0 < x1 and bx1 > x0 and by0 < y1 and by1 > y0, "reported box must overlap the plate"
    assert hits >= total - 1


def test_whole_scenes_are_searched_past_other_text(reader: PlateReader) -> None:
    rng = random.Random(5)
    hits = 0
    for layout in LAYOUTS:
        text = random_plate(layout, rng)
        shot = scene(text, layout, rng, plate_height=96 if layout in TWO_ROW else 48)
        result = reader.read_plate(shot.image)
        hits += result.accepted and result.text == text
    assert hits >= 5


def test_blank_and_noise_images_give_no_accepted_plate(reader: PlateReader) -> None:
    rng = np.random.default_rng(0)
    for image in (
        np.full((60, 200, 3), 128, np.uint8),
        rng.integers(0, 255, (120, 300, 3), dtype=np.uint8),
        np.zeros((720, 960, 3), np.uint8),
    ):
        assert not reader.read_plate(image).accepted


def test_grey_and_bgra_images_are_accepted(reader: PlateReader) -> None:
    rng = random.Random(9)
    text = random_plate("vn1", rng)
    image = camera(render_plate(text, "vn1", rng), rng, 36)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert reader.read_plate(grey).text == text
    assert reader.read_plate(bgra).text == text


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((2, 50, 3), np.uint8), "too small"),
        (np.zeros((40, 100, 3), np.float32), "uint8"),
        (np.zeros((40, 100, 2), np.uint8), "shape"),
    ],
)
def test_bad_images_are_refused_with_a_clear_error(reader: PlateReader, image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reader.read_plate(image)


def test_quality_gates_turn_away_small_and_blurred_plates() -> None:
    rng = random.Random(2)
    plate = render_plate(random_plate("vn1", rng), "vn1", rng)
    sharp = camera(plate, rng, 40, blur=0.4)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    assert sharpness(sharp) > 4 * sharpness(blurred)
    assert plate_quality(sharp, min_height_px=14, min_sharpness=60).ok
    verdict = plate_quality(blurred, min_height_px=14, min_sharpness=60)
    assert not verdict.ok and verdict.reason is not None and "sharpness" in verdict.reason
    small = cv2.resize(sharp, (40, 10))
    verdict = plate_quality(small, min_height_px=14, min_sharpness=60)
    assert not verdict.ok and verdict.reason is not None and "px" in verdict.reason


@pytest.mark.parametrize("layout, colour", [("cn_blue", "blue"), ("cn_yellow", "yellow"), ("cn_green", "green")])
def test_plate_colour_and_outline(layout: Layout, colour: str) -> None:
    rng = random.Random(4)
    plate = render_plate(random_plate(layout, rng), layout, rng)
    assert background_colour(plate) == colour
    h, w = plate.shape[:2]
    framed = cv2.copyMakeBorder(plate, h // 3, h // 3, w // 6, w // 6, cv2.BORDER_CONSTANT, value=(40, 40, 40))
    quad = plate_quad(framed)
    assert quad is not None
    expected = np.array([[w // 6, h // 3], [w // 6 + w, h // 3], [w // 6 + w, h // 3 + h], [w // 6, h // 3 + h]])
    assert np.abs(quad - expected).max() < 0.06 * w


def test_hint_boxes_outside_or_degenerate_read_nothing(reader: PlateReader) -> None:
    image = np.full((200, 300, 3), 120, np.uint8)
    for box in [(400, 400, 500, 450), (100, 100, 100, 140), (120, 80, 60, 20)]:
        result = reader.read_plate(image, hint_box=box)
        assert result.text is None and not result.accepted


@pytest.mark.parametrize("box", [(1, 2, 3), ("a", 0, 1, 1), (0, 0, float("nan"), 5), object()])
def test_malformed_hint_boxes_are_refused(reader: PlateReader, box: object) -> None:
    with pytest.raises(ValueError, match="hint_box"):
        reader.read_plate(np.zeros((50, 50, 3), np.uint8), hint_box=box)  # type: ignore[arg-type]
