"""Labelled synthetic plate images that look like what real photo sets hold, for tests and the bench.

Real sets the reader is judged on hold things our development photos lack: two-row plates (tight
crops, some squashed to 94×24 like one-row LPRNet crops), whole vehicle photos with other text in
view, plates seen at an angle, small, blurred, dark or over-compressed. Each set here is drawn
from a seed, from two renderers (tests/plate_synth.py and the simulator's sim/plate_image.py,
whose lettering and layouts differ) so that the reader is not fitted to one way of drawing.

    >>> items = plate_set("crops_94x24", seed=1, n=2)
    >>> items[0].image.shape[:2]
    (24, 94)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from plate_synth import Layout, camera, random_plate, render_plate, scene

from sim.plate_image import render_plate as sim_render_plate
from sim.plate_text import Role, cn_plate, vn_plate

ONE_ROW: tuple[Layout, ...] = ("vn1", "cn_blue", "cn_yellow", "cn_green")
TWO_ROW: tuple[Layout, ...] = ("vn2", "cn_yellow2")


@dataclass(frozen=True)
class Item:
    text: str  # the true normalised plate
    country: str
    rows: int
    image: np.ndarray  # BGR


def _country(text: str) -> str:
    return "VN" if text[0].isdigit() else "CN"


def perspective(image: np.ndarray, rng: random.Random, amount: float) -> np.ndarray:
    """A plate seen off-axis: each corner moved by up to `amount` of the plate's size, border replicated."""
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = np.array([[rng.uniform(-amount, amount) * w, rng.uniform(-amount, amount) * h] for _ in range(4)])
    matrix = cv2.getPerspectiveTransform(src, (src + jitter).astype(np.float32))
    return cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def lighting(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """Dusk, glare or a flat grey day: a random gain, offset and contrast squeeze."""
    gain = rng.choice([rng.uniform(0.35, 0.6), rng.uniform(0.8, 1.2)])
    squeeze = rng.uniform(0.6, 1.0)
    out = (image.astype(np.float32) - 128) * squeeze + 128
    return (out * gain + rng.uniform(-15, 15)).clip(0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    assert decoded is not None
    return np.asarray(decoded)


def _synth_plate(rng: random.Random, layouts: tuple[Layout, ...]) -> tuple[str, np.ndarray, int]:
    layout = rng.choice(layouts)
    text = random_plate(layout, rng)
    return text, render_plate(text, layout, rng), 2 if layout in TWO_ROW else 1


def _sim_plate(rng: random.Random, two_row: bool) -> tuple[str, np.ndarray, int]:
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    # Chinese trailer plates are always two-row.
    role: Role = "trailer" if two_row and rng.random() < 0.3 else "tractor"
    plate = (vn_plate if rng.random() < 0.5 else cn_plate)(nprng, role, two_row)
    scale = 2.0
    w_mm, h_mm = {(1, "VN"): (520, 110), (2, "VN"): (330, 165), (1, "CN"): (440, 140), (2, "CN"): (440, 220)}[
        (plate.rows, plate.country)
    ]
    return plate.text, sim_render_plate(plate, int(w_mm * scale), int(h_mm * scale)), plate.rows


def _plate(rng: random.Random, rows: int) -> tuple[str, np.ndarray, int]:
    if rng.random() < 0.5:
        return _synth_plate(rng, TWO_ROW if rows == 2 else ONE_ROW)
    return _sim_plate(rng, rows == 2)


def _degraded_crop(plate: np.ndarray, rng: random.Random, height: int) -> np.ndarray:
    """A tight crop as a plate detector would cut it: skewed, blurred, noisy, lit and compressed."""
    warped = perspective(plate, rng, 0.06)
    seen = camera(warped, rng, height, blur=1.0, noise=5.0, tilt_deg=4.0, shear=0.15, jpeg=rng.randint(40, 90))
    # The crop's box is never exact: a few pixels too tight or too loose on each side.
    pad = [rng.randint(-2, 3) for _ in range(4)]
    grow_t, grow_b, grow_l, grow_r = (max(0, p) for p in pad)
    seen = cv2.copyMakeBorder(seen, grow_t, grow_b, grow_l, grow_r, cv2.BORDER_REPLICATE)
    top, bottom, left, right = (max(0, -p) for p in pad)
    seen = seen[top : seen.shape[0] - bottom, left : seen.shape[1] - right]
    return lighting(seen, rng) if rng.random() < 0.3 else seen


def _crops_94x24(rng: random.Random) -> Item:
    text, plate, rows = _plate(rng, 1)
    crop = _degraded_crop(plate, rng, rng.randint(24, 48))
    return Item(text, _country(text), rows, cv2.resize(crop, (94, 24), interpolation=cv2.INTER_AREA))


def _two_row_crops(rng: random.Random) -> Item:
    text, plate, rows = _plate(rng, 2)
    return Item(text, _country(text), rows, _degraded_crop(plate, rng, rng.randint(40, 110)))


def _two_row_94x24(rng: random.Random) -> Item:
    """Two-row plates squashed to the 94×24 of LPRNet data sets."""
    text, plate, rows = _plate(rng, 2)
    crop = _degraded_crop(plate, rng, rng.randint(48, 96))
    return Item(text, _country(text), rows, cv2.resize(crop, (94, 24), interpolation=cv2.INTER_AREA))


def _photos(rng: random.Random) -> Item:
    """A vehicle front with painted words, the plate small and at an angle somewhere low in view."""
    layout = rng.choice(ONE_ROW + TWO_ROW)
    text = random_plate(layout, rng)
    height = rng.randint(26, 56) * (2 if layout in TWO_ROW else 1)
    size = rng.choice([(960, 720), (1280, 960), (720, 1160)])
    shot = scene(text, layout, rng, size=size, plate_height=height, tilt_deg=8.0, shear=0.25)
    image = jpeg(shot.image, rng.randint(50, 90))
    return Item(text, _country(text), 2 if layout in TWO_ROW else 1, image)


def _closeups(rng: random.Random) -> Item:
    """A photo of just the plate and a little of the vehicle around it, larger than a crop."""
    rows = rng.choice((1, 2))
    text, plate, rows = _plate(rng, rows)
    seen = _degraded_crop(plate, rng, rng.randint(120, 200) * rows)
    h, w = seen.shape[:2]
    colour = [rng.randrange(30, 220) for _ in range(3)]
    top, bottom = (rng.randint(h // 8, h // 2) for _ in range(2))
    left, right = (rng.randint(w // 10, w // 3) for _ in range(2))
    framed = cv2.copyMakeBorder(seen, top, bottom, left, right, cv2.BORDER_CONSTANT, value=colour)
    return Item(text, _country(text), rows, jpeg(framed, rng.randint(60, 90)))


SETS: dict[str, Callable[[random.Random], Item]] = {
    "crops_94x24": _crops_94x24,
    "two_row_crops": _two_row_crops,
    "two_row_94x24": _two_row_94x24,
    "photos": _photos,
    "closeups": _closeups,
}


def plate_set(name: str, seed: int, n: int) -> list[Item]:
    """`n` labelled images of set `name`, the same for the same seed."""
    make = SETS[name]
    rng = random.Random(f"{name}:{seed}")
    return [make(rng) for _ in range(n)]
