"""Plate reading: exact match per country and per row count, CPU per read and per truck, against
the naive approach (RapidOCR over the whole image, every frame).

Four sources:
- real photos in `../shared/plates-dev/` (manifest.csv with the true text), when the folder is
  there (it is kept outside the repository; `LANEWATCH_PLATES_DEV` may point elsewhere);
- labelled synthetic images like real photo sets (tests/plate_sets.py: 94×24 crops, two-row crops,
  two-row plates squashed to 94×24, whole vehicle photos; seed 3, never used for tuning), with the
  share of accepted reads that are wrong per confidence band;
- synthetic trucks approaching the camera (plates drawn by tests/plate_synth.py), each a track
  whose frames go through `LanePlates` exactly as on the edge: gates, pacing, voting;
- the simulator's `plates` scenario (1080p gate camera; seed 43 and fresh seeds) through the edge's detector,
  tracker, lane logic and plate stage, scored on each exit event's plates (bench/plates_sim.py); and
  the same with each lane's rear plate camera (`--rear-camera`: seeds 44, 103, 104), scored on the
  trailer plates and the roles.

CPU is process time (all threads), so thread counts do not flatter either side.
"""

from __future__ import annotations

import csv
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from edge.plates.lane import LanePlates
from edge.plates.reader import PlateReader, PlateReaderConfig
from lanewatch.plates import normalise

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from plate_sets import SETS, plate_set  # noqa: E402
from plate_synth import LAYOUTS, random_plate, scene  # noqa: E402

T = TypeVar("T")
TRUCKS_PER_LAYOUT = 4
FRAMES_PER_TRUCK = 30  # 3 s at 10 fps while the plate grows from 8 to 60 px high
NAIVE_FRAMES_PER_TRUCK = 2  # the naive reader is slow: sample its cost and accuracy
TWO_ROW = {"vn2", "cn_yellow2"}
SET_SEED, SET_SIZE = 3, 60  # seeds 1 and 2 were used for tuning
CONFIDENCE_BANDS = ((0.5, 0.7), (0.7, 0.9), (0.9, 1.01))


def _dev_folder() -> Path | None:
    candidates = [
        os.environ.get("LANEWATCH_PLATES_DEV"),
        ROOT.parent / "shared" / "plates-dev",
        "/work/shared/plates-dev",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "manifest.csv").is_file():
            return Path(candidate)
    return None


