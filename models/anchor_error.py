"""How far the detector's truck anchors lie from the simulator's truth, split into bias and jitter.

A truck's anchor is the bottom centre of its box (docs/vision.md); the lane lines fire on it. Crossing
times depend on the anchor's row error where a truck moves well under a pixel a frame (the entry and
gate lines), so this measures, per camera and per region of the image:

* bias: the mean error of the box bottom (detector minus truth, px; + is lower in the image), which a
  straight-line fit of the path (line_fit_frames) cannot remove,
* per-truck spread: how much each truck's own mean error varies between trucks,
* jitter: the frame-to-frame error (std of the change between consecutive frames / sqrt 2), which the fit
  evens out,
* found: the share of truth trucks at least half visible matched by a box (IoU >= 0.3), and extra:
  unmatched truck boxes mostly inside a truth truck's box (a cab or trailer found alone),
* per line, over the 3 s around each truck's crossing (`crossing ...` rows): the error of the anchor's
  signed distance to the line split into per-truck bias (RMS over trucks), a slow part and jitter, the
  trucks' speed, and the share of trucks whose bias alone is more than 2 frames of their motion.

Runs the edge's own detector on a rendered world's videos (`lanewatch-sim generate`, label-every 0);
`--detail NAME ROLE=x0,y0,x1,y1 ...` also measures a second pass on crops (models/detail_pass.py):

    PYTHONPATH=. python models/anchor_error.py var/bench/vision/busy-31 [--model models/x.onnx] [--near-lines-only]

Seeds 31-34 are the tuning seeds; never tune on 11, 21 or 22 (the accuracy test's and the bench's) nor train
on any seed below 100. The figures of v2 and v3 are in their cards, the detail pass's in docs/vision.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.vision_replay import CachedDetector, cache_detections  # noqa: E402 - after the path set-up above
from edge.analysis import inside_another  # noqa: E402
from edge.anchor_refine import AnchorRefiner  # noqa: E402
from edge.config import AnchorRefineConfig, LineConfig, YoloOnnxDetectorConfig  # noqa: E402
from edge.detect import detector_factory  # noqa: E402
from models.detail_pass import DetailDetector, FullFrameMemo, Region  # noqa: E402

NEAR_LINE_PX = 25.0  # an anchor this close to a line (perpendicular, px) is "at the line"
MIN_VISIBLE = 0.5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None] - inter + 1e-9)


def line_distance(point: np.ndarray, line: dict) -> float:
    """Perpendicular distance of a point to the line through start and end, px."""
    start, end = np.asarray(line["start"], float), np.asarray(line["end"], float)
    d = end - start
    return float(abs(d[0] * (point[1] - start[1]) - d[1] * (point[0] - start[0])) / np.hypot(*d))


def signed_distance(point: np.ndarray, line: dict) -> float:
    """Distance of a point to the line, px: + on the line's forward side (cross(end - start, p - start) > 0)."""
    start, end = np.asarray(line["start"], float), np.asarray(line["end"], float)
    d = end - start
    return float((d[0] * (point[1] - start[1]) - d[1] * (point[0] - start[0])) / np.hypot(*d))


def measure(world_dir: Path, camera_id: str, detectors: dict, step: int = 1,
            near_lines_only: bool = False) -> dict[str, tuple[list[dict], dict[str, int]]]:
    """Per detector variant: one row per matched truth truck per frame, and counts of unmatched truth and
    extra boxes. With near_lines_only, only frames with a measured truck's anchor near a line are analysed."""
    world = json.loads((world_dir / "world.json").read_text())
    camera = next(c for lane in world["lanes"] for c in lane["cameras"] if c["id"] == camera_id)
    lines = {k: v for k, v in camera["geometry"].items() if k.endswith("_line")}
    truth = _truth_objects(world_dir, camera_id)
    capture = cv2.VideoCapture(str(world_dir / camera["video"]))
    results = {name: ([], {"truth": 0, "missed": 0, "extra": 0, "frames": 0}) for name in detectors}
    index = -1
    while capture.grab():
        index += 1
        everyone = truth.get(index, [])
        judged = None if index % step else _judged(everyone, lines, near_lines_only)
        if judged is None:
            continue
        measured, want, anchors = judged
        _, frame = capture.retrieve()
        for name, detector in detectors.items():
            rows, counts = results[name]
            found = detector.detect(frame)
            _match(found.xyxy[found.class_id == 0], everyone, measured, want, anchors, lines, frame.shape[0],
                   f"{world_dir.name}/", index, rows, counts)
    return results


