"""Where the plate is: text lines grouped into one- and two-row plate proposals.

The detector finds every text line in view (shop signs, brand badges, watermarks, the separated
halves of one plate). Lines on the same baseline with a small gap are merged (the `云G · 12345`
dot splits a plate into two boxes); two lines stacked with aligned extents make a two-row
proposal (`24C` over `123.45`). Proposals are then read and judged by what was read: a text
fitting a plate format at high confidence wins, with the plate's background colour as a tiebreak.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .ocr import TextBox, order_quad

# Lines count as one row when their vertical extents overlap this much (of the lower height)...
SAME_ROW_OVERLAP = 0.5
# ...and the gap between them is below this many line heights.
ROW_GAP = 1.2
# Two rows of one plate: gap below this many line heights, horizontal overlap above this share
# of the narrower row, widths and heights within these ratios.
STACK_GAP = 0.8
# The detector grows each line's box by its area/perimeter ratio, so on large, tall characters two
# rows' boxes overlap by up to about half a row height.
STACK_OVERLAP_Y = 0.5
STACK_OVERLAP = 0.6
STACK_WIDTH_RATIO = 0.3
HEIGHT_RATIO = 0.5
# The top row of a CN two-row plate is little more than half the bottom row's height (62 vs 110 mm);
# the detector's growth makes the ratio of their boxes a little lower still.
STACK_HEIGHT_RATIO = 0.4
# A region this wide (width/height) may hold a one-row plate; this narrow, a two-row plate
# (VN 330×165 mm and CN 440×220 mm two-row plates are 2:1, one-row plates 3.1:1 to 4.7:1).
ONE_ROW_MIN_ASPECT = 1.8
TWO_ROW_MAX_ASPECT = 2.6
TWO_ROW_ASPECT = 2.0


@dataclass(frozen=True)
class Line:
    """One text row: the rotated rectangle around its detector boxes."""

    quad: np.ndarray  # (4, 2) tl, tr, br, bl
    score: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (
            float(self.quad[:, 0].min()),
            float(self.quad[:, 1].min()),
            float(self.quad[:, 0].max()),
            float(self.quad[:, 1].max()),
        )

    @property
    def height(self) -> float:
        return float(np.linalg.norm(self.quad[3] - self.quad[0]))

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.quad[1] - self.quad[0]))


@dataclass(frozen=True)
class Proposal:
    """A candidate plate: its rows, top first."""

    rows: tuple[Line, ...]

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        boxes = np.array([row.xyxy for row in self.rows])
        return float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max())


def union_line(quads: list[np.ndarray], score: float) -> Line:
    points = np.concatenate(quads).astype(np.float32)
    rect = cv2.minAreaRect(points)
    (_, _), (w, h), _ = rect
    quad = order_quad(cv2.boxPoints(rect))
    # minAreaRect may call a tall box's long side its width; plates read left to right, so a
    # rectangle taller than wide only happens for near-square text, where the axis box is right.
    if np.linalg.norm(quad[3] - quad[0]) > 1.5 * np.linalg.norm(quad[1] - quad[0]) or min(w, h) <= 0:
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return Line(quad, score)


def _vertical_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _horizontal_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0]))


def group_rows(boxes: list[TextBox]) -> list[Line]:
    """Detector boxes merged into rows: same baseline, similar height, small horizontal gap."""
    items = sorted(boxes, key=lambda b: b.xyxy[0])
    rows: list[list[TextBox]] = []
    for box in items:
        bx = box.xyxy
        bh = bx[3] - bx[1]
        for row in rows:
            last = row[-1].xyxy
            lh = last[3] - last[1]
            if not HEIGHT_RATIO <= bh / max(lh, 1e-6) <= 1 / HEIGHT_RATIO:
                continue
            if _vertical_overlap(bx, last) < SAME_ROW_OVERLAP * min(bh, lh):
                continue
            if bx[0] - last[2] > ROW_GAP * max(bh, lh):
                continue
            row.append(box)
            break
        else:
            rows.append([box])
    return [union_line([b.quad for b in row], float(np.mean([b.score for b in row]))) for row in rows]


def _stacked(upper: Line, lower: Line) -> bool:
    u, low = upper.xyxy, lower.xyxy
    uh, lh = u[3] - u[1], low[3] - low[1]
    if not STACK_HEIGHT_RATIO <= uh / max(lh, 1e-6) <= 1 / STACK_HEIGHT_RATIO:
        return False
    gap = low[1] - u[3]
    if not -STACK_OVERLAP_Y * min(uh, lh) <= gap <= STACK_GAP * max(uh, lh):
        return False
    uw, lw = u[2] - u[0], low[2] - low[0]
    if min(uw, lw) / max(uw, lw, 1e-6) < STACK_WIDTH_RATIO:
        return False
    return _horizontal_overlap(u, low) >= STACK_OVERLAP * min(uw, lw)


def proposals(lines: list[Line]) -> list[Proposal]:
    """Every row alone, and every pair of rows stacked like the two rows of one plate."""
    found = [Proposal((line,)) for line in lines]
    for upper in lines:
        for lower in lines:
            if upper is not lower and upper.xyxy[1] < lower.xyxy[1] and _stacked(upper, lower):
                found.append(Proposal((upper, lower)))
    return found


def split_rows(height: int, width: int) -> list[tuple[Line, Line]]:
    """Horizontal cuts of a region into a top and a bottom row, for two-row plates the detector
    saw as one block. Rows overlap a little so a cut never slices through characters."""
    cuts = []
    for fraction in (0.45, 0.5, 0.55):
        top_end = min(height, (fraction + 0.05) * height)
        bottom_start = max(0.0, (fraction - 0.05) * height)
        top = np.array([[0, 0], [width, 0], [width, top_end], [0, top_end]], np.float32)
        bottom = np.array([[0, bottom_start], [width, bottom_start], [width, height], [0, height]], np.float32)
        cuts.append((Line(top, 0.0), Line(bottom, 0.0)))
    return cuts


def whole_line(height: int, width: int) -> Line:
    return Line(np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32), 0.0)


PlateColour = str  # "blue", "yellow", "green", "white" or "other"

# Plate background hues (OpenCV hue 0–180) with minimum saturation; brightness is judged against
# the crop's own bright end so that a plate at dusk still counts.
_HUES = {"blue": (95, 130, 90), "yellow": (12, 34, 90), "green": (35, 90, 40)}
_MIN_VALUE_COLOUR, _MIN_VALUE_WHITE, _MAX_SAT_WHITE = 0.35, 0.65, 50


def colour_masks(crop_bgr: np.ndarray) -> dict[PlateColour, np.ndarray]:
    """0/255 masks of pixels in each plate background colour."""
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    bright = max(float(np.percentile(hsv[:, :, 2], 95)), 40.0)
    masks = {}
    for name, (h0, h1, s0) in _HUES.items():
        masks[name] = cv2.inRange(hsv, (h0, s0, int(_MIN_VALUE_COLOUR * bright)), (h1, 255, 255))
    masks["white"] = cv2.inRange(hsv, (0, 0, int(_MIN_VALUE_WHITE * bright)), (180, _MAX_SAT_WHITE, 255))
    return masks


def background_colour(crop_bgr: np.ndarray) -> PlateColour:
    """The plate's background colour class: the colour covering most of a crop tight around it
    (characters are thin, the background dominates)."""
    if crop_bgr.size == 0:
        return "other"
    shares = {name: float(np.count_nonzero(mask)) / mask.size for name, mask in colour_masks(crop_bgr).items()}
    colour, share = max(shares.items(), key=lambda kv: kv[1])
    return colour if share >= 0.3 else "other"


def plate_quad(crop_bgr: np.ndarray) -> np.ndarray | None:
    """The plate's four corners in a region crop, from its background colour; None when no
    coloured, plate-shaped blob fills a fair part of the region.

    Perspective and shear make a plate a general quadrilateral; the detector's rotated
    rectangles cannot straighten slanted characters, a warp of these corners can.
    """
    h, w = crop_bgr.shape[:2]
    if h < 8 or w < 8:
        return None
    # Close the holes the characters leave; a kernel a fifth of the text height does it.
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, h // 6), max(3, h // 6)))
    best: tuple[float, np.ndarray] | None = None
    for raw in colour_masks(crop_bgr).values():
        mask = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            area = cv2.contourArea(contour)
            if area < 0.2 * h * w:
                continue
            hull = cv2.convexHull(contour)
            quad = _four_corners(hull)
            quad_area = cv2.contourArea(quad)
            if quad_area <= 0 or area / quad_area < 0.75:
                continue
            tl, tr, br, bl = quad
            qw = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
            qh = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
            if not 1.0 <= qw / max(qh, 1e-6) <= 6.5:
                continue
            if best is None or area > best[0]:
                best = (area, quad)
    return None if best is None else best[1]


def _four_corners(hull: np.ndarray) -> np.ndarray:
    perimeter = cv2.arcLength(hull, True)
    for share in (0.02, 0.04, 0.06, 0.08):
        approx = cv2.approxPolyDP(hull, share * perimeter, True)
        if len(approx) == 4:
            return order_quad(approx.reshape(4, 2))
    return order_quad(cv2.boxPoints(cv2.minAreaRect(hull)))