def _cpu(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.process_time()
    value = fn()
    return value, (time.process_time() - started) * 1000


class Naive:
    """RapidOCR over the whole image; its text lines joined top to bottom are the plate."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def lines(self, image: np.ndarray) -> list[str]:
        found, _ = self.engine(image)
        return [normalise(text) for _, text, _ in sorted(found or [], key=lambda item: item[0][0][1])]


def _row(name: str, value: object, unit: str = "", target: str = "", ok: bool | None = None) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok}


def _pct(hits: int, total: int) -> float:
    return 100.0 * hits / total if total else 0.0


def _real_rows(reader: PlateReader, naive: Naive) -> list[dict]:
    folder = _dev_folder()
    if folder is None:
        return [_row("real photos (skipped: plates-dev folder absent)", "")]
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        items = list(csv.DictReader(f))
    ours: dict[str, list[bool]] = defaultdict(list)
    base_joined: dict[str, list[bool]] = defaultdict(list)
    base_any: dict[str, list[bool]] = defaultdict(list)
    cpu_ours: dict[str, list[float]] = defaultdict(list)
    cpu_naive: list[float] = []
    for item in items:
        image = cv2.imread(str(folder / item["file"]))
        if image is None:
            continue
        truth = item["plate_text"]
        country = "VN" if item["set"].startswith("vn") else "CN"
        keys = (country, f"{item['rows']}-row", "all")
        result, ms = _cpu(partial(reader.read_plate, image))
        kind = "crop" if max(image.shape[:2]) <= reader.config.crop_max_side else "photo"
        cpu_ours[kind].append(ms)
        lines, naive_ms = _cpu(partial(naive.lines, image))
        cpu_naive.append(naive_ms)
        for key in keys:
            ours[key].append(result.accepted and result.text == truth)
            base_joined[key].append("".join(lines) == truth)
            base_any[key].append(truth in lines)
    rows = []
    for key in ("VN", "CN", "1-row", "2-row"):
        if not ours[key]:
            rows.append(_row(f"real {key} exact (no such photos in the folder)", ""))
            continue
        n = len(ours[key])
        rows.append(_row(f"real {key} exact, ours (n={n})", _pct(sum(ours[key]), n), "%", "report"))
        rows.append(_row(f"real {key} exact, naive joined text", _pct(sum(base_joined[key]), n), "%", "report"))
        rows.append(_row(f"real {key} exact, naive any one line", _pct(sum(base_any[key]), n), "%", "report"))
    for kind in ("crop", "photo"):
        if cpu_ours[kind]:
            rows.append(_row(f"real {kind}: CPU per read, ours", float(np.mean(cpu_ours[kind])), "ms"))
    ours_all = float(np.mean(cpu_ours["crop"] + cpu_ours["photo"]))
    naive_all = float(np.mean(cpu_naive))
    rows.append(_row("real: CPU per image, naive", naive_all, "ms"))
    rows.append(_row("real: naive CPU ÷ ours (same images)", naive_all / ours_all, "×"))
    return rows


def _set_rows(reader: PlateReader) -> list[dict]:
    """Exact match per set and country, and how often an accepted read is wrong, by confidence."""
    rows = []
    accepted: list[tuple[float, bool]] = []  # (confidence, right) of every accepted read
    for name in SETS:
        hits: dict[str, list[bool]] = defaultdict(list)
        cpu = []
        for item in plate_set(name, SET_SEED, SET_SIZE):
            result, ms = _cpu(partial(reader.read_plate, item.image))
            cpu.append(ms)
            right = result.accepted and result.text == item.text
            hits[item.country].append(right)
            if result.accepted:
                accepted.append((result.confidence, right))
        for country in ("VN", "CN"):
            n = len(hits[country])
            rows.append(_row(f"set {name} {country} exact (n={n})", _pct(sum(hits[country]), n), "%", "report"))
        rows.append(_row(f"set {name}: CPU per read", float(np.mean(cpu)), "ms"))
    for lo, hi in CONFIDENCE_BANDS:
        band = [right for c, right in accepted if lo <= c < hi]
        label = f"sets: accepted reads wrong, confidence {lo:.1f}–{min(hi, 1.0):.1f} (n={len(band)})"
        rows.append(_row(label, _pct(band.count(False), len(band)), "%"))
    wrong = sum(not right for _, right in accepted)
    total = SET_SIZE * len(SETS)
    share = _pct(wrong, total)
    rows.append(_row("sets: images with a confidently wrong read", share, "%", "≤ 1", share <= 1))
    return rows


def _synthetic_rows(reader: PlateReader, naive: Naive) -> list[dict]:
    rng = random.Random(20261201)  # not a seed used for any tuning
    per_track: dict[str, list[bool]] = defaultdict(list)
    wrong = 0
    reads: list[int] = []
    plate_cpu: list[float] = []
    naive_cpu: list[float] = []
    naive_hits: dict[str, list[bool]] = defaultdict(list)
    naive_any: dict[str, list[bool]] = defaultdict(list)
    trucks = 0
    for layout in LAYOUTS:
        country = "VN" if layout.startswith("vn") else "CN"
        rows_key = "2-row" if layout in TWO_ROW else "1-row"
        for _ in range(TRUCKS_PER_LAYOUT):
            trucks += 1
            text = random_plate(layout, rng)
            lane = LanePlates(reader)
            look = rng.randrange(1 << 30)  # one truck, one look: only the distance changes
            sample = set(rng.sample(range(FRAMES_PER_TRUCK // 2, FRAMES_PER_TRUCK), NAIVE_FRAMES_PER_TRUCK))
            cpu = 0.0
            for i in range(FRAMES_PER_TRUCK):
                height = int(8 + 52 * i / (FRAMES_PER_TRUCK - 1)) * (2 if layout in TWO_ROW else 1)
                shot = scene(text, layout, random.Random(look), size=(960, 720), plate_height=height)
                _, ms = _cpu(partial(lane.offer, 1, shot.image, shot.plate_box, now_s=i / 10))
                cpu += ms
                if i in sample:
                    lines, ms = _cpu(partial(naive.lines, shot.image))
                    naive_cpu.append(ms)
                    for key in (country, rows_key):
                        naive_hits[key].append("".join(lines) == text)
                        naive_any[key].append(text in lines)
            plates = lane.finish(1)
            hit = bool(plates) and plates[0].text == text
            wrong += bool(plates) and plates[0].text != text
            for key in (country, rows_key):
                per_track[key].append(hit)
            reads.append(lane.status().attempted)
            plate_cpu.append(cpu)
    rows = []
    for key in ("VN", "CN", "1-row", "2-row"):
        n = len(per_track[key])
        value = _pct(sum(per_track[key]), n)
        rows.append(_row(f"synthetic trucks {key} exact, ours (n={n})", value, "%", "≥ 95", value >= 95))
        m = len(naive_hits[key])
        rows.append(_row(f"synthetic {key} exact, naive joined text per frame", _pct(sum(naive_hits[key]), m), "%"))
        rows.append(_row(f"synthetic {key} exact, naive any one line per frame", _pct(sum(naive_any[key]), m), "%"))
    rows.append(_row("synthetic trucks with a wrong plate", _pct(wrong, trucks), "%", "≤ 1", _pct(wrong, trucks) <= 1))
    rows.append(_row("reads per truck", float(np.mean(reads)), "reads"))
    ours_truck = float(np.mean(plate_cpu))
    naive_truck = float(np.mean(naive_cpu)) * FRAMES_PER_TRUCK
    rows.append(_row("plate CPU per truck, ours (gates + reads)", ours_truck, "ms"))
    rows.append(_row("plate CPU per truck, naive (every frame)", naive_truck, "ms"))
    ratio = naive_truck / ours_truck
    rows.append(_row("naive CPU ÷ ours per truck", ratio, "×", "≥ 10", ratio >= 10))
    # Share of one core while a truck is in view at 10 fps, the edge's analysis rate.
    rows.append(_row("plate stage share of one core, truck in view", 100 * ours_truck / (FRAMES_PER_TRUCK * 100), "%"))
    return rows


def _sim_rows(reader: PlateReader, naive: Naive) -> list[dict]:
    """The simulator's trucks through the edge's own analysis and plate stage (bench/plates_sim.py)."""
    from bench.plates_sim import bench_rows, rear_bench_rows

    def naive_ms_per_frame(video: Path) -> float:
        """RapidOCR over whole frames spread over the run: CPU per frame."""
        capture = cv2.VideoCapture(str(video))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        spent = []
        for index in np.linspace(frames * 0.3, frames * 0.9, 4).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, image = capture.read()
            if ok:
                spent.append(_cpu(partial(naive.lines, image))[1])
        capture.release()
        return float(np.mean(spent)) if spent else float("nan")

    return bench_rows(reader, naive_ms_per_frame) + rear_bench_rows(reader)


def run() -> list[dict]:
    reader = PlateReader(PlateReaderConfig(threads=1))
    naive = Naive()
    return _real_rows(reader, naive) + _set_rows(reader) + _synthetic_rows(reader, naive) + _sim_rows(reader, naive)


if __name__ == "__main__":
    for row in run():
        print(row)
