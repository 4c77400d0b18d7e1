"""Plates on simulated trucks, end to end: the simulator's gate-camera video → the edge's analysis and
plate stage (the same hooks `edge.app` calls) → the plates on each exit event → scored against
the simulator's truth.

Used by tests/test_plates_sim.py (thresholds) and bench/bench_plates.py (figures). The simulator
runs its `plates` scenario (a truck through the gate every ~30 s) with the gate camera at a
plate-reading resolution; every truck that leaves through the exit line is scored on the plate
its exit event carries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from edge.analysis import CameraAnalysis
from edge.config import CameraConfig, YoloOnnxDetectorConfig
from edge.detect import detector_factory
from edge.plates.reader import PlateReader
from edge.plates.stage import PlateStage, PlateStageConfig, camera_plates
from edge.sources import FrameSource
from lanewatch.contract import PlateRead

ROOT = Path(__file__).resolve().parent.parent
GATE_SIZE = (1920, 1080)  # a 1080p gate camera: a one-row plate at the barrier is ~130 px wide
FPS = 4.0
MATCH_WINDOW_S = 3.0  # an exit crossing belongs to the truth exit nearest in time, within this


def simulate(out: Path, seed: int, duration_s: float, lanes: int = 2, light: str = "day") -> Path:
    """Render the `plates` scenario (skipped when `out` already holds that run)."""
    if (out / "world.json").exists():
        return out
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))}
    cmd = [
        sys.executable, "-m", "sim.cli", "generate", "--seed", str(seed), "--duration", str(duration_s),
        "--out", str(out), "--lanes", str(lanes), "--scenario", "plates", "--fps", str(FPS),
        "--width", "640", "--height", "360", "--gate-width", str(GATE_SIZE[0]), "--gate-height", str(GATE_SIZE[1]),
        "--light", light, "--quiet",
    ]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, env=env, cwd=out.parent, timeout=1800)
    return out


@dataclass(frozen=True)
class ExitPlates:
    camera: str
    track_id: int
    video_s: float
    plates: tuple[PlateRead, ...]


@dataclass
class EdgeRun:
    exits: list[ExitPlates] = field(default_factory=list)
    frames: int = 0
    analysis_cpu_s: float = 0.0  # the camera threads: decode not included, detect + track + zones + plate hooks
    plate_cpu_s: float = 0.0  # the plate worker: reads
    plate_hook_cpu_s: float = 0.0  # the camera threads' share of the plate stage (pairing, gates, crops)
    reads: int = 0
    accepted: int = 0


def run_edge(world_dir: Path, reader: PlateReader | None = None) -> EdgeRun:
    """Every gate camera of the world through the edge's analysis and plate stage, one after another."""
    world = json.loads((world_dir / "world.json").read_text())
    start = datetime.fromisoformat(world["start_utc"].replace("Z", "+00:00"))
    cameras = [(lane["id"], cam) for lane in world["lanes"] for cam in lane["cameras"] if cam["role"] == "gate"]
    stage = PlateStage(PlateStageConfig(), [lane for lane, _ in cameras], reader=reader).start()
    detector = detector_factory(YoloOnnxDetectorConfig())()
    run = EdgeRun()
    try:
        for lane, cam in cameras:
            config = CameraConfig.model_validate(
                {
                    "id": cam["id"],
                    "analysis_fps": world["fps"],
                    "geometry": cam["geometry"],
                    "source": {
                        "type": "file",
                        "path": str(world_dir / cam["video"]),
                        "realtime": False,
                        "start_utc": start,
                    },
                }
            )
            analysis = CameraAnalysis(config, detector)
            hook = camera_plates(stage, lane, cam["id"], detector.names, replay=True)
            assert hook is not None, "the default detector has a plate class"
            stop = threading.Event()
            source = FrameSource(config, stop).start()
            try:
                for frame in source.frames():
                    t0 = time.thread_time()
                    analysed = analysis.process(frame)
                    t1 = time.thread_time()
                    hook.observe(frame.image, frame.at.mono_ns / 1e9, analysed, analysis.lane)
                    t2 = time.thread_time()
                    run.frames += 1
                    run.analysis_cpu_s += t1 - t0
                    run.plate_hook_cpu_s += t2 - t1
                    for crossing in analysed.crossings:
                        if crossing.kind == "exit":
                            seconds = (crossing.at.utc - start).total_seconds()
                            plates = hook.for_event(crossing.track_id, final=True)
                            run.exits.append(ExitPlates(cam["id"], crossing.track_id, seconds, plates))
                for crossing in analysis.finish():
                    if crossing.kind == "exit":
                        seconds = (crossing.at.utc - start).total_seconds()
                        plates = hook.for_event(crossing.track_id, final=True)
                        run.exits.append(ExitPlates(cam["id"], crossing.track_id, seconds, plates))
            finally:
                stop.set()
                source.join(timeout=5)
    finally:
        stage.stop()
    run.plate_cpu_s = stage.stats.read_cpu_s
    for lane in stage.lanes.values():
        counts = lane.status()
        run.reads += counts.attempted
        run.accepted += counts.accepted
    return run


