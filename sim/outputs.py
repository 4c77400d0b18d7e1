"""Writers for everything `generate` leaves in the output directory (see docs/simulator.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from sim.labels import yolo_lines
from sim.traffic import EVENT_NAMES, Truck
from sim.weighing import Reading
from sim.world import World

QUEUE_COLUMNS = ["lane", "second", "utc", "queue_len", "occupancy_queue_zone"]
WEIGHBRIDGE_COLUMNS = ["t_s", "utc", "weight_kg", "motion", "truck"]


class VideoOpenFailed(RuntimeError):
    """OpenCV could not open a video file for writing."""


def event_json(world: World, frame: int | None) -> dict[str, Any] | None:
    if frame is None:
        return None
    seconds = frame / world.opts.fps
    return {"video_s": round(seconds, 3), "frame": frame, "utc": world.utc_at(seconds)}


def truck_json(world: World, tr: Truck) -> dict[str, Any]:
    spec = tr.spec
    doc: dict[str, Any] = {
        "truck": tr.id,
        "lane": tr.lane,
        "kind": spec.kind,
        "colour": spec.colour,
        "plates": [
            {
                "text": p.text,
                "printed": p.printed,
                "country": p.country,
                "rows": p.rows,
                "role": p.role,
                "visible": i == 0,
            }
            for i, p in enumerate(spec.plates)
        ],
        "weight_kg": spec.weight_kg,
    }
    for name in EVENT_NAMES:
        doc[name] = event_json(world, tr.events.get(name))
    return doc


def write_truth(world: World, path: Path) -> int:
    trucks = sorted((tr for lane in world.lanes for tr in lane.trucks), key=lambda tr: (len(tr.id), tr.id))
    with path.open("w", encoding="utf-8") as f:
        for tr in trucks:
            f.write(json.dumps(truck_json(world, tr), ensure_ascii=False) + "\n")
    return len(trucks)


class QueueCsv:
    def __init__(self, path: Path) -> None:
        self._file = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(QUEUE_COLUMNS)

    def write(self, world: World, second: int) -> None:
        utc = world.utc_at(second)
        for lane in world.lanes:
            self._csv.writerow([lane.lane_id, second, utc, lane.queue_len, lane.queue_zone_occupancy()])

    def close(self) -> None:
        self._file.close()


class WeighbridgeCsv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(WEIGHBRIDGE_COLUMNS)

    def write(self, world: World, readings: list[Reading]) -> None:
        for r in readings:
            self._csv.writerow([f"{r.t_s:.1f}", world.utc_at(r.t_s), r.weight_kg, r.motion, r.truck])

    def close(self) -> None:
        self._file.close()


def read_weighbridge_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [
            {
                "t_s": float(r["t_s"]),
                "utc": r["utc"],
                "weight_kg": int(r["weight_kg"]),
                "motion": int(r["motion"]),
                "truck": r["truck"],
            }
            for r in csv.DictReader(f)
        ]


class CameraOutput:
    """One camera's video, object truth and (optionally) training images and YOLO labels."""

    def __init__(self, out: Path, camera_id: str, world: World, label_every: int) -> None:
        o = world.opts
        self.camera_id = camera_id
        self.world = world
        self.label_every = label_every
        path = out / f"{camera_id}.mp4"
        self.video = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), o.fps, (o.width, o.height))
        if not self.video.isOpened():
            raise VideoOpenFailed(
                f"cannot open {path} for writing with fourcc mp4v at {o.width}x{o.height} {o.fps} fps"
            )
        (out / "objects").mkdir(exist_ok=True)
        self.objects: IO[str] = (out / "objects" / f"{camera_id}.jsonl").open("w", encoding="utf-8")
        self.images_dir = out / "images" / camera_id
        self.labels_dir = out / "labels" / camera_id
        if label_every:
            self.images_dir.mkdir(parents=True, exist_ok=True)
            self.labels_dir.mkdir(parents=True, exist_ok=True)

    def wants_objects(self, frame: int) -> bool:
        return self.label_every == 0 or frame % self.label_every == 0

    def write(self, frame: int, img: np.ndarray, objects: list[dict[str, Any]] | None) -> None:
        self.video.write(img)
        if objects is None:
            return
        line = {"frame": frame, "video_s": round(frame / self.world.opts.fps, 3), "objects": objects}
        self.objects.write(json.dumps(line) + "\n")
        if self.label_every:
            name = f"{frame:06d}"
            cv2.imwrite(str(self.images_dir / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            lines = yolo_lines(objects, img.shape[1], img.shape[0])
            (self.labels_dir / f"{name}.txt").write_text("".join(ln + "\n" for ln in lines))

    def close(self) -> None:
        self.video.release()
        self.objects.close()
