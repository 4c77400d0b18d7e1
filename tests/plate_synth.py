"""Synthetic VN and CN plate images for tests, drawn with PIL and the Noto CJK font.

Layouts follow the real plates: VN one-row `24C-123.45` (520×110 mm) and two-row `24C` over
`123.45` (330×165 mm); CN one-row `云G·12345` (440×140 mm, blue or yellow), the two-row yellow rear
plate of large vehicles (`云 G` over `12345`, 440×220 mm) and the green new-energy plate. Camera
effects (scale, tilt, blur, noise, JPEG) are drawn from a seeded generator so every test is repeatable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lanewatch.plates import CN_PROVINCES, DIGITS, VN_SERIES, plate_format

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")  # Debian package fonts-noto-cjk

Layout = Literal["vn1", "vn2", "cn_blue", "cn_yellow", "cn_yellow2", "cn_green"]
LAYOUTS: tuple[Layout, ...] = ("vn1", "vn2", "cn_blue", "cn_yellow", "cn_yellow2", "cn_green")

_SIZE_MM = {
    "vn1": (520, 110),
    "vn2": (330, 165),
    "cn_blue": (440, 140),
    "cn_yellow": (440, 140),
    "cn_yellow2": (440, 220),
    "cn_green": (480, 140),
}
_COLOURS = {  # background, characters (RGB)
    "vn_white": ((236, 236, 230), (20, 20, 20)),
    "vn_yellow": ((238, 196, 40), (20, 20, 20)),
    "cn_blue": ((20, 60, 190), (245, 245, 245)),
    "cn_yellow": ((240, 190, 30), (15, 15, 15)),
    "cn_green": ((120, 210, 120), (15, 15, 15)),
}


def _font(size: int) -> ImageFont.FreeTypeFont:
    if not FONT.is_file():
        raise FileNotFoundError(f"{FONT} missing: install the Debian package fonts-noto-cjk")
    return ImageFont.truetype(str(FONT), size=size)


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # BGR
    plate_box: tuple[int, int, int, int]  # xyxy of the plate in the image
    text: str


def random_plate(layout: Layout, rng: random.Random) -> str:
    """A normalised plate text of a format the layout carries."""
    digits = lambda n: "".join(rng.choice(DIGITS) for _ in range(n))  # noqa: E731
    cn_alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ" + DIGITS
    if layout in ("vn1", "vn2"):
        province = rng.choice(["24", "21", "12", "29", "30", "51", "14", "15"])
        series = rng.choice([c for c in VN_SERIES] + ["LD", "KT"] + ["C"] * 6 + ["R"] * 3)
        text = province + series + digits(5 if rng.random() < 0.85 else 4)
    elif layout == "cn_green":
        text = (
            rng.choice(CN_PROVINCES)
            + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
            + rng.choice("DF")
            + rng.choice(cn_alnum)
            + digits(4)
        )
    else:
        province = "云" if rng.random() < 0.5 else rng.choice(CN_PROVINCES)
        letter = "G" if province == "云" and rng.random() < 0.6 else rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
        # Mostly digits with an occasional letter, as issued.
        tail = "".join(rng.choice(cn_alnum) if rng.random() < 0.2 else rng.choice(DIGITS) for _ in range(5))
        if layout == "cn_yellow2" and rng.random() < 0.3:
            tail = tail[:4] + "挂"
        text = province + letter + tail
    assert plate_format(text) is not None, text
    return text


def printed_rows(text: str, layout: Layout) -> list[str]:
    """The plate's rows as printed, separators included."""
    if layout in ("vn1", "vn2"):
        split = 4 if text[3].isalpha() else 3
        head, tail = text[:split], text[split:]
        tail = f"{tail[:3]}.{tail[3:]}" if len(tail) == 5 else tail
        return [f"{head}-{tail}"] if layout == "vn1" else [head, tail]
    if layout == "cn_yellow2":
        return [f"{text[0]} {text[1]}", text[2:]]
    return [f"{text[:2]}·{text[2:]}"]


