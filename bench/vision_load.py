"""Run N live-paced camera pipelines (no MQTT) pinned to some CPUs, and report what they achieved.

    python -m bench.vision_load --video clip.mp4 --streams 4 --cpus 0,1 --seconds 20 --analysis-fps 10

Prints one JSON object: analysed frames/s per stream, dropped frames, CPU seconds used per wall
second, ms per analysis stage, and peak resident memory. Run as a child process by
bench/bench_vision.py so that the CPU pinning and memory figures belong to the pipelines alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time

import cv2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--cpus", default="0")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--analysis-fps", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--geometry", default="{}", help="the camera's lines and zones (JSON), so that the lane "
                        "logic and the anchor refinement cost what they cost at a site")
    args = parser.parse_args(argv)
    cpus = {int(c) for c in args.cpus.split(",")}
    os.sched_setaffinity(0, cpus)
    cv2.setNumThreads(1)  # one stream per thread: OpenCV's own pool would only contend

    from edge.analysis import CameraAnalysis
    from edge.config import CameraConfig, YoloOnnxDetectorConfig
    from edge.detect import detector_factory
    from edge.sources import FrameSource

    make = detector_factory(YoloOnnxDetectorConfig(threads=args.threads))
    stop = threading.Event()
    pipelines = []
    for i in range(args.streams):
        camera = CameraConfig.model_validate({
            "id": f"cam{i}", "analysis_fps": args.analysis_fps, "geometry": json.loads(args.geometry),
            "source": {"type": "file", "path": args.video, "realtime": True, "loop": True}})
        pipelines.append((FrameSource(camera, stop), CameraAnalysis(camera, make())))

    counts = [0] * args.streams

    def run(i: int) -> None:
        source, analysis = pipelines[i]
        for frame in source.frames():
            analysis.process(frame)
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(args.streams)]
    for (source, _), thread in zip(pipelines, threads, strict=True):
        source.start()
        thread.start()
    time.sleep(3.0)  # warm-up: caches, first frames, the tracker's first tracks
    start_counts, start_cpu, start_wall = list(counts), time.process_time(), time.monotonic()
    start_dropped = [s.dropped for s, _ in pipelines]
    time.sleep(args.seconds)
    wall = time.monotonic() - start_wall
    cpu = time.process_time() - start_cpu
    done = [c - s for c, s in zip(counts, start_counts, strict=True)]
    dropped = [s.dropped - d for (s, _), d in zip(pipelines, start_dropped, strict=True)]
    stop.set()
    for (source, _), thread in zip(pipelines, threads, strict=True):  # OpenCV and onnxruntime must be idle before exit
        source.join(timeout=10)
        thread.join(timeout=10)
    stages: dict[str, float] = {}
    for _, analysis in pipelines:
        for k, v in analysis.clock.ms_per_frame().items():
            stages[k] = stages.get(k, 0.0) + v / len(pipelines)
    print(json.dumps({
        "streams": args.streams, "cpus": sorted(cpus), "wall_s": round(wall, 1),
        "analysed_fps": [round(d / wall, 2) for d in done], "dropped": dropped,
        "cpu_per_s": round(cpu / wall, 3), "ms_per_stage": {k: round(v, 2) for k, v in stages.items()},
        "peak_rss_mb": round(_peak_rss_kb() / 1024, 1),
    }))
    return 0


def _peak_rss_kb() -> int:
    """This process's own peak: Linux carries ru_maxrss over exec from the parent that forked it (after the
    plates bench, `make bench`'s 1.4 GB showed up here), while VmHWM belongs to this program's memory alone."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    sys.exit(main())