def measure_refined(world_dir: Path, camera_id: str, config: AnchorRefineConfig,
                    near_lines_only: bool = False) -> dict[str, tuple[list[dict], dict[str, int]]]:
    """`measure` for the detector's boxes as cached by bench.vision_replay (the same model and frames), as
    they are ("raw") and with their bottoms refined by edge/anchor_refine.py ("refined"), which sees every frame
    in order as the edge's does. Boxes lying inside another are dropped first, as the edge drops them."""
    world = json.loads((world_dir / "world.json").read_text())
    camera = next(c for lane in world["lanes"] for c in lane["cameras"] if c["id"] == camera_id)
    lines = {k: v for k, v in camera["geometry"].items() if k.endswith("_line")}
    refiner = AnchorRefiner(config, [LineConfig(**v) for v in lines.values()], float(world["fps"]))
    cached = CachedDetector(cache_detections(world_dir, camera_id))
    truth = _truth_objects(world_dir, camera_id)
    capture = cv2.VideoCapture(str(world_dir / camera["video"]))
    results = {name: ([], {"truth": 0, "missed": 0, "extra": 0, "frames": 0}) for name in ("raw", "refined")}
    index = -1
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        cached.index = index
        found = cached.detect(None)
        boxes = found.xyxy[found.class_id == 0] if len(found) else np.zeros((0, 4), np.float32)
        confidence = found.confidence[found.class_id == 0] if len(found) else np.zeros(0, np.float32)
        if len(boxes) > 1:
            boxes = boxes[~inside_another(boxes, confidence)]
        refined = refiner.refine(frame, boxes, boxes)
        everyone = truth.get(index, [])
        judged = _judged(everyone, lines, near_lines_only)
        if judged is None:
            continue
        measured, want, anchors = judged
        for name, chosen in (("raw", boxes), ("refined", refined)):
            rows, counts = results[name]
            _match(chosen, everyone, measured, want, anchors, lines, frame.shape[0], f"{world_dir.name}/", index,
                   rows, counts)
    print(f"{world_dir.name} {camera_id}: refined {refiner.refined} boxes, kept {refiner.kept}", file=sys.stderr)
    return {f"{camera['role']} {name}": result for name, result in results.items()}


def _truth_objects(world_dir: Path, camera_id: str) -> dict[int, list[dict]]:
    """frame -> the simulator's objects in that frame of the camera."""
    rows = (json.loads(text) for text in (world_dir / "objects" / f"{camera_id}.jsonl").read_text().splitlines())
    return {row["frame"]: row["objects"] for row in rows}


def _judged(everyone: list[dict], lines: dict, near_lines_only: bool
            ) -> tuple[list[bool], np.ndarray, np.ndarray] | None:
    """(which objects are visible enough to measure, their truth boxes, their anchors), or None for a frame
    with nothing to measure (none visible enough, or, with `near_lines_only`, none near a line)."""
    measured = [o["visible_fraction"] >= MIN_VISIBLE for o in everyone]
    if not any(measured):
        return None
    want = np.array([o["box"] for o in everyone], float)
    anchors = np.stack([(want[:, 0] + want[:, 2]) / 2, want[:, 3]], axis=1)
    if near_lines_only and not any(
            m and line_distance(a, line) < NEAR_LINE_PX
            for a, m in zip(anchors, measured, strict=True) for line in lines.values()):
        return None
    return measured, want, anchors


def _match(boxes: np.ndarray, everyone: list[dict], measured: list[bool], want: np.ndarray, anchors: np.ndarray,
           lines: dict, frame_h: int, prefix: str, index: int, rows: list[dict], counts: dict[str, int]) -> None:
    # Boxes are matched to every truck in view; only trucks at least half visible are measured.
    counts["frames"] += 1
    counts["truth"] += sum(measured)
    ious = iou_matrix(want, boxes) if len(boxes) else np.zeros((len(want), 0))
    r, c = linear_sum_assignment(-ious) if ious.size else ([], [])
    pairs = [(i, j) for i, j in zip(r, c, strict=True) if ious[i, j] >= 0.3]
    counts["missed"] += sum(measured) - sum(1 for i, _ in pairs if measured[i])
    used = {j for _, j in pairs}
    for j in set(range(len(boxes))) - used:  # a box mostly inside a truth truck: a part of a truck
        b = boxes[j]
        inter = (np.clip(np.minimum(b[2], want[:, 2]) - np.maximum(b[0], want[:, 0]), 0, None)
                 * np.clip(np.minimum(b[3], want[:, 3]) - np.maximum(b[1], want[:, 1]), 0, None))
        if (inter / max(1e-9, (b[2] - b[0]) * (b[3] - b[1]))).max() >= 0.6:
            counts["extra"] += 1
    for i, j in pairs:
        if not measured[i]:
            continue
        t, d = want[i], boxes[j]
        anchor = anchors[i]
        ours = np.array([(d[0] + d[2]) / 2, d[3]])
        near = {name: line_distance(anchor, line) for name, line in lines.items()}
        rows.append({
            "frame": index, "truck": prefix + everyone[i]["truck"],  # ids repeat across seeds
            "dy": float(d[3] - t[3]),
            "dx": float((d[0] + d[2] - t[0] - t[2]) / 2), "y": float(t[3]), "height": float(t[3] - t[1]),
            "edge": bool(t[3] >= frame_h - 1),  # the anchor row is the frame's last
            "line": min(near, key=near.get) if near and min(near.values()) < NEAR_LINE_PX else None,
            # signed distance to each line near the truck, truth and ours: what the crossing is timed by
            "to_line": {name: (signed_distance(anchor, line), signed_distance(ours, line))
                        for name, line in lines.items() if near[name] < NEAR_LINE_PX},
        })


