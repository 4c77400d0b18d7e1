"""Camera and weather effects made once and applied cheaply per frame.

Sensor noise comes from two precomputed tiles (the positive and negative halves of Gaussian
noise) read at a random offset each frame, so a frame costs two saturating adds. Rain is a few
precomputed streak layers cycled frame by frame plus static drops on the lens. Glare is a fixed
additive flare by day; at night each headlight gets a bloom.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from sim.look import Look

_PAD = 32
_RAIN_LAYERS = 4


class Effects:
    def __init__(
        self, width: int, height: int, look: Look, noise_sigma: float, glare: bool, rng: np.random.Generator
    ) -> None:
        self.width, self.height = width, height
        self.look = look
        self.rng = rng
        self.noise_pos: np.ndarray | None = None
        self.noise_neg: np.ndarray | None = None
        if noise_sigma > 0:
            n = rng.normal(0.0, noise_sigma, (height + _PAD, width + _PAD, 3)).astype(np.float32)
            self.noise_pos = np.clip(n, 0, 255).astype(np.uint8)
            self.noise_neg = np.clip(-n, 0, 255).astype(np.uint8)
        self.rain = [self._rain_layer(rng) for _ in range(_RAIN_LAYERS)] if look.weather == "rain" else []
        self.lens_drops = self._lens_drops(rng) if look.weather == "rain" else None
        self.sun = self._sun_flare() if glare and not look.lamps_on else None
        self.bloom_scale = 2.2 if glare else 1.0
        self.glow = _glow_sprite(64, streak=True, peak=1.0)
        self.beam = _glow_sprite(64, streak=False, peak=0.35)

    def _rain_layer(self, rng: np.random.Generator) -> np.ndarray:
        layer = np.zeros((self.height, self.width), dtype=np.uint8)
        count = int(self.width * self.height / 900)
        scale = self.height / 540
        xs = rng.integers(0, self.width, count)
        ys = rng.integers(0, self.height, count)
        lengths = (rng.uniform(6, 18, count) * scale).astype(int)
        level = 70 if self.look.lamps_on else 45
        for x, y, ln in zip(xs, ys, lengths, strict=True):
            cv2.line(layer, (int(x), int(y)), (int(x + ln * 0.18), int(y + ln)), level, 1, cv2.LINE_AA)
        return cv2.cvtColor(cv2.GaussianBlur(layer, (3, 3), 0), cv2.COLOR_GRAY2BGR)

    def _lens_drops(self, rng: np.random.Generator) -> np.ndarray:
        layer = np.zeros((self.height, self.width), dtype=np.uint8)
        for _ in range(12):
            r = int(rng.uniform(0.01, 0.035) * self.width)
            cv2.circle(layer, (int(rng.integers(self.width)), int(rng.integers(self.height))), r, 28, -1)
        k = max(3, (self.width // 60) | 1)
        return cv2.cvtColor(cv2.GaussianBlur(layer, (k, k), 0), cv2.COLOR_GRAY2BGR)

    def _sun_flare(self) -> np.ndarray:
        h, w = self.height, self.width
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = w * 0.92, -h * 0.08
        r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / w
        flare = 110.0 * np.exp(-((r / 0.3) ** 2))
        for k, (fx, rad) in enumerate(((0.55, 0.05), (0.4, 0.03), (0.25, 0.07))):
            gx, gy = cx + (w / 2 - cx) * (1 + fx), cy + (h / 2 - cy) * (1 + fx)
            rr = np.sqrt((xx - gx) ** 2 + (yy - gy) ** 2) / w
            flare += (25 - 5 * k) * np.exp(-((rr / rad) ** 2))
        rgb = np.stack([flare * 0.85, flare * 0.95, flare], axis=2)
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def headlight(self, img: np.ndarray, x: float, y: float, rx: float, ry: float, beam: bool = False) -> None:
        """Additive bloom around a lit headlight at (x, y), or the pool its beam throws on the road."""
        scale = 1.0 if beam else self.bloom_scale
        rx, ry = rx * scale, ry * scale
        if rx < 1.5 or ry < 1.0:
            return
        w, h = int(math.ceil(rx * 2)), int(math.ceil(ry * 2))
        x0, y0 = int(round(x - rx)), int(round(y - ry))
        sx0, sy0 = max(0, -x0), max(0, -y0)
        x1, y1 = min(self.width, x0 + w), min(self.height, y0 + h)
        if x1 <= max(0, x0) or y1 <= max(0, y0):
            return
        glow = cv2.resize(self.beam if beam else self.glow, (w, h), interpolation=cv2.INTER_LINEAR)
        roi = img[max(0, y0) : y1, max(0, x0) : x1]
        cv2.add(roi, glow[sy0 : sy0 + roi.shape[0], sx0 : sx0 + roi.shape[1]], dst=roi)

    def apply(self, img: np.ndarray, frame: int) -> None:
        """Rain, lens, glare and sensor noise, in place."""
        if self.rain:
            cv2.add(img, self.rain[frame % len(self.rain)], dst=img)
        if self.lens_drops is not None:
            cv2.add(img, self.lens_drops, dst=img)
        if self.sun is not None:
            cv2.add(img, self.sun, dst=img)
        if self.noise_pos is not None and self.noise_neg is not None:
            ox, oy = int(self.rng.integers(_PAD)), int(self.rng.integers(_PAD))
            cv2.add(img, self.noise_pos[oy : oy + self.height, ox : ox + self.width], dst=img)
            ox, oy = int(self.rng.integers(_PAD)), int(self.rng.integers(_PAD))
            cv2.subtract(img, self.noise_neg[oy : oy + self.height, ox : ox + self.width], dst=img)


def _glow_sprite(size: int, streak: bool, peak: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt((xx - size / 2 + 0.5) ** 2 + (yy - size / 2 + 0.5) ** 2) / (size / 2)
    fade = np.clip(1 - r, 0, 1) ** 2  # exactly zero at the sprite's edge: no visible square
    g = 255.0 * peak * (np.exp(-((r / 0.35) ** 2)) + 0.3 * np.exp(-((r / 0.7) ** 2))) * fade
    if streak:
        g += 120.0 * np.exp(-(((yy - size / 2) / (size * 0.03)) ** 2)) * fade
    glow = np.clip(g, 0, 255)
    return np.stack([glow * 0.95, glow, glow], axis=2).astype(np.uint8)
