"""A simulated day from the simulator itself (`lanewatch-sim generate --no-video`), read back as ground truth.

`truth.jsonl` gives every truck's plates and its enter, gate, weigh and exit times; `queue.csv` the
true queue (entered, not through the gate) and the trucks inside the queue camera's zone, per
second; `world.json` the lanes and their directions.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from truthgen import Truck, queue_per_second, read_sim

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SimLane:
    direction: str
    trucks: list[Truck]
    in_lane: list[int]  # per second: entered and not exited (from truth.jsonl)
    waiting: list[int]  # per second: entered and not through the gate (queue.csv `queue_len`)
    occupancy: list[int]  # per second: trucks in the queue camera's zone (queue.csv)


@dataclass
class SimDay:
    start: float  # UTC epoch seconds of frame 0
    seconds: int
    lanes: dict[str, SimLane]


def simulate(out: Path, seed: int, duration_s: int, lanes: int = 2, scenario: str = "busy",
             fps: float = 2.0) -> SimDay:
    """Run the simulator's command line (truth and queue only: no video, no weighbridge) and read what it wrote."""
    subprocess.run([sys.executable, "-m", "sim.cli", "generate", "--seed", str(seed), "--duration", str(duration_s),
                    "--lanes", str(lanes), "--scenario", scenario, "--no-video", "--no-weighbridge", "--fps", str(fps),
                    "--quiet", "--out", str(out)], cwd=ROOT, check=True)
    return read(out)


def read(out: Path) -> SimDay:
    world = json.loads((out / "world.json").read_text())
    start = datetime.fromisoformat(world["start_utc"]).timestamp()
    seconds = int(world["duration_s"])
    trucks = read_sim(out)
    queues: dict[str, tuple[list[int], list[int]]] = {}
    with open(out / "queue.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            waiting, occupancy = queues.setdefault(row["lane"], ([], []))
            waiting.append(int(row["queue_len"]))
            occupancy.append(int(row["occupancy_queue_zone"]))
    day = SimDay(start, seconds, {})
    for lane in world["lanes"]:
        lane_id = lane["id"]
        waiting, occupancy = queues[lane_id]
        in_lane = [n for _, n, _ in queue_per_second(trucks.get(lane_id, []), start, seconds - 1)]
        day.lanes[lane_id] = SimLane(lane["direction"], trucks.get(lane_id, []), in_lane, waiting, occupancy)
    return day