CROSSING_WINDOW = 15  # frames either side of the truth's crossing: 3 s at 10 frames/s
MIN_SIGHTINGS = 10  # of the window's 31 frames, matched; fewer and the truck is left out


def crossing_errors(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per line, over the window around each truck's crossing (truth anchor first past the line): the error
    of the anchor's signed distance to the line (ours minus truth, px; + is past the line), split into
    the per-truck bias (mean over the window), a slow within-truck part (5-frame running mean minus the bias)
    and the frame-to-frame part; the truck's speed (median truth px a frame) turns the bias into frames."""
    series: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
    for r in rows:
        for line, (truth, ours) in r.get("to_line", {}).items():
            series[(line, r["truck"])].append((r["frame"], truth, ours))
    per_line: dict[str, list[dict]] = defaultdict(list)
    for (line, _truck), points in series.items():
        points.sort()
        frames = np.array([p[0] for p in points])
        truth = np.array([p[1] for p in points])
        past = np.flatnonzero((truth[1:] > 0) & (truth[:-1] <= 0) & (np.diff(frames) <= 2))
        if not len(past):
            continue
        crossed = frames[past[0] + 1]
        inside = np.abs(frames - crossed) <= CROSSING_WINDOW
        if inside.sum() < MIN_SIGHTINGS:
            continue
        f, t, err = frames[inside], truth[inside], np.array([p[2] for p in points])[inside] - truth[inside]
        steps = np.diff(f) == 1
        speed = float(np.median(np.abs(np.diff(t)[steps]))) if steps.any() else float("nan")
        smooth = np.convolve(err, np.ones(5) / 5, mode="valid") if len(err) >= 5 else err
        per_line[line].append({
            "bias": float(err.mean()), "speed": speed, "errors": err,
            "slow": float(np.std(smooth - err.mean())),
            "steps": np.diff(err)[steps],
        })
    out = {}
    for line, trucks in sorted(per_line.items()):
        biases = np.array([t["bias"] for t in trucks])
        speeds = np.array([t["speed"] for t in trucks])
        steps = np.concatenate([t["steps"] for t in trucks])
        moving = speeds > 0
        out[line] = {
            "trucks": len(trucks),
            "mean_px": float(np.concatenate([t["errors"] for t in trucks]).mean()),
            "bias_rms_px": float(np.sqrt(np.mean(biases ** 2))),
            "slow_px": float(np.sqrt(np.mean([t["slow"] ** 2 for t in trucks]))),
            "jitter_px": float(np.std(steps) / np.sqrt(2)) if len(steps) else float("nan"),
            "speed_px_per_frame": float(np.median(speeds)),
            "bias_over_2_frames": float(np.mean(np.abs(biases[moving]) > 2 * speeds[moving])) if moving.any()
            else float("nan"),
        }
    return out


def summarise(rows: list[dict]) -> dict[str, float]:
    """bias, per-truck spread, jitter and |error| quantiles of the anchor row, and the column bias."""
    if not rows:
        return {"n": 0}
    dy = np.array([r["dy"] for r in rows])
    per_truck, steps = defaultdict(list), []
    for r in rows:
        per_truck[r["truck"]].append((r["frame"], r["dy"]))
    for series in per_truck.values():
        series.sort()
        for (f0, e0), (f1, e1) in zip(series, series[1:], strict=False):
            if f1 - f0 <= 2:
                steps.append(e1 - e0)
    truck_means = np.array([np.mean([e for _, e in s]) for s in per_truck.values() if len(s) >= 5])
    return {
        "n": len(rows), "trucks": len(per_truck),
        "bias_px": float(dy.mean()),
        "truck_spread_px": float(truck_means.std()) if len(truck_means) > 1 else float("nan"),
        "jitter_px": float(np.std(steps) / np.sqrt(2)) if steps else float("nan"),
        "abs_median_px": float(np.median(np.abs(dy))), "abs_p90_px": float(np.quantile(np.abs(dy), 0.9)),
        "dx_bias_px": float(np.mean([r["dx"] for r in rows])),
    }


def report(results: dict[str, tuple[list[dict], dict[str, int]]]) -> list[dict]:
    table = []
    for camera, (rows, counts) in results.items():
        inner = [r for r in rows if not r["edge"]]
        groups = {"all (bottom inside the frame)": inner}
        for name in sorted({r["line"] for r in inner if r["line"]}):
            groups[f"at {name} (<{NEAR_LINE_PX:.0f} px)"] = [r for r in inner if r["line"] == name]
        ys = np.array([r["y"] for r in inner]) if inner else np.zeros(0)
        if len(ys):
            edges = np.quantile(ys, [0, 1 / 3, 2 / 3, 1])
            for k, label in enumerate(("far third (top rows)", "middle third", "near third (bottom rows)")):
                groups[label] = [r for r in inner if edges[k] <= r["y"] <= edges[k + 1]]
        groups["bottom cut by the frame edge"] = [r for r in rows if r["edge"]]
        for label, group in groups.items():
            table.append({"camera": camera, "group": label, **summarise(group)})
        for line, figures in crossing_errors(rows).items():
            table.append({"camera": camera, "group": f"crossing {line} (+-{CROSSING_WINDOW} frames)", **figures})
        table.append({"camera": camera, "group": "counts", **counts,
                      "found": 1 - counts["missed"] / max(1, counts["truth"])})
    return table


def parse_detail(spec: list[str]) -> tuple[str, dict[str, list[Region]]]:
    """["name", "queue=300,0,528,128", "gate=256,0,544,162+..."] -> the variant's regions per camera role."""
    name, *parts = spec
    regions: dict[str, list[Region]] = {}
    for part in parts:
        role, _, boxes = part.partition("=")
        try:
            regions[role] = [Region(*(int(v) for v in box.split(","))) for box in boxes.split("+")]
        except TypeError:
            raise SystemExit(f"--detail {part}: expected ROLE=x0,y0,x1,y1[+x0,y0,x1,y1...]") from None
    return name, regions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("worlds", nargs="+", type=Path, help="rendered worlds (world.json, videos, objects/)")
    parser.add_argument("--model", type=Path, default=None, help="ONNX file (default: the edge's default model)")
    parser.add_argument("--step", type=int, default=1, help="analyse every Nth frame")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    parser.add_argument("--detail", nargs="+", action="append", default=[], metavar="NAME ROLE=x0,y0,x1,y1",
                        help="also measure a variant with detail detection (edge/detect/detail.py) on these crops, "
                        "per camera role; repeatable")
    parser.add_argument("--near-lines-only", action="store_true",
                        help="analyse only frames with a truck's anchor near a line (the crossing figures)")
    parser.add_argument("--refine", action="store_true",
                        help="measure the cached detections (bench.vision_replay) as they are and with their bottoms "
                        "refined (edge/anchor_refine.py) instead of running the detector")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    if args.refine:
        return _print(report(_merge(measure_refined(world_dir, camera["id"], AnchorRefineConfig(),
                                                    args.near_lines_only)
                                    for world_dir in args.worlds
                                    for camera in (c for lane in json.loads((world_dir / "world.json").read_text())
                                                   ["lanes"] for c in lane["cameras"]))), args.json)
    config = YoloOnnxDetectorConfig(**({"model": args.model} if args.model else {}))
    detector = FullFrameMemo(detector_factory(config)())
    variants = dict(parse_detail(spec) for spec in args.detail)
    results: dict[str, tuple[list[dict], dict[str, int]]] = {}
    for world_dir in args.worlds:
        world = json.loads((world_dir / "world.json").read_text())
        for camera in (c for lane in world["lanes"] for c in lane["cameras"]):
            role = camera["role"]
            detectors = {role: detector, **{f"{role} {name}": DetailDetector(detector, regions[role])
                                            for name, regions in variants.items() if role in regions}}
            for key, (rows, counts) in measure(world_dir, camera["id"], detectors, args.step,
                                               args.near_lines_only).items():
                old_rows, old_counts = results.get(key, ([], {}))
                results[key] = (old_rows + rows, {k: old_counts.get(k, 0) + v for k, v in counts.items()})
    return _print(report(results), args.json)


Results = dict[str, tuple[list[dict], dict[str, int]]]


def _merge(parts: Iterable[Results]) -> Results:
    results: Results = {}
    for part in parts:
        for key, (rows, counts) in part.items():
            old_rows, old_counts = results.get(key, ([], {}))
            results[key] = (old_rows + rows, {k: old_counts.get(k, 0) + v for k, v in counts.items()})
    return results


def _print(table: list[dict], out: Path | None) -> int:
    for row in table:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    if out:
        out.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
