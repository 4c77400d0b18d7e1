"""`lanewatch-sim generate`: step the world frame by frame and stream every output to disk.

Nothing grows with the duration except the per-truck truth (a few hundred bytes a truck):
frames go straight to the encoders, rows straight to their files.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.effects import Effects
from sim.labels import frame_objects
from sim.look import make_look
from sim.options import GenerateOptions
from sim.outputs import CameraOutput, QueueCsv, WeighbridgeCsv, read_weighbridge_rows, write_truth
from sim.render import CameraRenderer
from sim.scene import render_background
from sim.world import ROLES, World, camera_id

STREAM_PROTOCOLS = ("yaohua-tf0", "toledo")


@dataclass(frozen=True)
class Summary:
    frames: int
    trucks: int
    seconds: float
    render_s: float
    streams: dict[str, dict[str, str]]


def build_renderers(world: World) -> dict[tuple[str, str], CameraRenderer]:
    """One renderer per camera; each has its own random stream for scenery and noise."""
    o = world.opts
    look = make_look(o.light, o.weather)
    out: dict[tuple[str, str], CameraRenderer] = {}
    for lane in world.lanes:
        for r, role in enumerate(world.roles):
            rng = np.random.default_rng(np.random.SeedSequence([o.seed, lane.index, 10 + r]))
            camera = world.cameras[role]
            if role == "rear":
                # The gate camera's scenery stream: the rear camera sees the same trees and road texture.
                scenery = np.random.default_rng(np.random.SeedSequence([o.seed, lane.index, 10 + ROLES.index("gate")]))
                background = render_background(camera, role, look, scenery)
            else:
                background = render_background(camera, role, look, rng)
            effects = Effects(camera.width, camera.height, look, o.sensor_noise, o.glare, rng)
            out[(lane.lane_id, role)] = CameraRenderer(
                camera, role, look, background, effects, o.jpeg_quality, o.motion_blur
            )
    return out


def _encode_streams(world: World, out: Path) -> dict[str, dict[str, str]]:
    """Indicator byte streams, when the weighbridge encoders are present (sim.weighbridge)."""
    try:
        from sim.weighbridge import encode_stream  # type: ignore[attr-defined]
    except ImportError:
        return {}
    streams: dict[str, dict[str, str]] = {}
    for lane in world.lanes:
        rows = read_weighbridge_rows(out / f"{lane.lane_id}-weighbridge.csv")
        streams[lane.lane_id] = {}
        for k, protocol in enumerate(STREAM_PROTOCOLS):
            # The encoders take a stdlib Random (line noise); seed it from the run's seed.
            rng = random.Random(int(np.random.SeedSequence([world.opts.seed, lane.index, 20 + k]).generate_state(1)[0]))
            name = f"{lane.lane_id}-weighbridge-{protocol}.bin"
            (out / name).write_bytes(encode_stream(rows, protocol, rng))
            streams[lane.lane_id][protocol] = name
    return streams


def generate(opts: GenerateOptions, progress: Callable[[int, int], None] | None = None) -> Summary:
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    world = World(opts)
    renderers = build_renderers(world) if opts.video else {}
    cameras = {
        key: CameraOutput(out, camera_id(*key), world, opts.label_every, opts.frame_size(key[1])) for key in renderers
    }
    queue_csv = QueueCsv(out / "queue.csv")
    scales = (
        {lane.lane_id: WeighbridgeCsv(out / f"{lane.lane_id}-weighbridge.csv") for lane in world.lanes}
        if opts.weighbridge
        else {}
    )
    render_s = 0.0
    second = 0
    try:
        for frame in range(opts.n_frames):
            readings = world.step(frame)
            for lane_id, scale in scales.items():
                scale.write(world, readings[lane_id])
            while round(second * opts.fps) == frame:
                queue_csv.write(world, second)
                second += 1
            for (lane_id, role), renderer in renderers.items():
                lane = next(ln for ln in world.lanes if ln.lane_id == lane_id)
                t0 = time.perf_counter()
                img = renderer.render(frame, lane)
                render_s += time.perf_counter() - t0
                sink = cameras[(lane_id, role)]
                objects = frame_objects(world.cameras[role], lane.seen[role]) if sink.wants_objects(frame) else None
                sink.write(frame, img, objects)
            if progress is not None:
                progress(frame + 1, opts.n_frames)
        for lane in world.lanes:
            if lane.lane_id in scales:
                scales[lane.lane_id].write(world, lane.finish(opts.n_frames / opts.fps))
    finally:
        for sink in cameras.values():
            sink.close()
        queue_csv.close()
        for scale in scales.values():
            scale.close()
    trucks = write_truth(world, out / "truth.jsonl")
    streams = _encode_streams(world, out) if opts.weighbridge else {}
    (out / "world.json").write_text(json.dumps(world.description(streams), indent=2, ensure_ascii=False) + "\n")
    return Summary(opts.n_frames, trucks, time.perf_counter() - started, render_s, streams)
