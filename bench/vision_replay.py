"""Replay a camera's cached detections through the edge's tracker and lane logic, for tuning them.

Detection is nearly all of an accuracy run's time, and the tracker and lane logic never change what
the detector finds; so the detector runs once per camera video (`cache_detections`, saved next to the
world as `detections-<camera>-<model>.npz`) and every variant of the tracking side is replayed from it
(`replay_camera`) and scored exactly as `bench.vision_eval` scores a live run. The anchor refinement
(edge/anchor_refine.py) looks at the frames, so with it on (the edge's default) the videos are decoded
again; `--anchor-refine off` replays without them:

    PYTHONPATH=. python -m bench.vision_replay 31 32 33 34

renders the busy 600 s worlds of those seeds into var/bench/vision (as `make bench` does; `--size 1920x1080`
renders them at that size into busy1080-<seed>), caches their detections and prints each camera's score (and the
replay's ms per frame and stage, detection read from the cache), its missed and false events; `--tracking KEY=VALUE`
replays with one of the tracking settings changed on both cameras, `--analysis-fps F` analyses fewer frames a
second, `--model FILE` caches and replays another detector's boxes, `--camera ID` replays one camera only. Tune
only on seeds that no test or bench reports (31-34 are the tuning seeds; 11, 21 and 22 are the test's and the
bench's).
"""

from __future__ import annotations

import argparse
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import supervision as sv

from bench.vision_eval import ROOT, CameraRun, Score, camera_config, score, simulate
from edge.analysis import CameraAnalysis
from edge.config import AnchorRefineConfig, CameraConfig, YoloOnnxDetectorConfig
from edge.detect import detector_factory
from edge.lane import FrameTime
from edge.sources import Frame, FrameSource

CAMERAS = ("lane-1-queue", "lane-1-gate")
CACHE = ROOT / "var" / "bench" / "vision"


def _camera(world_dir: Path, camera_id: str) -> tuple[dict, dict]:
    world = json.loads((world_dir / "world.json").read_text())
    return world, next(c for lane in world["lanes"] for c in lane["cameras"] if c["id"] == camera_id)


def cache_path(world_dir: Path, camera_id: str, model: Path) -> Path:
    return world_dir / f"detections-{camera_id}-{model.stem}.npz"


def cache_detections(world_dir: Path, camera_id: str, detector: YoloOnnxDetectorConfig | None = None) -> Path:
    """Run the detector over every analysed frame of the camera's video, once; the cache's path."""
    detector = detector or YoloOnnxDetectorConfig()
    out = cache_path(world_dir, camera_id, Path(detector.model))
    if out.exists():
        return out
    world, camera = _camera(world_dir, camera_id)
    config = camera_config(world, camera, world_dir)
    detect = detector_factory(detector)()
    stop = threading.Event()
    rows: list[list[float]] = []
    frames = 0
    for frame in FrameSource(config, stop).start().frames():
        found = detect.detect(frame.image)
        rows += [[frame.index, *box, conf, cls]
                 for box, conf, cls in zip(found.xyxy, found.confidence, found.class_id, strict=True)]
        frames = frame.index + 1
    stop.set()
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, boxes=np.asarray(rows, dtype=np.float64).reshape(-1, 7), frames=frames,
             names=np.asarray(detect.names))
    tmp.rename(out)
    return out


class CachedDetector:
    """A detector that hands out the cached boxes of frame `index` (set by the replay before each frame)."""

    def __init__(self, path: Path):
        data = np.load(path)
        self.names: tuple[str, ...] = tuple(str(n) for n in data["names"])
        self.frames = int(data["frames"])
        boxes = data["boxes"]
        order = np.argsort(boxes[:, 0], kind="stable")
        boxes = boxes[order]
        starts = np.searchsorted(boxes[:, 0], np.arange(self.frames + 1))
        self._by_frame = [boxes[starts[i]:starts[i + 1]] for i in range(self.frames)]
        self.index = 0

    def detect(self, frame: np.ndarray | None) -> sv.Detections:
        rows = self._by_frame[self.index]
        if not len(rows):
            return sv.Detections.empty()
        return sv.Detections(xyxy=rows[:, 1:5].astype(np.float32), confidence=rows[:, 5].astype(np.float32),
                             class_id=rows[:, 6].astype(int))


