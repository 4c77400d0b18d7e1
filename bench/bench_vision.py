"""Edge vision: speed on 1920×1080 25 fps streams, and accuracy against the simulator's truth.

Speed: a simulated 1080p 25 fps gate camera video, with its lines, is replayed at its own pace (as a live camera) and
analysed at 10 frames/s; one stream pinned to one CPU, then four streams pinned to two CPUs
(bench/vision_load.py, in a child process). Decode is timed apart, in this process.
Accuracy: busy simulated lanes on seeds never used for training, scored as tests/test_vision_accuracy.py
does but over more trucks.

The machine is shared: wall-clock ms include waiting for a CPU; `cpu per s` is what the pipelines used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2

from bench.vision_eval import END_GUARD_S, ROOT, Score, analyse_camera, score, simulate

CACHE = ROOT / "var" / "bench" / "vision"
SPEED_SEED = 90
ACCURACY_SEEDS = (21, 22)
ACCURACY_DURATION_S = 600


def _row(name: str, value: float, unit: str, target: str = "", ok: bool | None = None) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok}


def decode_ms(video: Path, analysis_every: float = 2.5) -> tuple[float, float]:
    """ms per frame to demux+decode (grab) every frame, and to convert the analysed ones to BGR (retrieve)."""
    cv2.setNumThreads(1)
    cap = cv2.VideoCapture(str(video))
    grab_s = retrieve_s = 0.0
    frames = retrieved = 0
    next_due = 0.0
    while True:
        t0 = time.perf_counter()
        if not cap.grab():
            break
        grab_s += time.perf_counter() - t0
        if frames >= next_due:
            t0 = time.perf_counter()
            cap.retrieve()
            retrieve_s += time.perf_counter() - t0
            retrieved += 1
            next_due += analysis_every
        frames += 1
    cap.release()
    return 1000 * grab_s / max(1, frames), 1000 * retrieve_s / max(1, retrieved)


def load(video: Path, geometry: dict, streams: int, cpus: str, seconds: float = 20.0) -> dict:
    cmd = [sys.executable, "-m", "bench.vision_load", "--video", str(video), "--geometry", json.dumps(geometry),
           "--streams", str(streams), "--cpus", cpus, "--seconds", str(seconds)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed_rows() -> list[dict]:
    world = simulate(CACHE / f"hd-{SPEED_SEED}", SPEED_SEED, 30, width=1920, height=1080, fps=25)
    # The gate camera: its lines span most of the frame, so the anchor refinement's road model is the largest.
    camera = next(c for c in json.loads((world / "world.json").read_text())["lanes"][0]["cameras"]
                  if c["role"] == "gate")
    video = world / camera["video"]
    grab_ms, retrieve_ms = decode_ms(video)
    one = load(video, camera["geometry"], 1, "0")
    four = load(video, camera["geometry"], 4, "0,1")
    rows = [
        _row("decode 1080p (grab, every frame)", grab_ms, "ms/frame"),
        _row("to BGR (retrieve, analysed frames)", retrieve_ms, "ms/frame"),
        _row("1 stream on 1 CPU: analysed", one["analysed_fps"][0], "frames/s", ">= 10", one["analysed_fps"][0] >= 9.5),
        _row("1 stream on 1 CPU: CPU used", one["cpu_per_s"], "cores", "<= 1", one["cpu_per_s"] <= 1.0),
        _row("1 stream: detect (wall)", one["ms_per_stage"]["detect"], "ms/frame"),
        _row("1 stream: track (wall)", one["ms_per_stage"]["track"], "ms/frame"),
        _row("1 stream: zones (wall)", one["ms_per_stage"]["zones"], "ms/frame"),
        _row("1 stream: anchor refinement (wall)", one["ms_per_stage"]["refine"], "ms/frame"),
        _row("1 stream: peak resident memory", one["peak_rss_mb"], "MB"),
        _row("4 streams on 2 CPUs: slowest analysed", min(four["analysed_fps"]), "frames/s", ">= 10",
             min(four["analysed_fps"]) >= 9.5),
        _row("4 streams on 2 CPUs: frames dropped", sum(four["dropped"]), "frames", "", None),
        _row("4 streams on 2 CPUs: CPU used", four["cpu_per_s"], "cores", "<= 2", four["cpu_per_s"] <= 2.0),
        _row("4 streams: detect (wall)", four["ms_per_stage"]["detect"], "ms/frame"),
        _row("4 streams: peak resident memory", four["peak_rss_mb"], "MB"),
    ]
    return rows


def accuracy_rows() -> list[dict]:
    total = Score()
    for seed in ACCURACY_SEEDS:
        world = simulate(CACHE / f"busy-{seed}", seed, ACCURACY_DURATION_S)
        for camera in ("lane-1-queue", "lane-1-gate"):
            total.add(score(world, analyse_camera(world, camera)))
    errs = sorted(total.timing_errors_frames)
    return [
        _row(f"truth events (seeds {', '.join(map(str, ACCURACY_SEEDS))}, {ACCURACY_DURATION_S} s busy)",
             total.truth_events, "events"),
        _row("events found (recall)", 100 * total.recall, "%", ">= 99", total.recall >= 0.99),
        _row("false events", 100 * total.false_rate, "%", "<= 1", total.false_rate <= 0.01),
        _row("events within 2 frames of truth", 100 * total.on_time, "%", ">= 95", total.on_time >= 0.95),
        _row("… of crossings made in view (truck >= 25% visible)", 100 * total.on_time_visible, "%", ">= 95",
             total.on_time_visible >= 0.95),
        *(_row(f"… {kind} events within 2 frames", 100 * total.on_time_of(kind), "%", ">= 95",
               total.on_time_of(kind) >= 0.95) for kind in ("enter", "gate", "exit")),
        _row("median timing error", errs[len(errs) // 2] if errs else 0.0, "frames"),
        _row("95th percentile timing error", errs[int(0.95 * (len(errs) - 1))] if errs else 0.0, "frames"),
        _row("trucks with two ids on one camera", total.split_ids, "trucks", "0", total.split_ids == 0),
        _row(f"unmatched crossings in a video's last {END_GUARD_S:g} s (not scored)", len(total.at_end), "events"),
        _row("queue-zone occupancy equal to truth", 100 * total.occupancy_agreement, "% of seconds", ">= 95",
             total.occupancy_agreement >= 0.95),
    ]


def run() -> list[dict]:
    return speed_rows() + accuracy_rows()
