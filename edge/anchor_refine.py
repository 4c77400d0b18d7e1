"""A truck's box bottom near the lane lines (and its ends near the queue zone's sides), measured in the image
against a background model of the empty road.

Far from the camera a truck moves well under a pixel a frame, while the detector's box bottom is off by 1-3 px
for seconds at a time (docs/vision.md, "Anchor refinement"), which no fit of the path removes. The camera is
fixed, so the road behind a truck is known: where the truck's lowest rows differ from it is its bottom. Only a
band around the lines is modelled and refined (that is where crossings are timed), and around the queue zone:
a truck waiting at the booth stands within a few px of the zone's side while the detector's box ends ~8 px short
(docs/vision.md, "Queue-zone occupancy"), so there the box's ends are measured too. The background learns only
outside truck boxes, so a truck standing for minutes never becomes road.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.config import AnchorRefineConfig, LineConfig
from edge.geometry import anchors

# Sizes in pixels of a frame REFERENCE_HEIGHT rows tall; they scale with the camera's frame (a 1080p camera sees a
# truck three times as many pixels tall, and the detector's box error, made on its 640 px input, grows alike).
REFERENCE_HEIGHT = 360
# The box's bottom is searched this far above and below the detector's (a share of the box's height, at least
# MIN_WINDOW_PX): the detector's error at the far lines is a few px on a ~45 px tall truck.
MIN_WINDOW_PX = 3.0
BOX_SLACK_PX = 2.0  # the road is not learnt this close beside and above a box: its edges may be off by that much
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
# A free pixel that differs from the model as a truck does (min_contrast) is most likely a truck the detector
# missed in that frame. Learnt at the usual rate it stayed in the model while trucks queued over the pixel, never
# free again (tuning seed 31: the entry line's paint learnt dark trucks at frames 930 and 2055-2070 and still
# read 35 grey levels dark at frame 3470, so trucks' bottoms on it read a pixel low, their entries 2 frames
# early). Such pixels are learnt this many times slower once the model has its first mean, so a lasting change
# still comes in. A change of the light is measured apart (the free pixels' median gain, from at least
# MIN_LIGHT_PIXELS of them) and applied to every pixel, under a truck or not.
STRANGER_SLOWDOWN = 20
MIN_LIGHT_PIXELS = 100
LIGHT_SAMPLE_STEP = 4  # every 4th pixel of every 4th row measures the light
# The light changes by less than this between two learnt frames (0.5 s apart): a larger change is a black, blinding
# or broken picture, learnt nothing from. Should a picture (its median grey level over BLACK) stay that unlike the
# road for RELEARN_AFTER learnt frames, the camera sees otherwise now (night mode): the road is learnt afresh.
LIGHT_STEP = (0.5, 2.0)
RELEARN_AFTER = 20
BLACK = 5
# A detector's box may end short of its truck by a share of the truck's width: beside another truck's box this share
# of its width (at least box_slack) is taken to be that truck's too. Tuning seeds 31-34: the covering truck's edge
# just past its box, read as the farther truck running on below its bottom, put 4.4 % of the refined bottoms near
# the entry line more than 2 px low, up to 13 px (1.5 % with box_slack alone); seed 31 T0030 and seed 33 T0006,
# whose nearer truck's box ended 3-5 px short, read 5-10 px low for frames after the line, 3-4 frames early.
NEIGHBOUR_MARGIN = 0.05
# A truck's end is where its STRONGEST-th most different pixel of a row (a column, at its sides) ends: tuning seed
# 31 T0009, the white truck ahead's blurred edge one column past its box (and past box_slack) read as T0009's
# silhouette running 5 px below its bottom.
STRONGEST = 2


class AnchorRefiner:
    """Refines box bottoms (xyxy's y2) near the camera's lines, and ends and bottoms (x1, x2, y2) of boxes whose
    anchor lies near the queue zone's sides; feed it every analysed frame, in order."""

    def __init__(self, config: AnchorRefineConfig, lines: list[LineConfig], fps: float,
                 zone: list[tuple[float, float]] | None = None) -> None:
        self.config = config
        self.lines = lines
        self.zone = np.asarray(zone or [], np.float32).reshape(-1, 2)  # the queue zone, whose sides are refined too
        self.learn_every = max(1, round(LEARN_EVERY_S * fps))
        self.rate = min(1.0, self.learn_every / (config.background_s * fps))
        self.frames = 0
        self.band: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 of the modelled region
        self.line_band: tuple[int, int, int, int] | None = None  # the part around the lines (bottoms only)
        self.shape: tuple[int, int] | None = None
        self.min_window = MIN_WINDOW_PX  # MIN_WINDOW_PX and BOX_SLACK_PX in this camera's pixels (set by `_start`)
        self.box_slack = BOX_SLACK_PX
        self.background = np.zeros((0, 0), np.float32)
        # The light (sun, cloud, the camera's gain) scales the whole road at once: the model holds the road as it
        # looks at light 1, so a pixel long under a standing truck is the road it was, in the light of now.
        self.light = 1.0
        self.jumps = 0  # learnt frames in a row whose light changed too fast to be light
        self.seen = np.zeros((0, 0), np.float32)  # free frames each background pixel was learnt from
        self.refined = 0  # boxes whose bottom was replaced, for figures
        self.kept = 0  # boxes near the lines left as the detector found them (covered, unknown road, low contrast)

    def refine(self, image: np.ndarray, boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
        """`boxes` (xyxy) with each bottom near a line measured in `image`; `others` are every truck box of the
        frame (the detector's and the tracker's), which the background never learns from and which, covering a
        box's bottom, leave it as it is."""
        out = np.array(boxes, dtype=np.float32, copy=True)
        if not (self.lines or len(self.zone)) or image.ndim != 3 or not image.size:
            return out
        if self.shape != image.shape[:2]:
            self._start(image.shape[:2])
        assert self.band is not None and self.line_band is not None
        x0, y0, x1, y1 = self.band
        lx0, ly0, lx1, ly1 = self.line_band
        learn = self.frames % self.learn_every == 0
        self.frames += 1
        sides = ~self._by_lines(out) & (self._zone_distance(out) <= self.config.window * (out[:, 2] - out[:, 0]))
        near = ~sides & (out[:, 3] >= ly0) & (out[:, 1] < ly1) & (out[:, 0] < lx1) & (out[:, 2] > lx0)
        if not (learn or near.any() or sides.any()):
            return out
        grey = self._work[0]
        grey[...] = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        everyone = np.concatenate([np.asarray(others, np.float32).reshape(-1, 4), out])
        for i in np.flatnonzero(near | sides):
            own = out[i].copy()  # as the detector and tracker found it, among `everyone`
            if sides[i]:
                for left in (True, False):
                    edge = self._side(grey, own, everyone, left)
                    if edge is not None:
                        out[i, 0 if left else 2] = edge
            bottom = self._bottom(grey, out[i], everyone, own, clip=bool(sides[i]))
            if bottom is not None:
                out[i, 3] = bottom
        if learn:
            self._learn(grey, everyone)
        return out

    def _start(self, shape: tuple[int, int]) -> None:
        h, w = shape
        margin = self.config.band * h
        self.min_window = MIN_WINDOW_PX * h / REFERENCE_HEIGHT
        self.box_slack = BOX_SLACK_PX * h / REFERENCE_HEIGHT

        def around(points: list[tuple[float, float]]) -> tuple[int, int, int, int]:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            return (max(0, math.floor(min(xs) - margin)), max(0, math.floor(min(ys) - margin)),
                    min(w, math.ceil(max(xs) + margin)), min(h, math.ceil(max(ys) + margin)))

        ends = [p for line in self.lines for p in (line.start, line.end)]
        self.line_band = around(ends) if ends else (0, 0, 0, 0)
        self.band = around(ends + [tuple(p) for p in self.zone.tolist()])
        x0, y0, x1, y1 = self.band
        self.shape = shape
        self.background = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.float32)
        self.seen = np.zeros_like(self.background)
        # The frame's grey levels and the learning's arithmetic, reused: a fresh array the size of a 1080p camera's
        # band costs more to allocate (page faults) than to compute.
        self._work = np.zeros((3, *self.background.shape), np.float32)

    def _window(self, box: np.ndarray) -> float:
        return max(self.min_window, self.config.window * float(box[3] - box[1]))

    def _by_lines(self, boxes: np.ndarray) -> np.ndarray:
        """Whether each box's anchor lies in the band around the lines (where only bottoms are refined)."""
        assert self.line_band is not None
        x0, y0, x1, y1 = self.line_band
        ax, ay = anchors(boxes).T
        return (ay >= y0) & (ay < y1) & (ax >= x0) & (ax < x1)

    def _zone_distance(self, boxes: np.ndarray) -> np.ndarray:
        """Each box's anchor's distance to the nearest side of the zone (inf without a zone)."""
        if len(self.zone) < 3 or not len(boxes):
            return np.full(len(boxes), np.inf, np.float32)
        p = anchors(boxes)[:, None, :]
        a, b = self.zone, np.roll(self.zone, -1, axis=0)
        t = np.clip(((p - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-9), 0, 1)
        return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1).min(axis=1)

    def _side(self, grey: np.ndarray, box: np.ndarray, everyone: np.ndarray, left: bool) -> float | None:
        """The box's left or right end measured as `_bottom` measures its bottom, over the box's rows that no
        other truck's box reaches into near that end (a truck queued behind covers its top rows)."""
        assert self.band is not None
        bx, by = self.band[0], self.band[1]
        win = max(self.min_window, self.config.window * float(box[2] - box[0]))
        at = float(box[0] if left else box[2])
        c0, c1 = math.floor(at - win), math.ceil(at + win) + 1
        r0, r1 = math.floor(box[1]), math.ceil(box[3])
        if c0 - bx < 0 or c1 - bx > grey.shape[1] or r0 - by < 0 or r1 - by > grey.shape[0] or r1 <= r0:
            return None
        # Another box's bottom may be short by its own window (a truck queued behind, partly hidden).
        reach = everyone[:, 3] + np.maximum(self.min_window, self.config.window * (everyone[:, 3] - everyone[:, 1]))
        near = ((everyone[:, 0] < c1) & (everyone[:, 2] >= c0) & (everyone[:, 1] < r1) & (reach > r0))
        near &= ~np.all(np.abs(everyone - box) < 0.5, axis=1)
        free = np.ones(r1 - r0, bool)
        for other, low in zip(everyone[near], reach[near], strict=True):
            free[max(0, math.floor(other[1]) - r0):max(0, math.ceil(low) - r0)] = False
        if free.mean() < MIN_FREE:
            self.kept += 1
            return None
        rows = np.flatnonzero(free) + (r0 - by)
        cols = slice(c0 - bx, c1 - bx)
        if self.seen[rows, cols].min() < 1:
            self.kept += 1
            return None
        seen, road = grey[rows, cols].T, self._road(rows, cols).T  # one row per column, outwards
        if left:  # walk outwards as to the right
            seen, road = seen[::-1], road[::-1]
            at = -at
            c0 = -(c1 - 1)
        end = self._end(seen, road, math.floor(at) - 1 - c0)
        if end is None:
            return None
        return -(c0 + end) if left else c0 + end

    def _end(self, seen: np.ndarray, road: np.ndarray, k: int) -> float | None:
        """Where the silhouette ends in `seen` against `road` (2-D, axis 0 outwards: rows down for a bottom, columns
        out for a side), searching from index `k` inwards for the truck and outwards for its end, in the profile's
        pixels (index + partial cover)."""
        # Per profile pixel, the strongest differences from the road: the lowest point of a truck is one corner, so
        # a near-maximum (not the mean) follows the silhouette's end, with anti-aliased partial coverage.
        signed = seen - road
        differs = np.abs(signed)
        diff = differs.max(axis=1)
        strong = _strongest(differs) >= self.config.min_contrast
        k = min(len(diff) - 1, max(0, k))
        while k >= 0 and not strong[k]:
            k -= 1
        if k < 0:
            self.kept += 1
            return None
        while k + 1 < len(diff) and strong[k + 1]:
            k += 1
        if k + 1 >= len(diff):  # the silhouette runs on past the window: not this truck's end alone
            self.kept += 1
            return None
        contrast = float(np.median(diff[max(0, k - 3):k])) if k > 0 else float(diff[k])
        if contrast < 2 * self.config.min_contrast:
            self.kept += 1
            return None
        below = self._cover(seen, road, signed, k, k + 1, contrast) \
            if diff[k + 1] >= NOISE_SHARE * self.config.min_contrast else 0.0
        self.refined += 1
        # Pixel r spans r - 0.5 .. r + 0.5; a pixel partly covered by the truck differs from the road in part.
        return k - 0.5 + self._cover(seen, road, signed, k, k, contrast) + below

    def _cover(self, seen: np.ndarray, road: np.ndarray, signed: np.ndarray, k: int, r: int, contrast: float) -> float:
        """How much of profile pixel `r` the truck covers, `k` the last pixel its silhouette reaches: a pixel partly
        covered is the truck's colour and the road's in proportion, the truck's colour the pixel in from `k`, the
        road's this pixel's own. A dark bumper differs from a painted line far more than from the asphalt above it
        (measured on synthetic frames: 0.76 px low when the rows above gave the contrast)."""
        if k > 0:
            inside = seen[k - 1]  # the truck at its last full pixel, column by column
            full = inside - road[r]
            least = self.config.min_contrast
            usable = (np.abs(full) >= 2 * least) & (np.abs(signed[k - 1]) >= least)
            if usable.any():
                return float(np.clip(signed[r][usable] / full[usable], 0.0, 1.0).max())
        return min(1.0, float(np.abs(signed[r]).max()) / contrast)

    def _bottom(self, grey: np.ndarray, box: np.ndarray, everyone: np.ndarray, own: np.ndarray,
                clip: bool = False) -> float | None:
        """`clip`: the rows searched may be cut at the modelled region's edge (near the zone's sides, the booth
        lies near the frame's bottom); near the lines a window cut by the lines' band leaves the box as it is."""
        assert self.band is not None and self.line_band is not None
        bx, by = self.band[0], self.band[1]
        win = self._window(box)
        side = SIDE_MARGIN * float(box[2] - box[0])
        top, end = math.floor(box[3] - win), math.ceil(box[3] + win) + 1  # rows searched, end exclusive
        lo, hi = (by, by + grey.shape[0]) if clip else (self.line_band[1], self.line_band[3])
        if clip:  # a silhouette running on to the cut is not ended there: `_end` leaves it as it is
            top, end = max(lo, top), min(hi, end)
        left, right = math.floor(box[0] - side), math.ceil(box[2] + side)
        if top < lo or end > hi or top >= box[3] - 1 or left - bx < 0 or right - bx > grey.shape[1] or right <= left:
            return None  # not near a line (or cut by the band's edge)
        # Columns another truck's box reaches into the searched rows (a truck nearer the camera covering part of
        # this one's bottom, or one beside it) are left out: their pixels may be that truck's, and so may the
        # columns beside its box, which may end short of it by a share of its size (NEIGHBOUR_MARGIN, at least
        # box_slack). Farther trucks end above those rows. Too few columns left, and the box keeps the detector's
        # bottom.
        slack = np.maximum(self.box_slack, NEIGHBOUR_MARGIN * (everyone[:, 2] - everyone[:, 0]))
        near = ((everyone[:, 3] >= top) & (everyone[:, 1] < end)
                & (everyone[:, 0] - slack < right) & (everyone[:, 2] + slack > left))
        near &= ~np.all(np.abs(everyone - own) < 0.5, axis=1)  # itself, as detector and as tracker
        free = np.ones(right - left, bool)
        for other, margin in zip(everyone[near], slack[near], strict=True):
            free[max(0, math.floor(other[0] - margin) - left):max(0, math.ceil(other[2] + margin) - left)] = False
        if free.mean() < MIN_FREE:
            self.kept += 1
            return None
        rows = slice(top - by, end - by)
        cols = np.flatnonzero(free) + (left - bx)
        if self.seen[rows][:, cols].min() < 1:
            self.kept += 1
            return None
        end = self._end(grey[rows][:, cols], self._road(rows, cols), math.floor(box[3]) - 1 - top)
        return None if end is None else top + end

    def _learn(self, grey: np.ndarray, everyone: np.ndarray) -> None:
        # Away from the lines a box's ends may be refined, so it may end short by up to their search window; the
        # lines' band learns as it would without the zone's sides (SIDE_MARGIN beside every box).
        wide = ~self._by_lines(everyone) if len(self.zone) else np.zeros(len(everyone), bool)
        assert self.band is not None and self.line_band is not None
        free = self._free(self.band, everyone, np.where(wide, self.config.window, SIDE_MARGIN))
        if wide.any() and self.lines:  # the lines' band lies within the band
            x0, y0, x1, y1 = (v - o for v, o in zip(self.line_band, self.band[:2] * 2, strict=True))
            free[y0:y1, x0:x1] = self._free(self.line_band, everyone, np.full(len(everyone), SIDE_MARGIN))
        mature = self.seen >= 1.0 / self.rate  # past its first mean
        step = LIGHT_SAMPLE_STEP  # a grid of the free pixels measures the light
        sample = mature[::step, ::step] & free[::step, ::step]
        if sample.sum() >= MIN_LIGHT_PIXELS:  # the road's pixels all changed alike: the light changed
            road = self.background[::step, ::step][sample] * self.light
            gain = float(np.median(grey[::step, ::step][sample] / np.maximum(road, 1.0)))
            if not LIGHT_STEP[0] <= gain <= LIGHT_STEP[1]:  # no light changes so fast: a black or broken picture
                if float(np.median(grey[::step, ::step])) > BLACK:  # a picture, not the camera showing nothing
                    self.jumps += 1
                if self.jumps < RELEARN_AFTER:
                    return
                self.seen[:] = 0  # it lasts (a camera gone over to night mode): the road is learnt afresh
                self.light = 1.0
                mature[:] = False
            else:
                self.light *= gain
            self.jumps = 0
        spare, change, rate = self._work  # in place (see `_start`); the frame's grey levels are done with below
        np.multiply(grey, np.float32(1.0 / self.light), out=change)  # the model holds the road as it looks at light 1
        change -= self.background
        self.seen += free
        np.maximum(self.seen, 1.0, out=rate)
        np.reciprocal(rate, out=rate)
        np.maximum(rate, self.rate, out=rate)
        np.abs(change, out=spare)
        stranger = spare >= self.config.min_contrast / self.light
        stranger &= mature
        np.multiply(stranger, np.float32(1.0 / STRANGER_SLOWDOWN - 1.0), out=spare)  # strangers' rate, slowed
        spare += 1.0
        rate *= spare
        rate *= free
        change *= rate
        self.background += change

    def _road(self, rows: slice | np.ndarray, cols: slice | np.ndarray) -> np.ndarray:
        """The empty road's model at those rows and columns (of the band), in the light of now."""
        road = self.background[rows][:, cols] if isinstance(rows, slice) else self.background[rows, cols]
        return road * self.light

    def _free(self, region: tuple[int, int, int, int], everyone: np.ndarray, beside: np.ndarray) -> np.ndarray:
        """The pixels of `region` (x0, y0, x1, y1 of the frame, within the band) no box covers, each box widened by
        `beside` (a share of its width) either side."""
        bx, by, x1, y1 = region
        free = np.ones((max(0, y1 - by), max(0, x1 - bx)), bool)
        for box, share in zip(everyone, beside, strict=True):
            # The box may end short of the truck by the very error refined here: keep the window below it too.
            m = self.box_slack + share * float(box[2] - box[0])
            r0 = max(0, math.floor(box[1] - self.box_slack) - by)
            r1 = max(0, math.ceil(box[3] + self._window(box)) + 1 - by)
            c0, c1 = max(0, math.floor(box[0] - m) - bx), max(0, math.ceil(box[2] + m) + 1 - bx)
            free[r0:r1, c0:c1] = False
        return free


def _strongest(values: np.ndarray) -> np.ndarray:
    """The STRONGEST-th largest of each row of `values` (along the last axis, never empty; the smallest if it has
    fewer): a truck's end spans a few pixels, where one pixel alone may be a neighbour's blurred edge past its box."""
    at = values.shape[-1] - min(STRONGEST, values.shape[-1])
    return np.partition(values, at, axis=-1)[..., at]