@dataclass
class TruckResult:
    truck: str
    country: str
    rows: int
    truth: tuple[str, ...]  # every plate the truck carries, the front one first
    read: str | None  # the exit event's main plate
    confidently_wrong: bool


@dataclass
class PlateScore:
    trucks: list[TruckResult] = field(default_factory=list)
    unmatched_exits: int = 0  # exit crossings with no truth exit near them (vision's false exits)
    missed_exits: int = 0  # truth exits with no crossing near them (vision's misses)

    def groups(self) -> dict[tuple[str, int], list[TruckResult]]:
        out: dict[tuple[str, int], list[TruckResult]] = defaultdict(list)
        for t in self.trucks:
            out[(t.country, t.rows)].append(t)
        return dict(sorted(out.items()))

    def exact(self, country: str | None = None, rows: int | None = None) -> tuple[int, int]:
        chosen = [
            t for t in self.trucks if (country is None or t.country == country) and (rows is None or t.rows == rows)
        ]
        return sum(t.read == t.truth[0] for t in chosen), len(chosen)

    def wrong(self) -> tuple[int, int]:
        return sum(t.confidently_wrong for t in self.trucks), len(self.trucks)


def score(world_dir: Path, run: EdgeRun, accept_confidence: float = 0.5) -> PlateScore:
    """Match each truth exit to the edge's exit crossing on that camera nearest in time; score its plates.

    A plate read is confidently wrong when the event carries, with at least `accept_confidence`, a
    plate in a valid format that the truck does not carry.
    """
    by_camera: dict[str, list[ExitPlates]] = defaultdict(list)
    for e in run.exits:
        by_camera[e.camera].append(e)
    used: set[int] = set()
    result = PlateScore()
    for line in (world_dir / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        truck = json.loads(line)
        if truck["exit"] is None:
            continue
        camera = f"{truck['lane']}-gate"
        t = float(truck["exit"]["video_s"])
        near = [e for e in by_camera[camera] if id(e) not in used and abs(e.video_s - t) <= MATCH_WINDOW_S]
        if not near:
            result.missed_exits += 1
            continue
        exit_ = min(near, key=lambda e: abs(e.video_s - t))
        used.add(id(exit_))
        truth = tuple(p["text"] for p in truck["plates"])
        front = truck["plates"][0]
        main = exit_.plates[0].text if exit_.plates else None
        wrong = any(p.valid_format and p.confidence >= accept_confidence and p.text not in truth for p in exit_.plates)
        result.trucks.append(TruckResult(truck["truck"], front["country"], int(front["rows"]), truth, main, wrong))
    result.unmatched_exits = sum(1 for e in run.exits if id(e) not in used)
    return result
