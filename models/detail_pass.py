"""Detail detection, as measured by models/anchor_error.py --detail: not used by the edge (docs/vision.md,
"Detail detection: tried, not shipped").

The idea: the model sees the whole frame shrunk to its input (a 640×360 frame to 512×288, a 1920×1080
one to a quarter of that), so a truck 60 m away is a few dozen input pixels tall and its box bottom,
the anchor the lane lines fire on, is off by pixels for seconds. A second pass on a crop around a far
line, letterboxed to the same input, shows that truck larger (upscaled, or at the camera's own
resolution for a 1080p camera).

The crop's boxes replace the full frame's boxes they match (same class, IoU, one to one); a crop box
that touches an edge of the crop inside the frame is a truck cut by the crop and is dropped, so a
truck only partly in the crop keeps its full-frame box. Full-frame boxes no crop box matches stay.
Measured on the tuning seeds, the crop's box bottoms are shifted (the model's error depends on the
size it sees a far truck at), and crossing times would get worse, so the edge does not do it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment

from edge.detect import Detector

# A crop box whose side lies this close (frame pixels) to an inner edge of the crop is cut by it. The
# model's boxes for a cut truck end at the edge (clipped); a whole truck standing a pixel inside the edge
# is given up too, which only costs it the finer box.
CUT_MARGIN_PX = 1.0
# A crop box and a full-frame box of one truck overlap by far more than this (the crop only refines the
# edges by a few pixels); two queued trucks' boxes overlap far less.
MATCH_IOU = 0.5


@dataclass(frozen=True)
class Region:
    """A rectangle of the frame, pixels: x0 ≤ x < x1, y0 ≤ y < y1."""

    x0: int
    y0: int
    x1: int
    y1: int


class DetailDetector:
    """Wraps a detector: the whole frame, then each region's crop; crop boxes refine the frame's."""

    def __init__(self, inner: Detector, regions: list[Region], classes: tuple[str, ...] = ("truck",)):
        self.inner, self.regions = inner, regions
        self.names = inner.names
        self._classes = [inner.names.index(c) for c in classes if c in inner.names]

    def detect(self, frame: np.ndarray) -> sv.Detections:
        found = self.inner.detect(frame)
        h, w = frame.shape[:2]
        for region in self.regions:
            x0, y0, x1, y1 = min(region.x0, w), min(region.y0, h), min(region.x1, w), min(region.y1, h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue  # the region lies outside this frame
            crop = self.inner.detect(frame[y0:y1, x0:x1])
            if not len(crop):
                continue
            crop.xyxy = crop.xyxy + np.array([x0, y0, x0, y0], np.float32)
            whole = ~cut_by_crop(crop.xyxy, (x0, y0, x1, y1), (w, h))
            found = refine(found, crop[whole & np.isin(crop.class_id, self._classes)])
        return found


def cut_by_crop(xyxy: np.ndarray, crop: tuple[int, int, int, int], frame_wh: tuple[int, int]) -> np.ndarray:
    """Boxes touching an edge of the crop that is not also the frame's edge."""
    x0, y0, x1, y1 = crop
    w, h = frame_wh
    m = CUT_MARGIN_PX
    return (((xyxy[:, 0] <= x0 + m) & (x0 > 0)) | ((xyxy[:, 1] <= y0 + m) & (y0 > 0))
            | ((xyxy[:, 2] >= x1 - m) & (x1 < w)) | ((xyxy[:, 3] >= y1 - m) & (y1 < h)))


def refine(found: sv.Detections, crop: sv.Detections) -> sv.Detections:
    """`found` with each box that a crop box matches (same class, IoU ≥ MATCH_IOU, one to one) replaced by it."""
    if not len(found) or not len(crop):
        return found
    iou = sv.box_iou_batch(crop.xyxy, found.xyxy)
    iou[crop.class_id[:, None] != found.class_id[None, :]] = 0.0
    rows, cols = linear_sum_assignment(-iou)
    keep = iou[rows, cols] >= MATCH_IOU
    out = found[np.arange(len(found))]  # a copy: the inner detector's result stays as it was
    out.xyxy[cols[keep]] = crop.xyxy[rows[keep]]
    return out
