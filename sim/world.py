"""The whole simulated gate: lanes, their cameras and geometry, arrivals numbered across lanes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from sim.camera import Camera
from sim.layout import GATE, QUEUE, REAR, gate_geometry, queue_geometry, rear_geometry
from sim.options import GenerateOptions, format_utc
from sim.scenarios import SCENARIOS
from sim.traffic import LaneSim
from sim.weighing import Reading

ROLES = ("queue", "gate")  # every run's cameras; `--rear-camera` adds "rear"


def lane_id(index: int) -> str:
    return f"lane-{index + 1}"


def direction(index: int) -> str:
    return "export" if index % 2 == 0 else "import"


def camera_id(lane: str, role: str) -> str:
    return f"{lane}-{role}"


class World:
    """Every lane is built alike and gets its own random streams, so lane 1 is the same whatever --lanes says."""

    def __init__(self, opts: GenerateOptions) -> None:
        self.opts = opts
        self.scenario = SCENARIOS[opts.scenario]
        self.cameras = {
            "queue": Camera(QUEUE.mount, *opts.frame_size("queue")),
            "gate": Camera(GATE.mount, *opts.frame_size("gate")),
        }
        self.geometry: dict[str, dict[str, Any]] = {
            "queue": queue_geometry(self.cameras["queue"]),
            "gate": gate_geometry(self.cameras["gate"]),
        }
        self.roles: tuple[str, ...] = ROLES
        if opts.rear_camera:
            self.cameras["rear"] = Camera(REAR.mount, *opts.frame_size("rear"))
            self.geometry["rear"] = rear_geometry(self.cameras["rear"])
            self.roles = (*ROLES, "rear")
        per_lane = []
        for i in range(opts.lanes):
            rng = np.random.default_rng(np.random.SeedSequence([opts.seed, i, 0]))
            convoy_rng = np.random.default_rng(np.random.SeedSequence([opts.seed, i, 3]))
            per_lane.append(self.scenario.arrivals(rng, convoy_rng, opts.n_frames / opts.fps))
        order = sorted((t, i) for i, times in enumerate(per_lane) for t in times)
        named: list[list[tuple[str, float]]] = [[] for _ in range(opts.lanes)]
        for n, (t, i) in enumerate(order, start=1):
            named[i].append((f"T{n:04d}", t))
        self.lanes = [
            LaneSim(
                i, lane_id(i), direction(i), opts.seed, self.scenario, opts.fps, self.cameras, self.geometry, named[i],
                opts.weighbridge,
            )
            for i in range(opts.lanes)
        ]

    def step(self, frame: int) -> dict[str, list[Reading]]:
        return {lane.lane_id: lane.step(frame) for lane in self.lanes}

    def utc_at(self, seconds: float) -> str:
        return format_utc(self.opts.start_utc + timedelta(seconds=seconds))

    def description(self, streams: dict[str, dict[str, str]]) -> dict[str, Any]:
        """The world.json document."""
        o = self.opts
        lanes = []
        for lane in self.lanes:
            cams = []
            for role in self.roles:
                cid = camera_id(lane.lane_id, role)
                cam = self.cameras[role]
                cams.append(
                    {
                        "id": cid,
                        "role": role,
                        "video": f"{cid}.mp4",
                        "width": cam.width,
                        "height": cam.height,
                        "geometry": self.geometry[role],
                    }
                )
            lanes.append(
                {
                    "id": lane.lane_id,
                    "direction": lane.direction,
                    "cameras": cams,
                    "weighbridge": {
                        "timeline": f"{lane.lane_id}-weighbridge.csv",
                        "streams": streams.get(lane.lane_id, {}),
                    }
                    if o.weighbridge
                    else None,
                }
            )
        return {
            "seed": o.seed,
            "scenario": o.scenario,
            "duration_s": o.n_frames / o.fps,
            "fps": o.fps,
            "width": o.width,
            "height": o.height,
            "start_utc": format_utc(o.start_utc),
            "lanes": lanes,
        }
