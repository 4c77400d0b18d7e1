"""Simulator speed and memory: frames per second on one core, and peak memory against duration.

Each measurement runs in a child process pinned to one CPU with OpenCV limited to one thread.
Rendering is timed on a busy lane over 100 s of video after the first trucks have reached both
cameras (about six trucks in the queue view and three in the gate view), over both of the lane's
cameras, including building each new truck's sprites; the `+encode` rows add the mp4v encoder.
The rear plate camera (`--rear-camera`) is timed on its own at 1920x1080, its plate-reading size.
Memory is the child's peak RSS for a short and a four-times-longer `generate`; the difference
should be close to nothing because frames and rows are streamed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_S = 150.0  # the first truck crosses the gate after about two minutes of a busy lane


def _measure(
    width: int, height: int, frames: int, encode: bool, light: str = "day", weather: str = "clear", role: str = ""
) -> float:
    """Camera-frames rendered (and encoded) per second; runs inside the pinned child.

    `role` "rear": only the rear plate camera (`--rear-camera`), with a truck on the deck most of the time.
    """
    import cv2

    from sim.generate import build_renderers
    from sim.options import GenerateOptions
    from sim.world import World

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        opts = GenerateOptions(
            light=light,  # type: ignore[arg-type]
            weather=weather,  # type: ignore[arg-type]
            seed=7,
            duration_s=WARM_UP_S + frames / 10 + 1,
            out=Path(tmp),
            width=width,
            height=height,
            scenario="busy",
            rear_camera=role == "rear",
        )
        world = World(opts)
        renderers = {k: r for k, r in build_renderers(world).items() if not role or k[1] == role}
        writers = {}
        if encode:
            for key in renderers:
                path = str(Path(tmp) / f"{key[0]}-{key[1]}.mp4")
                writers[key] = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*"mp4v"), opts.fps, (width, height))
        start = int(WARM_UP_S * opts.fps)
        for frame in range(start):
            world.step(frame)
        lane = world.lanes[0]
        spent = 0.0
        for frame in range(start, start + frames):
            world.step(frame)
            t0 = time.perf_counter()
            for key, r in renderers.items():
                img = r.render(frame, lane)
                if encode:
                    writers[key].write(img)
            spent += time.perf_counter() - t0
        for w in writers.values():
            w.release()
    return frames * len(renderers) / spent


def _child(args: list[Any]) -> Any:
    code = (
        "import json, os, sys\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from bench.bench_sim import _measure\n"
        f"print(json.dumps(_measure(*{args!r})))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_rss_mb(duration_s: int, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "sim.cli", "generate", "--seed", "7", "--scenario", "busy", "--quiet"]
    cmd += ["--duration", str(duration_s), "--width", "640", "--height", "360", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return usage.ru_maxrss / 1024.0


def _row(name: str, value: float, unit: str, target: str, ok: bool | None) -> dict[str, Any]:
    return {"name": name, "value": round(value, 1), "unit": unit, "target": target, "ok": ok}


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (w, h), frames, target in (((640, 360), 1000, 100.0), ((1920, 1080), 1000, 25.0)):
        fps = _child([w, h, frames, False])
        rows.append(_row(f"sim render {w}x{h}, 1 core", fps, "frames/s", f">= {target:g}", fps >= target))
        fps = _child([w, h, frames, False, "night", "rain"])
        rows.append(_row(f"sim render {w}x{h} night+rain, 1 core", fps, "frames/s", f">= {target:g}", fps >= target))
        fps = _child([w, h, frames, True])
        rows.append(_row(f"sim render+encode {w}x{h}, 1 core", fps, "frames/s", "report", None))
    fps = _child([1920, 1080, 1000, False, "day", "clear", "rear"])
    rows.append(_row("sim render rear camera 1920x1080, 1 core", fps, "frames/s", ">= 25", fps >= 25.0))
    with tempfile.TemporaryDirectory() as tmp:
        short = _peak_rss_mb(60, Path(tmp) / "short")
        long = _peak_rss_mb(240, Path(tmp) / "long")
    rows.append(_row("sim peak RSS, 60 s generate 640x360", short, "MB", "report", None))
    rows.append(_row("sim peak RSS growth 60 s -> 240 s", long - short, "MB", "< 30", long - short < 30))
    return rows


if __name__ == "__main__":
    for row in run():
        verdict = "" if row["ok"] is None else ("ok" if row["ok"] else "FAIL")
        print(f"{row['name']:<42} {row['value']:>9} {row['unit']:<9} {row['target']:<8} {verdict}")
