"""Why the queue camera's entries are off: each entry more than 2 frames from the truth, missed or false, classed.

Replays the lane logic's recorded inputs (`models/lane_oracle.py` records them once per world) through `LaneCamera`
alone, twice: as recorded, and with the truth's bottoms for every box matched to a truth truck (IoU >= 0.5). Each
truth entry is paired with a crossing as `bench.vision_eval` pairs them (nearest in time, Hungarian, 30 s), and
each one more than 2 frames off is put in the first class that fits, by the truth trucks under the crossing's
track from 1.6 s before its timed crossing to 3.2 s after (the crossing is reported once the steadied anchor is
past the line, up to 16 frames on):

* id swap / handover: at least a quarter of those boxes lie on another truck,
* ghost / second box: at least a fifth lie on no truck (a box over two trucks, a cab or trailer found alone),
* late first detection: the truck was first detected less than 1.6 s before its truth crossing,
* track restart / rejoin: the track began less than 2.4 s before the crossing,
* bottom: the track is on its truck throughout; the box bottom is off.

Each row also says whether the truth's bottoms bring that entry within 2 frames (then the cause is box-level,
whatever the class):

    PYTHONPATH=. python models/entry_errors.py var/bench/vision/busy-3{1,2,3,4}

Tuning seeds only (31-34).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.vision_eval import MATCH_WINDOW_S, camera_config  # noqa: E402 - after the path set-up above
from bench.vision_replay import _camera  # noqa: E402
from edge.lane import Crossing, LaneCamera  # noqa: E402
from models.anchor_error import iou_matrix  # noqa: E402
from models.lane_oracle import CAMERA, record, truth_boxes, with_truth_bottoms  # noqa: E402

FPS = 10.0
BEFORE, AFTER = 16, 32  # frames either side of a timed crossing whose boxes tell which truck made it


def labels(rows: list[dict], truth: dict) -> list[list[str | None]]:
    """Per frame and tracked box: the truth truck it lies on (IoU >= 0.5 with the detector's box), else None."""
    out = []
    for index, row in enumerate(rows):
        names, want = truth.get(index, ([], np.zeros((0, 4))))
        ious = iou_matrix(want, row["raw"]) if len(want) and len(row["raw"]) else np.zeros((0, len(row["raw"])))
        out.append([names[int(ious[:, j].argmax())] if len(ious) and ious[:, j].max() >= 0.5 else None
                    for j in range(len(row["raw"]))])
    return out


def replay(world_dir: Path, rows: list[dict]) -> tuple[list[Crossing], list[np.ndarray]]:
    """The entries, and per frame the truck id (what crossings carry) of each tracked box."""
    world, spec = _camera(world_dir, CAMERA)
    config = camera_config(world, spec, world_dir)
    lane = LaneCamera(config.geometry, config.tracking)
    crossings, trucks = [], []
    for row in rows:
        crossings += lane.update(row["xyxy"], row["ids"], row["at"], row["confidence"])
        trucks.append(lane.truck_ids(row["ids"]))
    return [c for c in crossings + lane.flush() if c.kind == "enter"], trucks


def paired(world_dir: Path, crossings: list[Crossing]) -> tuple[list[tuple[str, int]], dict[int, int], datetime]:
    """The truth's entries (truck, frame) and, by index, the crossing each is paired with."""
    world = json.loads((world_dir / "world.json").read_text())
    start = datetime.fromisoformat(world["start_utc"].replace("Z", "+00:00"))
    truth = [json.loads(t) for t in (world_dir / "truth.jsonl").read_text().splitlines() if t.strip()]
    wanted = [(t["truck"], t["enter"]["frame"]) for t in truth if t.get("enter")]
    cost = np.array([[abs((c.at.utc - start).total_seconds() - frame / FPS) for c in crossings]
                     for _, frame in wanted]).reshape(len(wanted), len(crossings))
    rows, cols = linear_sum_assignment(np.where(cost <= MATCH_WINDOW_S, cost, 1e6)) if cost.size else ([], [])
    return wanted, {r: c for r, c in zip(rows, cols, strict=True) if cost[r, c] <= MATCH_WINDOW_S}, start


def classify(world_dir: Path) -> list[tuple[str, str, float | None, bool]]:
    """(truck, class, error in frames, whether the truth's bottoms bring it within 2 frames) per entry off."""
    rows, truth = record(world_dir), truth_boxes(world_dir)
    names = labels(rows, truth)
    crossings, trucks = replay(world_dir, rows)
    wanted, pairs, start = paired(world_dir, crossings)
    oracle, _ = replay(world_dir, with_truth_bottoms(rows, truth, "all"))
    _, oracle_pairs, _ = paired(world_dir, oracle)
    carried: dict[int, dict[int, str | None]] = {}
    first: dict[str, int] = {}
    for index, (ids, lab) in enumerate(zip(trucks, names, strict=True)):
        for truck, name in zip(ids.tolist(), lab, strict=True):
            carried.setdefault(truck, {})[index] = name
            if name is not None:
                first.setdefault(name, index)
    out: list[tuple[str, str, float | None, bool]] = []
    for r, (name, frame) in enumerate(wanted):
        fixed = r in oracle_pairs and abs((oracle[oracle_pairs[r]].at.utc - start).total_seconds() * FPS - frame) <= 2
        if r not in pairs:
            out.append((name, "missed", None, fixed))
            continue
        crossing = crossings[pairs[r]]
        at = round((crossing.at.utc - start).total_seconds() * FPS)
        error = at - frame + ((crossing.at.utc - start).total_seconds() * FPS - at)
        if abs(error) <= 2:
            continue
        track = carried.get(crossing.track_id, {})
        window = [track[f] for f in range(at - BEFORE, at + AFTER + 1) if f in track]
        votes, n = Counter(window), max(1, len(window))
        if sum(v for k, v in votes.items() if k not in (name, None)) >= 0.25 * n:
            kind = "id swap / handover"
        elif votes.get(None, 0) >= 0.2 * n:
            kind = "ghost / second box"
        elif first.get(name, frame) > frame - BEFORE:
            kind = "late first detection"
        elif track and at - min(track) < 24:
            kind = "track restart / rejoin"
        else:
            kind = "bottom"
        out.append((name, kind, error, fixed))
    out += [("-", "false", None, False) for i in range(len(crossings)) if i not in pairs.values()]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("worlds", nargs="+", type=Path, help="rendered worlds with cached detections")
    args = parser.parse_args()
    table: Counter[tuple[str, bool]] = Counter()
    for world_dir in args.worlds:
        for name, kind, error, fixed in classify(world_dir):
            table[kind, fixed] += 1
            shown = "" if error is None else f"{error:+.1f} frames"
            print(f"{world_dir.name} {name} {kind} {shown}{' (truth bottoms: within 2)' if fixed else ''}")
    print("class | entries | of which within 2 frames with the truth's bottoms")
    for kind in sorted({k for k, _ in table}, key=lambda k: -(table[k, True] + table[k, False])):
        print(f"{kind} | {table[kind, True] + table[kind, False]} | {table[kind, True]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
