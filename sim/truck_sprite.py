"""The face of a truck's cab as a picture, drawn once per truck and camera, with a mip pyramid.

The cab front carries everything a camera looks at: windscreen, grille, headlights, bumper and the
front plate at its real size and height. The compositor warps the right mip level onto the cab's
projected front face each frame, so only small resizes happen per frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from sim.fleet import CAB_COLOURS, TruckSpec, rear_plate
from sim.look import Look
from sim.plate_image import plate_size_m, render_plate
from sim.truck_geometry import rear_plate_centre

MIN_LEVEL_WIDTH = 6


class MipSprite:
    """Mip levels of a face picture drawn at `px_per_m` (level 0)."""

    def __init__(self, base: np.ndarray, px_per_m: float) -> None:
        self.px_per_m = px_per_m
        self.levels = [base]
        while self.levels[-1].shape[1] // 2 >= MIN_LEVEL_WIDTH:
            self.levels.append(cv2.pyrDown(self.levels[-1]))
        self._blurred: dict[tuple[int, int], np.ndarray] = {}

    def level_for(self, px_per_m: float, blur_px: float) -> np.ndarray:
        """The smallest level at least as sharp as needed, blurred vertically by blur_px (image pixels)."""
        index = 0
        while index + 1 < len(self.levels) and self.px_per_m / 2 ** (index + 1) >= px_per_m:
            index += 1
        kernel = int(round(blur_px * (self.px_per_m / 2**index) / max(px_per_m, 1e-6)))
        if kernel < 2:
            return self.levels[index]
        key = (index, kernel)
        if key not in self._blurred:
            if len(self._blurred) > 24:
                self._blurred.clear()
            self._blurred[key] = cv2.blur(self.levels[index], (1, kernel))
        return self._blurred[key]


class CabSprite(MipSprite):
    """The cab front (plate, grille, lights) for cameras facing the oncoming trucks."""

    def __init__(self, spec: TruckSpec, look: Look, px_per_m: float) -> None:
        super().__init__(draw_cab_front(spec, look, px_per_m), px_per_m)


class BackSprite(MipSprite):
    """The truck's back, road to roof (doors, rear bar, lights and the rear plate), for the rear camera."""

    def __init__(self, spec: TruckSpec, look: Look, px_per_m: float) -> None:
        super().__init__(draw_back(spec, look, px_per_m), px_per_m)


def _m(v: float, ppm: float) -> int:
    return int(round(v * ppm))


def headlight_boxes(spec: TruckSpec) -> list[tuple[float, float, float, float]]:
    """Headlights on the cab front as (x0, y0, x1, y1) in metres: x from the left edge, y above the road."""
    w = spec.shape.width
    y0, y1 = 0.88, 1.08
    size = 0.34 if spec.headlight_style != 1 else 0.26
    return [(0.1, y0, 0.1 + size, y1), (w - 0.1 - size, y0, w - 0.1, y1)]


