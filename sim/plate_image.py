"""Plates as pictures: background, border and characters at their real proportions.

Each row of characters is drawn with the CJK font and stretched into the row's box, which gives
the narrow, tall look of real plate lettering whatever the font's own proportions.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np
from PIL import Image, ImageDraw

from sim.fonts import plate_font
from sim.plate_text import PlateNumber

WORK_PX_PER_MM = 1.5

# Plate size in mm and text rows as (x0, y0, x1, y1) in mm.
_LAYOUTS: dict[tuple[str, int], tuple[tuple[int, int], list[tuple[int, int, int, int]]]] = {
    ("VN", 1): ((520, 110), [(26, 14, 494, 96)]),
    ("VN", 2): ((330, 165), [(62, 12, 268, 74), (24, 88, 306, 153)]),
    ("CN", 1): ((440, 140), [(16, 24, 424, 116)]),
    ("CN", 2): ((440, 220), [(112, 16, 328, 78), (24, 92, 416, 202)]),
}
_NEW_ENERGY = ((480, 140), [(16, 24, 464, 116)])

_BACKGROUNDS = {  # RGB
    "vn_yellow": (250, 204, 20),
    "vn_white": (242, 242, 238),
    "cn_yellow": (250, 196, 10),
}


def plate_size_m(plate: PlateNumber) -> tuple[float, float]:
    (w, h), _ = _layout(plate)
    return w / 1000.0, h / 1000.0


def _layout(plate: PlateNumber) -> tuple[tuple[int, int], list[tuple[int, int, int, int]]]:
    if plate.style == "cn_new_energy":
        return _NEW_ENERGY
    return _LAYOUTS[(plate.country, plate.rows)]


def _row_text(plate: PlateNumber, row: str, index: int) -> str:
    if plate.country == "CN" and plate.rows == 2 and index == 0:
        return " ".join(row)  # "云 G": the top row of a two-row plate is spaced out
    return row


def _stretched_text(text: str, width: int, height: int) -> np.ndarray:
    """The ink of `text` scaled to exactly width x height; 255 = ink."""
    size = max(12, height * 2)
    font = plate_font(size)
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, fill=255, font=font)
    ink = np.asarray(canvas)
    ys, xs = np.nonzero(ink > 40)
    ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return cv2.resize(ink, (width, height), interpolation=cv2.INTER_AREA)


def _background(plate: PlateNumber, w: int, h: int) -> np.ndarray:
    if plate.style == "cn_new_energy":
        # Large new-energy plates fade from yellow (left) to green (right).
        ramp = np.linspace(0.0, 1.0, w)[None, :, None]
        yellow, green = np.array([250, 196, 10]), np.array([70, 180, 60])
        return np.repeat(((1 - ramp) * yellow + ramp * green), h, axis=0).astype(np.uint8)
    return np.full((h, w, 3), _BACKGROUNDS[plate.style], dtype=np.uint8)


def render_plate(plate: PlateNumber, width_px: int, height_px: int) -> np.ndarray:
    """The plate as a BGR image of the given size."""
    (w_mm, h_mm), rows = _layout(plate)
    s = WORK_PX_PER_MM
    w, h = round(w_mm * s), round(h_mm * s)
    img = _background(plate, w, h)
    border = max(2, round(4 * s))
    cv2.rectangle(img, (border // 2, border // 2), (w - 1 - border // 2, h - 1 - border // 2), (15, 15, 15), border)
    if plate.country == "CN":
        inset = round(9 * s)
        cv2.rectangle(img, (inset, inset), (w - 1 - inset, h - 1 - inset), (15, 15, 15), max(1, round(1.5 * s)))
    for index, (row, (x0, y0, x1, y1)) in enumerate(zip(plate.printed.split("\n"), rows, strict=True)):
        bw, bh = round((x1 - x0) * s), round((y1 - y0) * s)
        ink = _stretched_text(_row_text(plate, row, index), bw, bh).astype(np.float32)[:, :, None] / 255.0
        box = img[round(y0 * s) : round(y0 * s) + bh, round(x0 * s) : round(x0 * s) + bw].astype(np.float32)
        img[round(y0 * s) : round(y0 * s) + bh, round(x0 * s) : round(x0 * s) + bw] = (
            box * (1 - ink) + 15 * ink
        ).astype(np.uint8)
    _weather(img, plate)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return cv2.resize(bgr, (max(1, width_px), max(1, height_px)), interpolation=cv2.INTER_AREA)


def _weather(img: np.ndarray, plate: PlateNumber) -> None:
    """Road dirt: a gentle shading and a few specks, the same for a plate every time it is drawn."""
    rng = np.random.default_rng(zlib.crc32(plate.printed.encode()))
    h, w = img.shape[:2]
    shade = 1.0 - rng.uniform(0.0, 0.18) * np.linspace(0, 1, h)[:, None, None]
    img[:] = np.clip(img * shade, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 12))):
        x, y = int(rng.integers(w)), int(rng.integers(h))
        cv2.circle(img, (x, y), int(rng.integers(1, 4)), (110, 100, 80), -1)
