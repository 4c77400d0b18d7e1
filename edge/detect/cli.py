"""Installer tools: `lanewatch-edge detect` (run the model on images) and `lanewatch-edge snapshot`
(a camera's current frame with its configured zones, lines and detections drawn on it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from edge.config import DEFAULT_MODEL, CameraConfig, EdgeConfig, YoloOnnxDetectorConfig
from edge.detect import Detector, detector_factory
from edge.detect.onnx_yolo import YoloOnnxDetector
from edge.sources import describe, open_capture
from lanewatch.config import load_config

SNAPSHOT_FRAMES_MOTION = 60  # the motion detector needs a background before it sees anything


class ToolError(Exception):
    """A tool cannot do its job; the message says what was wrong and what was expected."""


# ------------------------------------------------------------------------- detect
def parse_classes(text: str) -> dict[int, str]:
    """"7=truck,5=truck" -> {7: "truck", 5: "truck"}."""
    out: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        index, sep, name = part.partition("=")
        if not sep or not index.strip().isdigit() or not name.strip():
            raise argparse.ArgumentTypeError(f"expected INDEX=NAME pairs such as 7=truck,5=truck, got {part!r}")
        out[int(index)] = name.strip()
    return out


def detections_json(detector: Detector, detections: sv.Detections) -> list[dict]:
    return [
        {"class": detector.names[int(c)], "confidence": round(float(p), 3), "box": [round(float(v), 1) for v in box]}
        for box, p, c in zip(detections.xyxy, detections.confidence, detections.class_id, strict=True)
    ]


def detect_main(args: argparse.Namespace) -> int:
    config = YoloOnnxDetectorConfig(model=Path(args.model), confidence=args.confidence, input_size=args.input_size)
    detector = YoloOnnxDetector.load(config, classes=args.classes)
    failed = 0
    for name in args.images:
        image = cv2.imread(name, cv2.IMREAD_COLOR) if Path(name).is_file() else None
        if image is None:
            failed += 1
            reason = "cannot read as an image (expected JPEG, PNG, BMP…)" if Path(name).exists() else "file not found"
            print(json.dumps({"image": name, "error": reason}), flush=True)
            continue
        print(json.dumps({"image": name, "detections": detections_json(detector, detector.detect(image))}), flush=True)
    return 1 if failed else 0


# ------------------------------------------------------------------------- snapshot
def find_camera(config: EdgeConfig, camera_id: str) -> CameraConfig:
    cams = {cam.id: cam for lane in config.lanes for cam in lane.cameras}
    if camera_id not in cams:
        raise ToolError(f"no camera {camera_id!r} in the config; expected one of: {', '.join(sorted(cams))}")
    return cams[camera_id]


def grab_frames(camera: CameraConfig, count: int) -> list[np.ndarray]:
    cap = open_capture(camera.source)
    try:
        if not cap.isOpened():
            raise ToolError(f"camera {camera.id}: cannot open {describe(camera.source)}")
        frames = []
        for _ in range(count * 3):  # a few undecodable frames are tolerated
            ok, image = cap.read()
            if ok and image is not None and image.size:
                frames.append(image)
                if len(frames) == count:
                    break
        if not frames:
            raise ToolError(f"camera {camera.id}: opened {describe(camera.source)} but got no frame")
        return frames
    finally:
        cap.release()


def _px(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0])), int(round(point[1]))


def draw(image: np.ndarray, camera: CameraConfig, detector: Detector, detections: sv.Detections) -> np.ndarray:
    out = image.copy()
    scale = max(1.0, image.shape[1] / 960)
    thick = max(1, round(2 * scale))
    geometry = camera.geometry
    overlay = out.copy()
    for zone, colour, label in ((geometry.queue_zone, (255, 170, 0), "queue"),
                                (geometry.weighbridge_zone, (0, 200, 255), "weighbridge")):
        if zone:
            pts = np.round(np.asarray(zone)).astype(np.int32)
            cv2.fillPoly(overlay, [pts], colour)
            cv2.polylines(out, [pts], True, colour, thick)
            cv2.putText(out, label, tuple(int(v) for v in pts[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, thick)
    out = cv2.addWeighted(overlay, 0.2, out, 0.8, 0)
    for name, colour in (("entry_line", (0, 255, 0)), ("gate_line", (255, 0, 255)), ("exit_line", (0, 0, 255))):
        line = getattr(geometry, name)
        if line is None:
            continue
        a, b = np.asarray(line.start), np.asarray(line.end)
        cv2.line(out, _px(a), _px(b), colour, thick)
        # Arrow from the middle towards the forward side (where cross(b - a, p - a) > 0).
        mid, d = (a + b) / 2, b - a
        normal = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0)
        tip = mid + normal * 40 * scale
        cv2.arrowedLine(out, _px(mid), _px(tip), colour, thick, tipLength=0.3)
        cv2.putText(out, name, _px(a + [4, -6]), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, thick)
    for box, p, c in zip(detections.xyxy, detections.confidence, detections.class_id, strict=True):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        colour = (0, 255, 255) if detector.names[int(c)] == "truck" else (255, 255, 255)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        cv2.circle(out, ((x1 + x2) // 2, y2), 3 * thick, colour, -1)  # the anchor that zones and lines test
        cv2.putText(out, f"{detector.names[int(c)]} {p:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5 * scale, colour, thick)
    return out


def snapshot_main(args: argparse.Namespace) -> int:
    config = load_config(args.config, EdgeConfig)
    camera = find_camera(config, args.camera)
    detector = detector_factory(config.detector)()
    frames = grab_frames(camera, 1 if isinstance(config.detector, YoloOnnxDetectorConfig) else SNAPSHOT_FRAMES_MOTION)
    for image in frames:
        detections = detector.detect(image)
    out = Path(args.out)
    if not cv2.imwrite(str(out), draw(frames[-1], camera, detector, detections)):
        raise ToolError(f"{out}: cannot write the image (expected a writable path ending in .png or .jpg)")
    counts = {name: int(np.sum(detections.class_id == i)) for i, name in enumerate(detector.names)}
    print(json.dumps({"camera": camera.id, "out": str(out), "size": [frames[-1].shape[1], frames[-1].shape[0]],
                      "detections": counts}))
    return 0


# ------------------------------------------------------------------------- wiring
def add_commands(sub: argparse._SubParsersAction) -> None:
    det = sub.add_parser(
        "detect", help="run the detector on images and print one JSON line per image",
        epilog="example: lanewatch-edge detect --model yolo11n.onnx --classes 7=truck,5=truck cam1.jpg")
    det.add_argument("images", nargs="+", metavar="IMAGE")
    det.add_argument("--model", default=str(DEFAULT_MODEL), help="ONNX model (default: the project's truck model)")
    det.add_argument("--classes", type=parse_classes, default=None,
                     help="model class map INDEX=NAME,… (default: the model's manifest entry or its own names)")
    det.add_argument("--confidence", type=float, default=0.5, help="lowest score printed (default 0.5)")
    det.add_argument("--input-size", type=int, default=None, help="input side for dynamic-shape models")
    det.set_defaults(func=detect_main)
    snap = sub.add_parser(
        "snapshot", help="save a camera's current frame with zones, lines and detections drawn",
        epilog="example: lanewatch-edge snapshot --config edge.yaml --camera out1-queue --out out1.png")
    snap.add_argument("--config", required=True, help="edge config file (YAML)")
    snap.add_argument("--camera", required=True, help="camera id from the config")
    snap.add_argument("--out", required=True, help="image to write (.png)")
    snap.set_defaults(func=snapshot_main)