def _colours(layout: Layout, rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    if layout in ("vn1", "vn2"):
        return _COLOURS["vn_yellow" if rng.random() < 0.6 else "vn_white"]
    return _COLOURS[{"cn_blue": "cn_blue", "cn_green": "cn_green"}.get(layout, "cn_yellow")]


def _draw_row(
    draw: ImageDraw.ImageDraw, row: str, box: tuple[int, int, int, int], colour: tuple[int, int, int]
) -> None:
    """Characters spread over the box, each squeezed to plate proportions."""
    x0, y0, x1, y1 = box
    height = y1 - y0
    font = _font(int(height * 1.25))
    widths = [height * (0.25 if ch in ".·- " else 0.55) for ch in row]
    scale = min(1.0, (x1 - x0) / sum(widths))
    x = x0 + ((x1 - x0) - sum(widths) * scale) / 2
    for ch, w in zip(row, widths, strict=True):
        w *= scale
        if ch == " ":
            x += w
            continue
        glyph = Image.new("L", (int(height * 1.4), int(height * 1.6)), 0)
        ImageDraw.Draw(glyph).text((0, 0), ch, font=font, fill=255)
        bbox = glyph.getbbox()
        if bbox is None:
            x += w
            continue
        glyph = glyph.crop(bbox)
        if ch in ".·":
            size = max(2, int(height * 0.14))
            glyph_box = (int(x + w / 2 - size / 2), int(y0 + (height * 0.45 if ch == "·" else height * 0.85)))
            draw.rectangle((*glyph_box, glyph_box[0] + size, glyph_box[1] + size), fill=colour)
        elif ch == "-":
            bar = (int(x + w * 0.15), int(y0 + height * 0.47), int(x + w * 0.85), int(y0 + height * 0.57))
            draw.rectangle(bar, fill=colour)
        else:
            target = glyph.resize((max(2, int(w * 0.88)), height), Image.Resampling.LANCZOS)
            draw.bitmap((int(x + w * 0.06), y0), target, fill=colour)
        x += w


def render_plate(text: str, layout: Layout, rng: random.Random, px_per_mm: float = 2.0) -> np.ndarray:
    """A clean, upright plate image (BGR) for a normalised plate text."""
    width_mm, height_mm = _SIZE_MM[layout]
    w, h = int(width_mm * px_per_mm), int(height_mm * px_per_mm)
    bg, fg = _colours(layout, rng)
    image = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(image)
    border = max(2, int(h * 0.035))
    draw.rectangle((border, border, w - border - 1, h - border - 1), outline=fg, width=border)
    rows = printed_rows(text, layout)
    if len(rows) == 1:
        _draw_row(draw, rows[0], (int(w * 0.05), int(h * 0.16), int(w * 0.95), int(h * 0.84)), fg)
    else:
        top_w = 0.55 if layout == "vn2" else 0.5
        _draw_row(draw, rows[0], (int(w * (1 - top_w) / 2), int(h * 0.09), int(w * (1 + top_w) / 2), int(h * 0.44)), fg)
        _draw_row(draw, rows[1], (int(w * 0.07), int(h * 0.53), int(w * 0.93), int(h * 0.91)), fg)
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def camera(
    plate: np.ndarray,
    rng: random.Random,
    height_px: int,
    blur: float = 0.6,
    noise: float = 4.0,
    tilt_deg: float = 3.0,
    shear: float = 0.12,
    jpeg: int = 80,
) -> np.ndarray:
    """The plate as a camera would see it: scaled, tilted and sheared (seen from the side),
    blurred, noisy, JPEG-compressed."""
    h, w = plate.shape[:2]
    scale = height_px / h
    out = cv2.resize(plate, (max(4, int(w * scale)), height_px), interpolation=cv2.INTER_AREA)
    out = cv2.copyMakeBorder(out, 4, 4, 4, 4, cv2.BORDER_REPLICATE)
    angle = rng.uniform(-tilt_deg, tilt_deg)
    oh, ow = out.shape[:2]
    rotate = np.vstack([cv2.getRotationMatrix2D((ow / 2, oh / 2), angle, 1.0), [0, 0, 1]])
    k = rng.uniform(-shear, shear)
    slant = np.array([[1, k, -k * oh / 2], [0, 1, 0], [0, 0, 1]])
    out = cv2.warpAffine(out, (slant @ rotate)[:2], (ow, oh), borderMode=cv2.BORDER_REPLICATE)
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, blur))
    gain = rng.uniform(0.75, 1.15)
    noisy = out.astype(np.float32) * gain + np.random.default_rng(rng.randrange(2**32)).normal(0, noise, out.shape)
    out = noisy.clip(0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


_DISTRACTORS = [
    "HYUNDAI",
    "HOWO",
    "DONGFENG",
    "0912 345 678",
    "VAN TAI",
    "云南物流",
    "冷藏车",
    "FOTON",
    "TẢI TRỌNG 15000 KG",
    "HINO",
]


def scene(
    text: str,
    layout: Layout,
    rng: random.Random,
    size: tuple[int, int] = (960, 720),
    plate_height: int = 48,
    tilt_deg: float = 3.0,
    shear: float = 0.12,
) -> Scene:
    """A truck-front-like picture: cab panels, a grille, painted words and the plate low in the middle,
    rotated by up to `tilt_deg` and slanted by up to `shear`."""
    w, h = size
    base = np.full((h, w, 3), rng.randrange(60, 160), np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    cab = tuple(rng.randrange(40, 230) for _ in range(3))
    draw.rectangle((int(w * 0.15), int(h * 0.05), int(w * 0.85), int(h * 0.9)), fill=cab)
    draw.rectangle((int(w * 0.22), int(h * 0.1), int(w * 0.78), int(h * 0.38)), fill=(30, 40, 50))  # windscreen
    for k in range(8):  # grille bars
        y = int(h * 0.45 + k * h * 0.025)
        draw.rectangle((int(w * 0.3), y, int(w * 0.7), y + 4), fill=(50, 50, 50))
    font = _font(int(h * 0.045))
    for k, word in enumerate(rng.sample(_DISTRACTORS, 3)):
        draw.text(
            (int(w * 0.2 + k * w * 0.05), int(h * (0.4 + 0.25 * (k % 2)) + 10 * k)),
            word,
            font=font,
            fill=(245, 245, 245) if sum(cab) < 380 else (20, 20, 20),
        )
    frame = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    plate = camera(render_plate(text, layout, rng), rng, plate_height, noise=2.0, tilt_deg=tilt_deg, shear=shear)
    ph, pw = plate.shape[:2]
    x = int(w / 2 - pw / 2 + rng.uniform(-0.05, 0.05) * w)
    y = int(h * 0.75 - ph / 2)
    frame[y : y + ph, x : x + pw] = plate
    return Scene(frame, (x + 4, y + 4, x + pw - 4, y + ph - 4), text)
