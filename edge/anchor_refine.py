"""A truck's box bottom near the lane lines, measured in the image against a background model of the empty road.

Far from the camera a truck moves well under a pixel a frame, while the detector's box bottom is off by 1-3 px
for seconds at a time (docs/vision.md, "Anchor refinement"), which no fit of the path removes. The camera is
fixed, so the road behind a truck is known: where the truck's lowest rows differ from it is its bottom. Only a
band around the lines is modelled and refined (that is where crossings are timed), and the background learns
only outside truck boxes, so a truck standing for minutes never becomes road.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.config import AnchorRefineConfig, LineConfig

# The box's bottom is searched this far above and below the detector's (a share of the box's height, at least
# MIN_WINDOW_PX): the detector's error at the far lines is a few px on a ~45 px tall truck.
MIN_WINDOW_PX = 3.0
SIDE_MARGIN = 0.05  # share of the box's width added either side: the lowest corner may lie just outside it
# Background pixels are learnt as a plain mean over their first free frames, then with the time constant
# background_s; an unknown pixel (never seen without a truck on it) leaves its box unrefined.
#
# A box keeps the detector's bottom when other boxes leave less than this share of its columns to look at.
MIN_FREE = 0.4
NOISE_SHARE = 0.5  # a row below the silhouette adds its partial coverage only above this share of min_contrast
# The road's model learns from a frame every this many seconds: light changes slowly, and learning is most of the
# cost (the gate camera's band is most of its frame: 12.5 ms a 1080p frame when learning from every frame).
LEARN_EVERY_S = 0.5


class AnchorRefiner:
    """Refines box bottoms (xyxy's y2) near the camera's lines; feed it every analysed frame, in order."""

    def __init__(self, config: AnchorRefineConfig, lines: list[LineConfig], fps: float) -> None:
        self.config = config
        self.lines = lines
        self.learn_every = max(1, round(LEARN_EVERY_S * fps))
        self.rate = min(1.0, self.learn_every / (config.background_s * fps))
        self.frames = 0
        self.band: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 of the modelled region
        self.shape: tuple[int, int] | None = None
        self.background = np.zeros((0, 0), np.float32)
        self.seen = np.zeros((0, 0), np.float32)  # free frames each background pixel was learnt from
        self.refined = 0  # boxes whose bottom was replaced, for figures
        self.kept = 0  # boxes near the lines left as the detector found them (covered, unknown road, low contrast)

    def refine(self, image: np.ndarray, boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
        """`boxes` (xyxy) with each bottom near a line measured in `image`; `others` are every truck box of the
        frame (the detector's and the tracker's), which the background never learns from and which, covering a
        box's bottom, leave it as it is."""
        out = np.array(boxes, dtype=np.float32, copy=True)
        if not self.lines or image.ndim != 3 or not image.size:
            return out
        if self.shape != image.shape[:2]:
            self._start(image.shape[:2])
        assert self.band is not None
        x0, y0, x1, y1 = self.band
        learn = self.frames % self.learn_every == 0
        self.frames += 1
        near = (out[:, 3] >= y0) & (out[:, 1] < y1) & (out[:, 0] < x1) & (out[:, 2] > x0)
        if not (learn or near.any()):
            return out
        grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
        everyone = np.concatenate([np.asarray(others, np.float32).reshape(-1, 4), out])
        for i in np.flatnonzero(near):
            bottom = self._bottom(grey, out[i], everyone)
            if bottom is not None:
                out[i, 3] = bottom
        if learn:
            self._learn(grey, everyone)
        return out

    def _start(self, shape: tuple[int, int]) -> None:
        h, w = shape
        margin = self.config.band * h
        xs = [p[0] for line in self.lines for p in (line.start, line.end)]
        ys = [p[1] for line in self.lines for p in (line.start, line.end)]
        self.band = (max(0, math.floor(min(xs) - margin)), max(0, math.floor(min(ys) - margin)),
                     min(w, math.ceil(max(xs) + margin)), min(h, math.ceil(max(ys) + margin)))
        x0, y0, x1, y1 = self.band
        self.shape = shape
        self.background = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.float32)
        self.seen = np.zeros_like(self.background)

    def _window(self, box: np.ndarray) -> float:
        return max(MIN_WINDOW_PX, self.config.window * float(box[3] - box[1]))

    def _bottom(self, grey: np.ndarray, box: np.ndarray, everyone: np.ndarray) -> float | None:
        assert self.band is not None
        bx, by = self.band[0], self.band[1]
        win = self._window(box)
        side = SIDE_MARGIN * float(box[2] - box[0])
        top, end = math.floor(box[3] - win), math.ceil(box[3] + win) + 1  # rows searched, end exclusive
        left, right = math.floor(box[0] - side), math.ceil(box[2] + side)
        if top - by < 0 or end - by > grey.shape[0] or left - bx < 0 or right - bx > grey.shape[1] or right <= left:
            return None  # not near a line (or cut by the band's edge)
        # Columns another truck's box reaches into the searched rows (a truck nearer the camera covering part of
        # this one's bottom, or one beside it) are left out: their pixels may be that truck's. Farther trucks end
        # above those rows. Too few columns left, and the box keeps the detector's bottom.
        near = ((everyone[:, 3] >= top) & (everyone[:, 1] < end)
                & (everyone[:, 0] < right) & (everyone[:, 2] > left))
        near &= ~np.all(np.abs(everyone - box) < 0.5, axis=1)  # itself, as detector and as tracker
        free = np.ones(right - left, bool)
        for other in everyone[near]:
            free[max(0, math.floor(other[0]) - left):max(0, math.ceil(other[2]) - left)] = False
        if free.mean() < MIN_FREE:
            self.kept += 1
            return None
        rows = slice(top - by, end - by)
        cols = np.flatnonzero(free) + (left - bx)
        if self.seen[rows][:, cols].min() < 1:
            self.kept += 1
            return None
        # Per row, the strongest difference from the road: the lowest point of a truck is one corner, so the
        # row's maximum (not its mean) follows the silhouette's bottom, with anti-aliased partial coverage.
        diff = np.abs(grey[rows][:, cols] - self.background[rows][:, cols]).max(axis=1)
        strong = diff >= self.config.min_contrast
        k = min(len(diff) - 1, max(0, math.floor(box[3]) - 1 - top))  # the box's last row
        while k >= 0 and not strong[k]:
            k -= 1
        if k < 0:
            self.kept += 1
            return None
        while k + 1 < len(diff) and strong[k + 1]:
            k += 1
        if k + 1 >= len(diff):  # the silhouette runs on past the window: not this truck's bottom alone
            self.kept += 1
            return None
        contrast = float(np.median(diff[max(0, k - 3):k])) if k > 0 else float(diff[k])
        if contrast < 2 * self.config.min_contrast:
            self.kept += 1
            return None
        below = float(diff[k + 1]) if diff[k + 1] >= NOISE_SHARE * self.config.min_contrast else 0.0
        self.refined += 1
        # Pixel row r spans r - 0.5 .. r + 0.5; a row partly covered by the truck differs from the road in part.
        return top + k - 0.5 + min(1.0, float(diff[k]) / contrast) + min(1.0, below / contrast)

    def _learn(self, grey: np.ndarray, everyone: np.ndarray) -> None:
        assert self.band is not None
        bx, by = self.band[0], self.band[1]
        free = np.ones(grey.shape, bool)
        for box in everyone:
            # The box may end short of the truck by the very error refined here: keep the window below it too.
            m = 2.0 + SIDE_MARGIN * float(box[2] - box[0])
            r0, r1 = max(0, math.floor(box[1] - 2) - by), max(0, math.ceil(box[3] + self._window(box)) + 1 - by)
            c0, c1 = max(0, math.floor(box[0] - m) - bx), max(0, math.ceil(box[2] + m) + 1 - bx)
            free[r0:r1, c0:c1] = False
        self.seen += free
        rate = np.where(free, np.maximum(1.0 / np.maximum(self.seen, 1.0), self.rate), 0.0).astype(np.float32)
        self.background += rate * (grey - self.background)