def draw_cab_front(spec: TruckSpec, look: Look, ppm: float) -> np.ndarray:
    s = spec.shape
    w, h = s.width, s.cab_height
    W, H = max(4, _m(w, ppm)), max(4, _m(h, ppm))

    def box(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: tuple[int, int, int]) -> None:
        # x from the left edge, y above the road (metres)
        cv2.rectangle(img, (_m(x0, ppm), H - _m(y1, ppm)), (_m(x1, ppm) - 1, H - _m(y0, ppm) - 1), colour, -1)

    paint = CAB_COLOURS[spec.colour]
    img = np.empty((H, W, 3), dtype=np.uint8)
    img[:] = paint
    dark = (int(paint[0] * 0.55), int(paint[1] * 0.55), int(paint[2] * 0.55))
    box(img, 0, h - 0.12, w, h, dark)  # roof visor
    # Windscreen: dark glass, brighter towards the top, with a diagonal reflection.
    wy0, wy1 = h - 1.2, h - 0.2
    x0, x1 = _m(0.14, ppm), _m(w - 0.14, ppm)
    r0, r1 = H - _m(wy1, ppm), H - _m(wy0, ppm)
    if r1 > r0 and x1 > x0:
        ramp = np.linspace(1.0, 0.55, r1 - r0, dtype=np.float32)[:, None, None]
        glass = (np.array([92, 84, 70], dtype=np.float32) * ramp).astype(np.uint8)
        img[r0:r1, x0:x1] = glass
        pts = np.array(
            [
                [x0 + (x1 - x0) * 0.55, r0],
                [x0 + (x1 - x0) * 0.75, r0],
                [x0 + (x1 - x0) * 0.45, r1],
                [x0 + (x1 - x0) * 0.25, r1],
            ]
        )
        overlay = img.copy()
        cv2.fillConvexPoly(overlay, pts.astype(np.int32), (150, 145, 140))
        cv2.addWeighted(overlay, 0.25, img, 0.75, 0, dst=img)
        cv2.line(img, (W // 2, r0), (W // 2, r1 - 1), (40, 40, 40), max(1, _m(0.03, ppm)))  # split screen
    # Grille with slats and a badge.
    gx0, gx1 = w / 2 - 0.55, w / 2 + 0.55
    box(img, gx0, 1.15, gx1, min(h - 1.3, 1.75), (45, 45, 45))
    slat = 1.2
    while slat < min(h - 1.3, 1.75) - 0.05:
        box(img, gx0 + 0.04, slat, gx1 - 0.04, slat + 0.04, (95, 95, 95))
        slat += 0.11
    box(img, w / 2 - 0.12, h - 1.32, w / 2 + 0.12, h - 1.25, (200, 200, 200))
    # Headlights (drawn lit later when lamps are on), bumper, dark underside with tyres.
    for hx0, hy0, hx1, hy1 in headlight_boxes(spec):
        box(img, hx0, hy0, hx1, hy1, (205, 210, 210))
        box(img, hx0 + 0.03, hy0 + 0.03, hx1 - 0.03, hy1 - 0.03, (235, 240, 240))
    bumper = (55, 55, 58) if spec.headlight_style != 2 else dark
    box(img, 0, 0.32, w, 0.84, bumper)
    box(img, 0, 0, w, 0.32, (22, 22, 22))
    box(img, 0.05, 0, 0.42, 0.5, (14, 14, 14))
    box(img, w - 0.42, 0, w - 0.05, 0.5, (14, 14, 14))
    for fx in (0.3, w - 0.45):  # fog lamps
        box(img, fx, 0.5, fx + 0.15, 0.62, (170, 175, 175))
    # Door seams down the sides.
    for sx in (0.05, w - 0.07):
        box(img, sx, 0.84, sx + 0.02, h - 0.12, dark)
    img = look.image(img)
    # The plate is retro-reflective: it stays readable in the dark, though dimmer.
    plate = spec.plates[0]
    pw, ph = plate_size_m(plate)
    px0 = w / 2 + spec.plate_offset_m - pw / 2
    py1 = s.plate_height_m + ph / 2
    pimg = render_plate(plate, max(1, _m(pw, ppm)), max(1, _m(ph, ppm)))
    pimg = _plate_under(look).image(pimg)
    r0, c0 = H - _m(py1, ppm), _m(px0, ppm)
    r1, c1 = min(H, r0 + pimg.shape[0]), min(W, c0 + pimg.shape[1])
    img[max(0, r0) : r1, max(0, c0) : c1] = pimg[max(0, -r0) : r1 - r0, max(0, -c0) : c1 - c0]
    if look.lamps_on:
        for hx0, hy0, hx1, hy1 in headlight_boxes(spec):
            box(img, hx0, hy0, hx1, hy1, (250, 255, 255))
    return img


def _plate_under(look: Look) -> Look:
    g = tuple(max(v, 0.55) for v in look.gain)
    return Look(look.light, look.weather, (g[0], g[1], g[2]), max(look.saturation, 0.8), look.lamps_on, look.exposure)


def draw_back(spec: TruckSpec, look: Look, ppm: float) -> np.ndarray:
    """The back as seen from behind (image left = the truck's right side); the rear plate at its real size."""
    s = spec.shape
    w, h = s.width, s.body_height
    W, H = max(4, _m(w, ppm)), max(4, _m(h, ppm))

    def box(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: tuple[int, int, int]) -> None:
        # x from the image-left edge, y above the road (metres)
        cv2.rectangle(img, (_m(x0, ppm), H - _m(y1, ppm)), (_m(x1, ppm) - 1, H - _m(y0, ppm) - 1), colour, -1)

    def shade(c: tuple[int, int, int], k: float) -> tuple[int, int, int]:
        return (int(min(255, c[0] * k)), int(min(255, c[1] * k)), int(min(255, c[2] * k)))

    paint = spec.body_colour
    img = np.empty((H, W, 3), dtype=np.uint8)
    img[:] = (24, 24, 26)  # the dark underside between the wheels
    floor = s.body_bottom
    box(img, 0, floor, w, h, shade(paint, 0.92))
    frame = shade(paint, 0.6)
    if spec.kind == "rigid_tarp":
        # A tarpaulin curtain: vertical folds and a lashing strap along the bottom.
        x = 0.18
        while x < w - 0.1:
            box(img, x, floor + 0.1, x + 0.03, h - 0.08, shade(paint, 0.7))
            x += 0.32
        box(img, 0, floor, w, floor + 0.12, frame)
        box(img, 0, h - 0.08, w, h, frame)
    else:
        # Two doors in a frame, a centre seam, vertical locking bars with handles, hinges at the edges.
        box(img, 0, floor, w, floor + 0.1, frame)
        box(img, 0, h - 0.14, w, h, frame)
        box(img, 0, floor, 0.08, h, frame)
        box(img, w - 0.08, floor, w, h, frame)
        box(img, w / 2 - 0.015, floor + 0.1, w / 2 + 0.015, h - 0.14, frame)
        bar = (170, 170, 168) if spec.kind != "rigid_small" else shade(paint, 0.5)
        tractor = spec.kind.startswith("tractor")
        bars = (0.45, w / 2 - 0.25, w / 2 + 0.25, w - 0.45) if tractor else (w / 2 - 0.2, w / 2 + 0.2)
        for bx in bars:
            box(img, bx - 0.02, floor + 0.12, bx + 0.02, h - 0.16, bar)
            box(img, bx - 0.02, floor + 0.9, bx + 0.14, floor + 0.96, bar)
        for hy in (floor + 0.4, h - 0.6):
            for hx in (0.08, w - 0.2):
                box(img, hx, hy, hx + 0.12, hy + 0.1, shade(paint, 0.45))
        if spec.kind == "tractor_container":
            for gx in np.arange(0.2, w - 0.1, 0.3):  # door corrugation
                box(img, float(gx), floor + 0.15, float(gx) + 0.02, h - 0.2, shade(paint, 0.8))
    # Wheels seen end-on at the sides, the rear under-run bar, tail lights, mud flaps.
    tyre = (16, 16, 16)
    box(img, 0.05, 0.0, 0.62, min(1.0, floor), tyre)
    box(img, w - 0.62, 0.0, w - 0.05, min(1.0, floor), tyre)
    box(img, 0.12, 0.1, 0.55, 0.45, (30, 30, 30))
    box(img, w - 0.55, 0.1, w - 0.12, 0.45, (30, 30, 30))
    bar_y = floor - 0.5
    box(img, 0.25, bar_y - 0.08, w - 0.25, bar_y + 0.08, (70, 70, 72))
    lamp_y = floor - 0.12
    for lx in (0.12, w - 0.42):
        box(img, lx, lamp_y - 0.08, lx + 0.3, lamp_y + 0.08, (30, 30, 150))
        box(img, lx + 0.02, lamp_y - 0.06, lx + 0.14, lamp_y + 0.06, (40, 120, 220))
    img = look.image(img)
    if look.lamps_on:
        for lx in (0.12, w - 0.42):
            box(img, lx + 0.16, lamp_y - 0.06, lx + 0.28, lamp_y + 0.06, (60, 60, 255))
    plate = rear_plate(spec)
    pw, ph = plate_size_m(plate)
    px, cy = rear_plate_centre(spec)
    cx = w / 2 - (px - spec.lateral_m)  # seen from behind, the truck's +X is the picture's left
    pimg = _plate_under(look).image(render_plate(plate, max(1, _m(pw, ppm)), max(1, _m(ph, ppm))))
    r0, c0 = H - _m(cy + ph / 2, ppm), _m(cx - pw / 2, ppm)
    r1, c1 = min(H, r0 + pimg.shape[0]), min(W, c0 + pimg.shape[1])
    img[max(0, r0) : r1, max(0, c0) : c1] = pimg[max(0, -r0) : r1 - r0, max(0, -c0) : c1 - c0]
    return img
