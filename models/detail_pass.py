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

import argparse
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.detect import Detector  # noqa: E402 - after the path set-up above

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


def replay_queue_camera(world_dir: Path, crops: dict[str, Region], camera_id: str = "lane-1-queue") -> list[dict]:
    """End to end: each frame's full-frame and crop detections computed once, then every variant (the full frame
    alone; each crop's boxes replacing; each crop's boxes averaged with the full frame's) replayed through the edge's
    tracker and lane logic with the bench's site settings, and scored like bench/vision_eval.py."""
    from bench.vision_eval import CameraRun, camera_config, score
    from edge.analysis import CameraAnalysis
    from edge.config import YoloOnnxDetectorConfig
    from edge.detect import detector_factory
    from edge.sources import Frame, FrameSource

    world = json.loads((world_dir / "world.json").read_text())
    camera = next(c for lane in world["lanes"] for c in lane["cameras"] if c["id"] == camera_id)
    config = camera_config(world, camera, world_dir)
    detector = FullFrameMemo(detector_factory(YoloOnnxDetectorConfig())())
    stop = threading.Event()
    seen: list[tuple[Frame, sv.Detections, dict[str, sv.Detections]]] = []
    for frame in FrameSource(config, stop).start().frames():
        full = detector.detect(frame.image)
        passes = {name: DetailDetector(detector, [region]).detect(frame.image)
                  for name, region in crops.items()}
        seen.append((Frame(np.zeros(1), frame.at), full, passes))
    stop.set()
    variants: dict[str, list[sv.Detections]] = {"full frame": [full for _, full, _ in seen]}
    for name in crops:
        variants[name] = [passes[name] for _, _, passes in seen]
        variants[f"{name}, mean of both"] = [_mean(full, passes[name]) for _, full, passes in seen]
    rows, fps = [], float(world["fps"])
    for name, found in variants.items():
        analysis = CameraAnalysis(config, _Fixed(found, detector.names))
        crossings, occupancy = [], {}
        for frame, _, _ in seen:
            crossings += analysis.process(frame).crossings
            second, rest = divmod(frame.index, fps)
            if rest == 0:
                occupancy[int(second)] = analysis.lane.queue_occupancy
        crossings += analysis.finish()
        result = score(world_dir, CameraRun(camera_id, camera["role"], fps, crossings, occupancy,
                                            analysis.clock.frames, analysis.lane.rejoins, {}))
        rows.append({"world": world_dir.name, "variant": name, "truth": result.truth_events, "found": result.found,
                     "false": result.false_events, "errors_frames": result.timing_errors_frames,
                     "occupancy_seconds": result.occupancy_seconds, "occupancy_equal": result.occupancy_equal})
    return rows


class FullFrameMemo:
    """A detector that answers a repeated call on the same whole frame from memory, so that variants share the
    full-frame pass. Crops (views of the frame) always run."""

    def __init__(self, inner: Detector):
        self.inner, self.names = inner, inner.names
        self._frame: np.ndarray | None = None  # held, so that its id cannot be reused while cached
        self._found = sv.Detections.empty()

    def detect(self, frame: np.ndarray) -> sv.Detections:
        if frame.base is not None:
            return self.inner.detect(frame)
        if frame is not self._frame:
            self._frame, self._found = frame, self.inner.detect(frame)
        return self._found


class _Fixed:
    """A detector answering from detections computed before, one per frame in order."""

    def __init__(self, found: list[sv.Detections], names: tuple[str, ...]):
        self.found, self.names, self._next = found, names, 0

    def detect(self, frame: np.ndarray) -> sv.Detections:
        self._next += 1
        return self.found[self._next - 1]


def _mean(full: sv.Detections, refined: sv.Detections) -> sv.Detections:
    out = refined[np.arange(len(refined))]
    if len(out):
        out.xyxy = (full.xyxy + refined.xyxy) / 2  # refine() keeps the order and length of the full frame's
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Queue camera end to end with and without a detail pass.")
    parser.add_argument("worlds", nargs="+", type=Path, help="rendered worlds (bench.vision_eval.simulate)")
    parser.add_argument("--crop", action="append", required=True, metavar="NAME=x0,y0,x1,y1",
                        help="a crop of the queue camera's frame, pixels; repeatable")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    crops = {}
    for spec in args.crop:
        name, _, box = spec.partition("=")
        crops[name] = Region(*(int(v) for v in box.split(",")))
    totals: dict[str, dict] = {}
    for world_dir in args.worlds:
        for row in replay_queue_camera(world_dir, crops):
            print(json.dumps({k: v for k, v in row.items() if k != "errors_frames"}), flush=True)
            total = totals.setdefault(row["variant"], {"errors_frames": []})
            for key, value in row.items():
                if key in ("truth", "found", "false", "occupancy_seconds", "occupancy_equal"):
                    total[key] = total.get(key, 0) + value
            total["errors_frames"] += row["errors_frames"]
    for name, t in totals.items():
        errors = sorted(t["errors_frames"])
        print(json.dumps({
            "variant": name, "truth": t["truth"], "found": t["found"], "false": t["false"],
            "within_2_frames": round(sum(e <= 2 for e in errors) / max(1, len(errors)), 3),
            "median_frames": round(errors[len(errors) // 2], 2) if errors else None,
            "occupancy": round(t["occupancy_equal"] / max(1, t["occupancy_seconds"]), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