def replay_camera(world_dir: Path, camera_id: str, cache: Path, config: CameraConfig | None = None) -> CameraRun:
    """`bench.vision_eval.analyse_camera` with the detector's boxes read from `cache`; `config` overrides
    the site's camera settings (e.g. other tracking options)."""
    world, camera = _camera(world_dir, camera_id)
    config = config or camera_config(world, camera, world_dir)
    detector = CachedDetector(cache)
    analysis = CameraAnalysis(config, detector)
    fps = float(world["fps"])
    start = datetime.fromisoformat(world["start_utc"].replace("Z", "+00:00"))
    crossings = []
    occupancy: dict[int, int] = {}
    # The anchor refinement looks at the frames themselves: decode them (the same source as the live run).
    stop = threading.Event()
    # The decoded frames also say which of the video's frames are analysed (fewer at a lower `analysis_fps`).
    if config.anchor_refine.enabled:
        frames = ((f.index, f.image) for f in FrameSource(config, stop).start().frames())
    else:
        frames = ((i, np.zeros((0, 0, 3), np.uint8)) for i in range(detector.frames))
    for index, image in frames:
        if index >= detector.frames:
            break
        detector.index = index
        video_s = index / fps
        frame = Frame(image, FrameTime(start + timedelta(seconds=video_s), round(video_s * 1e9), index))
        crossings += analysis.process(frame).crossings
        second = int(index // fps)
        if second not in occupancy:  # sampled at each second's first analysed frame
            occupancy[second] = analysis.lane.queue_occupancy
    crossings += analysis.finish()
    stop.set()
    return CameraRun(camera_id, camera["role"], fps, crossings, occupancy, analysis.clock.frames,
                     analysis.lane.rejoins, analysis.clock.ms_per_frame())


def summary(total: Score) -> str:
    errors = sorted(total.timing_errors_frames)
    median = errors[len(errors) // 2] if errors else 0.0
    return (f"events {total.truth_events} found {total.found} ({100 * total.recall:.1f} %) "
            f"false {total.false_events} ({100 * total.false_rate:.1f} %) "
            f"within 2 frames {100 * total.on_time:.1f} % (enter {100 * total.on_time_of('enter'):.0f} / "
            f"gate {100 * total.on_time_of('gate'):.0f} / exit {100 * total.on_time_of('exit'):.0f}) "
            f"median {median:.2f} split ids {total.split_ids} "
            f"occupancy {100 * total.occupancy_agreement:.1f} % ({total.occupancy_equal}/{total.occupancy_seconds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", nargs="+", type=int, help="busy-world seeds to render (once), cache and replay")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of simulated traffic")
    parser.add_argument("--out", type=Path, default=CACHE, help="where the worlds are rendered")
    parser.add_argument("--anchor-refine", choices=("on", "off"), default="on",
                        help="refine anchors near the lines from the frames (edge/anchor_refine.py; decodes videos)")
    parser.add_argument("--refine-window", type=float, default=None, help="anchor_refine.window (default: the edge's)")
    parser.add_argument("--size", default="640x360",
                        help="frame size WxH the worlds are rendered at; other than 640x360 in busy<H>-<seed>")
    parser.add_argument("--tracking", action="append", default=[], metavar="KEY=VALUE",
                        help="override one of the cameras' tracking settings (docs/vision.md, Tracking); repeatable")
    parser.add_argument("--analysis-fps", type=float, default=None,
                        help="analyse fewer of the video's frames a second, as a starved edge would (needs anchor "
                             "refinement on: the decoded frames say which)")
    parser.add_argument("--model", type=Path, default=None,
                        help="another detector (an .onnx with a manifest.json beside it) to cache and replay")
    parser.add_argument("--camera", action="append", choices=CAMERAS, default=None,
                        help="replay only this camera (repeatable; default: both)")
    args = parser.parse_args()
    detector = YoloOnnxDetectorConfig(**({"model": args.model.resolve()} if args.model else {}))
    if args.analysis_fps and args.anchor_refine == "off":
        parser.error("--analysis-fps needs --anchor-refine on")
    if any("=" not in item for item in args.tracking):
        parser.error(f"--tracking takes KEY=VALUE, got {args.tracking}")
    overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.tracking)}
    width, height = (int(v) for v in args.size.split("x"))
    folder = "busy" if (width, height) == (640, 360) else f"busy{height}"
    refine = {"enabled": args.anchor_refine == "on",
              **({"window": args.refine_window} if args.refine_window is not None else {})}
    total = Score()
    for seed in args.seeds:
        world_dir = simulate(args.out / f"{folder}-{seed}", seed, args.duration, width, height)
        for camera in args.camera or CAMERAS:
            world, spec = _camera(world_dir, camera)
            config = camera_config(world, spec, world_dir, args.analysis_fps)
            config = config.model_copy(update={
                "anchor_refine": AnchorRefineConfig(**refine),
                "tracking": config.tracking.model_validate({**config.tracking.model_dump(), **overrides})})
            run = replay_camera(world_dir, camera, cache_detections(world_dir, camera, detector), config)
            result = score(world_dir, run)
            total.add(result)
            run_ms = " ".join(f"{k} {v:.2f}" for k, v in run.ms_per_stage.items())
            print(f"seed {seed} {camera}: {summary(result)} (ms per frame: {run_ms})")
            for line in result.misses:
                print(f"  missed {line}")
            for line in result.falses:
                print(f"  false {line}")
            for line in result.at_end:
                print(f"  at the video's end, not scored: {line}")
    print(f"all: {summary(total)}")


if __name__ == "__main__":
    main()
