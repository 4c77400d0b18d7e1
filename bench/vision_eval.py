"""Score the edge's vision against the simulator's truth (docs/simulator.md, "Output contract").

`simulate()` renders a world with `lanewatch-sim generate`; `analyse_camera()` runs a camera's video
through exactly the edge's analysis (FrameSource → detector → ByteTrack → lane lines and zones);
`score()` matches the crossings to truth.jsonl and the per-second queue-zone occupancy to queue.csv.
Used by tests/test_vision_accuracy.py (thresholds) and bench/bench_vision.py (figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.analysis import CameraAnalysis
from edge.config import CameraConfig, DetectorConfig, YoloOnnxDetectorConfig
from edge.detect import detector_factory
from edge.lane import Crossing
from edge.sources import FrameSource

ROOT = Path(__file__).resolve().parent.parent
# Counting: each truth event is matched to at most one crossing of its kind and camera, nearest in time
# (Hungarian); a crossing further than this from every truth event is false. Trucks pass a line one after
# another, so a wide window still pairs the right ones and lets a late-timed crossing count as counted.
MATCH_WINDOW_S = 30.0
VISIBLE = 0.25  # a crossing the camera can see: the truck at least this visible (the sim's visible_fraction)
# The end of the video cuts crossings in two: the edge reports a crossing only after the steadied anchor has
# passed the line (up to 16 frames' median, 1.6 s at the queue camera), and a far truck's box bottom is timed a
# few frames early or late; so a truck crossing in the last seconds may be reported by only one side. An
# unmatched crossing (truth's or edge's) this close to the end is neither missed nor false but counted apart
# (`at_end`); matched ones count as ever.
END_GUARD_S = 5.0


def simulate(out: Path, seed: int, duration_s: float, width: int = 640, height: int = 360, fps: float = 10.0,
             scenario: str = "busy", light: str = "day", weather: str = "clear") -> Path:
    """Render one lane with the simulator (skipped when `out` already holds that run)."""
    if (out / "world.json").exists():
        return out
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))}
    cmd = [sys.executable, "-m", "sim.cli", "generate", "--seed", str(seed), "--duration", str(duration_s),
           "--out", str(out), "--width", str(width), "--height", str(height), "--fps", str(fps),
           "--scenario", scenario, "--light", light, "--weather", weather, "--quiet"]
    # Run from the output's folder so that the repository's own `sim` package is found through PYTHONPATH only.
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, env=env, cwd=out.parent, timeout=1800)
    return out


@dataclass
class CameraRun:
    camera: str
    role: str
    fps: float
    crossings: list[Crossing]
    occupancy: dict[int, int]  # whole second of video -> trucks in the queue zone at that frame
    frames: int
    rejoins: int
    ms_per_stage: dict[str, float]


# The simulated site's tracking settings, as its installer would set them (docs/vision.md, "Accuracy"): the
# queue camera's mast sees the entry line, so no entry is inferred and no truck is held as hidden for long;
# paths are fitted over 8 frames either side of a line, 16 at the queue camera's entry line (60 m away, where a
# truck moves under a pixel a frame); one long truck may show two boxes that cross a line up to 6 s and 120 px
# apart (near the gate camera); a lost track is taken up only by one appearing within 40 px. Pixel settings are
# for a SITE_WIDTH px wide frame; the installer of a wider camera sets them in proportion (`site_tracking`).
SITE_TRACKING = {"infer_hidden_entries": False, "hidden_hold_s": 1.0, "rejoin_radius_px": 40.0,
                 "line_fit_frames": 8, "duplicate_window_s": 6.0, "duplicate_radius_px": 120.0,
                 "queued_past_entry_px": 15.0}
SITE_TRACKING_BY_ROLE = {"queue": {"line_fit_frames": 16}, "gate": {}}
SITE_WIDTH = 640


def site_tracking(camera: dict) -> dict:
    """The site's tracking settings for this camera, pixel ones scaled to its frame's width."""
    scale = camera["width"] / SITE_WIDTH
    settings = {**SITE_TRACKING, **SITE_TRACKING_BY_ROLE.get(camera["role"], {})}
    return {k: v * scale if k.endswith("_px") else v for k, v in settings.items()}


def camera_config(world: dict, camera: dict, world_dir: Path, analysis_fps: float | None = None) -> CameraConfig:
    return CameraConfig.model_validate({
        "id": camera["id"], "analysis_fps": analysis_fps or world["fps"], "geometry": camera["geometry"],
        "tracking": site_tracking(camera),
        "source": {"type": "file", "path": str(world_dir / camera["video"]), "realtime": False,
                   "start_utc": world["start_utc"].replace("Z", "+00:00")},
    })


def analyse_camera(world_dir: Path, camera_id: str, detector: DetectorConfig | None = None) -> CameraRun:
    world = json.loads((world_dir / "world.json").read_text())
    camera = next(c for lane in world["lanes"] for c in lane["cameras"] if c["id"] == camera_id)
    config = camera_config(world, camera, world_dir)
    analysis = CameraAnalysis(config, detector_factory(detector or YoloOnnxDetectorConfig())())
    stop = threading.Event()
    source = FrameSource(config, stop).start()
    crossings: list[Crossing] = []
    occupancy: dict[int, int] = {}
    fps = float(world["fps"])
    for frame in source.frames():
        crossings += analysis.process(frame).crossings
        second, rest = divmod(frame.index, fps)
        if rest == 0:
            occupancy[int(second)] = analysis.lane.queue_occupancy
    crossings += analysis.finish()
    stop.set()
    return CameraRun(camera_id, camera["role"], fps, crossings, occupancy, analysis.clock.frames,
                     analysis.lane.rejoins, analysis.clock.ms_per_frame())


@dataclass
class Score:
    truth_events: int = 0
    found: int = 0
    false_events: int = 0
    timing_errors_frames: list[float] = field(default_factory=list)
    errors_by_kind: dict[str, list[float]] = field(default_factory=dict)  # the same errors, per event kind
    visible_errors_frames: list[float] = field(default_factory=list)  # crossings made in view of the camera
    split_ids: int = 0  # trucks whose crossings on one camera carry more than one id
    occupancy_seconds: int = 0
    occupancy_equal: int = 0
    misses: list[str] = field(default_factory=list)
    falses: list[str] = field(default_factory=list)
    at_end: list[str] = field(default_factory=list)  # unmatched crossings within END_GUARD_S of the video's end

    def add(self, other: Score) -> None:
        for name in ("truth_events", "found", "false_events", "split_ids", "occupancy_seconds", "occupancy_equal"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.timing_errors_frames += other.timing_errors_frames
        for kind, errors in other.errors_by_kind.items():
            self.errors_by_kind.setdefault(kind, []).extend(errors)
        self.visible_errors_frames += other.visible_errors_frames
        self.misses += other.misses
        self.falses += other.falses
        self.at_end += other.at_end

    @property
    def recall(self) -> float:
        return self.found / self.truth_events if self.truth_events else 1.0

    @property
    def false_rate(self) -> float:
        """False events per counted event."""
        return self.false_events / max(1, self.found + self.false_events)

    @property
    def on_time(self) -> float:
        """Share of found events within 2 frames of the truth."""
        return _within_2(self.timing_errors_frames)

    def on_time_of(self, kind: str) -> float:
        return _within_2(self.errors_by_kind.get(kind, []))

    @property
    def on_time_visible(self) -> float:
        """The same, for crossings the camera could see (not made hidden behind another truck)."""
        return _within_2(self.visible_errors_frames)

    @property
    def occupancy_agreement(self) -> float:
        return self.occupancy_equal / self.occupancy_seconds if self.occupancy_seconds else 1.0


KINDS_BY_ROLE = {"queue": ("enter",), "gate": ("gate", "exit")}


def _within_2(errors: list[float]) -> float:
    return sum(1 for e in errors if e <= 2.0) / len(errors) if errors else 1.0


def visibility(world_dir: Path, camera: str) -> dict[tuple[int, str], float]:
    """(frame, truck) -> visible fraction, from the simulator's per-frame objects."""
    out = {}
    for line in (world_dir / "objects" / f"{camera}.jsonl").read_text().splitlines():
        row = json.loads(line)
        for obj in row["objects"]:
            out[(row["frame"], obj["truck"])] = obj["visible_fraction"]
    return out


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def score(world_dir: Path, run: CameraRun) -> Score:
    truth = [json.loads(line) for line in (world_dir / "truth.jsonl").read_text().splitlines() if line.strip()]
    out = Score()
    seen = visibility(world_dir, run.camera)
    world = json.loads((world_dir / "world.json").read_text())
    end = _utc(world["start_utc"]) + timedelta(seconds=float(world["duration_s"]))
    guard = timedelta(seconds=END_GUARD_S)
    ids_by_truck: dict[str, set[int]] = {}
    for kind in KINDS_BY_ROLE[run.role]:
        wanted = [(t["truck"], _utc(t[kind]["utc"])) for t in truth if t.get(kind)]
        frames = [t[kind]["frame"] for t in truth if t.get(kind)]
        got = [c for c in run.crossings if c.kind == kind]
        cost = np.array([[abs((c.at.utc - when).total_seconds()) for c in got] for _, when in wanted])
        cost = cost.reshape(len(wanted), len(got))
        rows, cols = linear_sum_assignment(np.where(cost <= MATCH_WINDOW_S, cost, 1e6)) if cost.size else ([], [])
        matched = {(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= MATCH_WINDOW_S}
        hit_rows, hit_cols = {r for r, _ in matched}, {c for _, c in matched}
        cut_rows = {r for r, (_, when) in enumerate(wanted) if r not in hit_rows and when > end - guard}
        cut_cols = {c for c, crossing in enumerate(got) if c not in hit_cols and crossing.at.utc > end - guard}
        out.truth_events += len(wanted) - len(cut_rows)
        out.found += len(matched)
        out.false_events += len(got) - len(matched) - len(cut_cols)
        for r, c in matched:
            out.timing_errors_frames.append(cost[r, c] * run.fps)
            out.errors_by_kind.setdefault(kind, []).append(cost[r, c] * run.fps)
            if seen.get((frames[r], wanted[r][0]), 0.0) >= VISIBLE:
                out.visible_errors_frames.append(cost[r, c] * run.fps)
            ids_by_truck.setdefault(wanted[r][0], set()).add(got[c].track_id)
        out.misses += [f"{kind} {name} at {when.time()}" for r, (name, when) in enumerate(wanted)
                       if r not in hit_rows and r not in cut_rows]
        out.falses += [f"{kind} track {c.track_id} at {c.at.utc.time()}"
                       for i, c in enumerate(got) if i not in hit_cols and i not in cut_cols]
        out.at_end += [f"truth {kind} {wanted[r][0]} at {wanted[r][1].time()}" for r in sorted(cut_rows)]
        out.at_end += [f"edge {kind} track {got[c].track_id} at {got[c].at.utc.time()}" for c in sorted(cut_cols)]
    out.split_ids = sum(1 for ids in ids_by_truck.values() if len(ids) > 1)
    if run.role == "queue":
        rows = (world_dir / "queue.csv").read_text().splitlines()[1:]
        expected = {int(r.split(",")[1]): int(r.split(",")[4]) for r in rows}
        common = sorted(set(expected) & set(run.occupancy))
        out.occupancy_seconds = len(common)
        out.occupancy_equal = sum(1 for s in common if expected[s] == run.occupancy[s])
    return out
