"""How many entries the lane logic would time within 2 frames if some box bottoms were the truth's.

Records, once per world, what the queue camera's lane logic is fed (`bench.vision_replay`: cached detections,
tracker, anchor refinement on the decoded frames) into `lane-inputs-<camera>.pkl` next to the world, then replays
it through `LaneCamera` alone (seconds, not minutes) and scores it as `bench.vision_eval` does, with the bottoms of
the boxes matched to the truth (IoU >= 0.5) replaced by the truth's: none, those the refiner measured, those it
left as the detector's (covered, running on, low contrast), or all (docs/vision.md, "Covered bottoms"):

    PYTHONPATH=. python models/lane_oracle.py var/bench/vision/busy-3{1,2,3,4}

Tuning seeds only (31-34).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.vision_eval import CameraRun, Score, camera_config, score  # noqa: E402 - after the path set-up above
from bench.vision_replay import CachedDetector, _camera, cache_detections, summary  # noqa: E402
from edge.analysis import CameraAnalysis  # noqa: E402
from edge.lane import FrameTime, LaneCamera  # noqa: E402
from edge.sources import Frame, FrameSource  # noqa: E402
from models.anchor_error import iou_matrix  # noqa: E402

CAMERA = "lane-1-queue"
VARIANTS = ("none", "measured", "unmeasured", "all")


def record(world_dir: Path) -> list[dict]:
    """Per analysed frame: the tracked boxes (the detector's), the lane logic's (refined), ids, scores, time."""
    out = world_dir / f"lane-inputs-{CAMERA}.pkl"
    if out.exists():
        return pickle.loads(out.read_bytes())
    world, spec = _camera(world_dir, CAMERA)
    config = camera_config(world, spec, world_dir)
    detector = CachedDetector(cache_detections(world_dir, CAMERA))
    analysis = CameraAnalysis(config, detector)
    rows: list[dict] = []
    feed = analysis.lane.update

    def update(xyxy, tracker_ids, at, confidence=None):  # noqa: ANN001, ANN202 - LaneCamera.update's own
        rows.append({"xyxy": np.array(xyxy), "ids": np.array(tracker_ids), "at": at,
                     "confidence": None if confidence is None else np.array(confidence)})
        return feed(xyxy, tracker_ids, at, confidence)

    analysis.lane.update = update  # type: ignore[method-assign]
    start = datetime.fromisoformat(world["start_utc"].replace("Z", "+00:00"))
    stop = threading.Event()
    images = FrameSource(config, stop).start().frames()
    for index in range(detector.frames):
        detector.index = index
        analysed = analysis.process(Frame(next(images).image, FrameTime(
            start + timedelta(seconds=index / 10), round(index / 10 * 1e9), index)))
        rows[-1]["raw"] = np.array(analysed.trucks.xyxy)
    stop.set()
    out.write_bytes(pickle.dumps(rows))
    return rows


def truth_boxes(world_dir: Path) -> dict[int, tuple[list[str], np.ndarray]]:
    """Per frame of the camera's video: the truth's trucks and their whole boxes."""
    out = {}
    for text in (world_dir / "objects" / f"{CAMERA}.jsonl").read_text().splitlines():
        row = json.loads(text)
        out[row["frame"]] = ([o["truck"] for o in row["objects"]],
                             np.array([o["box"] for o in row["objects"]], float).reshape(-1, 4))
    return out


def with_truth_bottoms(rows: list[dict], truth: dict[int, tuple[list[str], np.ndarray]], variant: str) -> list[dict]:
    """The recorded rows with the truth's bottom for each box matched to a truth truck (IoU >= 0.5) of the variant:
    none, those the refiner measured, those it left (unmeasured), or all."""
    out = []
    for index, row in enumerate(rows):
        xyxy, (_, want) = row["xyxy"].copy(), truth.get(index, ([], np.zeros((0, 4))))
        if variant != "none" and len(xyxy) and len(want):
            measured = np.abs(xyxy[:, 3] - row["raw"][:, 3]) > 1e-3
            ious = iou_matrix(want, row["raw"])
            for j in range(len(xyxy)):
                k = int(ious[:, j].argmax())
                if ious[k, j] >= 0.5 and (variant == "all" or measured[j] == (variant == "measured")):
                    xyxy[j, 3] = want[k, 3]
        out.append({**row, "xyxy": xyxy})
    return out


def replay(world_dir: Path, rows: list[dict], variant: str) -> Score:
    world, spec = _camera(world_dir, CAMERA)
    config = camera_config(world, spec, world_dir)
    lane = LaneCamera(config.geometry, config.tracking)
    crossings, occupancy = [], {}
    for index, row in enumerate(with_truth_bottoms(rows, truth_boxes(world_dir), variant)):
        crossings += lane.update(row["xyxy"], row["ids"], row["at"], row["confidence"])
        if index % 10 == 0:
            occupancy[index // 10] = lane.queue_occupancy
    crossings += lane.flush()
    return score(world_dir, CameraRun(CAMERA, spec["role"], float(world["fps"]), crossings, occupancy, len(rows),
                                      lane.rejoins, {}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("worlds", nargs="+", type=Path, help="rendered worlds with cached detections")
    args = parser.parse_args()
    recorded = {world_dir: record(world_dir) for world_dir in args.worlds}
    for variant in VARIANTS:
        total = Score()
        for world_dir, rows in recorded.items():
            total.add(replay(world_dir, rows, variant))
        print(f"truth's bottoms for {variant}: {summary(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
