"""Plates on simulated trucks, end to end: the simulator's gate-camera video → the edge's analysis and
plate stage (the same hooks `edge.app` calls) → the plates on each exit event → scored against
the simulator's truth.

Used by tests/test_plates_sim.py (thresholds) and bench/bench_plates.py (figures, `bench_rows`).
The simulator runs its `plates` scenario (a truck through the gate every ~30 s per lane) with the
gate camera at a plate-reading resolution; every truck that leaves through the exit line is
scored on the plate its exit event carries.

Seeds: 60–63 were used for tuning the plate stage (and 3, 5, 41 before them); 43 is the test's run
and 101–102 the benchmark's extra runs, never looked at while tuning. Other seeds for the benchmark:
`LANEWATCH_PLATES_SIM_RUNS="101:480:4,102:480:4"` (seed:seconds:lanes, comma-separated).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
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


@dataclass(frozen=True)
class SimRun:
    """One simulated run: its seed, length and lanes (odd lanes export, mostly VN; even import, mostly CN)."""

    seed: int
    duration_s: float
    lanes: int = 2

    @property
    def name(self) -> str:
        return f"seed {self.seed}, {self.duration_s:.0f} s, {self.lanes} lanes"


TEST_RUN = SimRun(43, 360.0, 2)  # tests/test_plates_sim.py; never used for tuning
# Fresh seeds for the benchmark, never looked at while tuning: with the test's run about 120 trucks.
BENCH_RUNS = (TEST_RUN, SimRun(101, 480.0, 4), SimRun(102, 480.0, 4))


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
        """Trucks with a confidently wrong plate, out of every truck that left (also those whose exit
        the lane logic missed: they carry no plate, so they cannot carry a wrong one)."""
        return sum(t.confidently_wrong for t in self.trucks), len(self.trucks) + self.missed_exits

    def merged(self, other: PlateScore) -> PlateScore:
        return PlateScore(
            self.trucks + other.trucks,
            self.unmatched_exits + other.unmatched_exits,
            self.missed_exits + other.missed_exits,
        )


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


def bench_runs() -> tuple[SimRun, ...]:
    """The benchmark's runs: `BENCH_RUNS`, or `LANEWATCH_PLATES_SIM_RUNS` (seed:seconds:lanes,...)."""
    spec = os.environ.get("LANEWATCH_PLATES_SIM_RUNS", "").strip()
    if not spec:
        return BENCH_RUNS
    runs = []
    for item in spec.split(","):
        try:
            seed, seconds, lanes = item.split(":")
            runs.append(SimRun(int(seed), float(seconds), int(lanes)))
        except ValueError:
            raise ValueError(f"LANEWATCH_PLATES_SIM_RUNS: expected seed:seconds:lanes, got {item!r}") from None
    return tuple(runs)


def world_for(run: SimRun, root: Path | None = None) -> Path:
    """The run's world, rendered once into a cache folder (the temp dir by default)."""
    root = root or Path(tempfile.gettempdir())
    return simulate(root / f"lanewatch-plates-sim-{run.seed}-{run.duration_s:.0f}s-{run.lanes}", run.seed,
                    run.duration_s, lanes=run.lanes)  # fmt: skip


def _row(name: str, value: object, unit: str = "", target: str = "", ok: bool | None = None) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok}


def _pct(hits: int, total: int) -> float:
    return 100.0 * hits / total if total else 0.0


def bench_rows(reader: PlateReader, naive_ms_per_frame: Callable[[Path], float]) -> list[dict]:
    """Exact match per country and row count over all the benchmark's runs (and per run), the
    confidently wrong share over every scored truck, and the plate stage's CPU against the naive
    reader (`naive_ms_per_frame(video)`: its CPU per whole frame, sampled on that video)."""
    total = PlateScore()
    rows: list[dict] = []
    frames = reads = 0
    plate_s = analysis_s = read_s = 0.0
    naive_s = 0.0
    naive_frame_ms: float | None = None  # every run's gate camera has the same resolution: sample once
    for run in bench_runs():
        world = world_for(run)
        edge = run_edge(world, reader=reader)
        result = score(world, edge)
        total = total.merged(result)
        right, n = result.exact()
        rows.append(_row(f"sim exact, {run.name} (n={n})", _pct(right, n), "%", "report"))
        frames += edge.frames
        reads += edge.reads
        read_s += edge.plate_cpu_s
        plate_s += edge.plate_cpu_s + edge.plate_hook_cpu_s
        analysis_s += edge.analysis_cpu_s
        if naive_frame_ms is None:
            naive_frame_ms = naive_ms_per_frame(world / "lane-1-gate.mp4")
        naive_s += naive_frame_ms / 1000 * edge.frames
    groups = [(f"sim {c} exact", {"country": c}) for c in ("VN", "CN")]
    groups += [(f"sim {n}-row exact", {"rows": n}) for n in (1, 2)]
    for label, which in groups:
        right, n = total.exact(**which)  # type: ignore[arg-type]
        value = _pct(right, n)
        rows.append(_row(f"{label}, all runs (n={n})", value, "%", "≥ 95", value >= 95))
    wrong, n = total.wrong()
    value = _pct(wrong, n)
    rows.append(_row(f"sim trucks with a confidently wrong plate (n={n})", value, "%", "≤ 1", value <= 1))
    misses = [f"{t.truth[0]}→{t.read}" for t in total.trucks if t.read != t.truth[0]]
    if misses:
        rows.append(_row("sim misses (truth→read)", ", ".join(misses[:8]) + (" …" if len(misses) > 8 else "")))
    missed = f"{total.missed_exits} / {total.unmatched_exits}"
    rows.append(_row("sim exits missed / unmatched by the lane logic", missed))
    trucks = max(1, len(total.trucks))
    rows.append(_row("sim ms CPU per plate read", 1000 * read_s / max(1, reads), "ms"))
    rows.append(_row("sim reads per truck", reads / trucks, "reads"))
    rows.append(_row("sim plate stage share of the edge's analysis CPU", 100 * plate_s / (analysis_s + plate_s), "%"))
    ratio = naive_s / plate_s if plate_s else 0.0
    rows.append(_row("sim naive CPU (whole frame, every frame) ÷ plate stage", ratio, "×", "≥ 10", ratio >= 10))
    return rows
