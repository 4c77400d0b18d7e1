"""Writers for everything `generate` leaves in the output directory (see docs/simulator.md)."""

from __future__ import annotations

import csv
import json
import queue
import threading
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from sim.fleet import TruckSpec, rear_plate
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


def plate_json(spec: TruckSpec, index: int, rear_camera: bool) -> dict[str, Any]:
    """One registration of a truck; with the rear camera, which views show it and how the rear one is printed."""
    p = spec.plates[index]
    doc: dict[str, Any] = {
        "text": p.text,
        "printed": p.printed,
        "country": p.country,
        "rows": p.rows,
        "role": p.role,
        "visible": index == 0 or rear_camera,
    }
    if rear_camera:
        front = index == 0
        on_back = index == len(spec.plates) - 1  # a rigid truck's own number, or a tractor's trailer plate
        doc["views"] = [v for v, shown in (("front", front), ("rear", on_back)) if shown]
        if on_back:
            back = rear_plate(spec)
            doc["rear_printed"], doc["rear_rows"] = back.printed, back.rows
    return doc


def truck_json(world: World, tr: Truck) -> dict[str, Any]:
    spec = tr.spec
    rear = world.opts.rear_camera
    doc: dict[str, Any] = {
        "truck": tr.id,
        "lane": tr.lane,
        "kind": spec.kind,
        "colour": spec.colour,
        "plates": [plate_json(spec, i, rear) for i in range(len(spec.plates))],
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


class VideoEncoder:
    """An mp4v file fed from a small bounded queue by its own thread, so encoding overlaps rendering.

    OpenCV releases the GIL while it encodes, so on a machine with spare cores the cameras' encoders
    run beside the renderer; the bounded queue keeps memory flat when encoding is the slower side.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise VideoOpenFailed(f"cannot open {path} for writing with fourcc mp4v at {size[0]}x{size[1]} {fps} fps")
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"encode-{path.stem}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            img = self._queue.get()
            if img is None:
                break
            try:
                self._writer.write(img)
            except BaseException as exc:  # reported by the next write() or close()
                self._error = exc
        self._writer.release()

    def write(self, img: np.ndarray) -> None:
        if self._error is not None:
            raise RuntimeError(f"encoding {self.path} failed: {self._error}") from self._error
        self._queue.put(img.copy())  # the renderer reuses its buffer for the next frame

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"encoding {self.path} failed: {self._error}") from self._error


class CameraOutput:
    """One camera's video, object truth and (optionally) training images and YOLO labels."""

    def __init__(
        self, out: Path, camera_id: str, world: World, label_every: int, size: tuple[int, int] | None = None
    ) -> None:
        o = world.opts
        self.camera_id = camera_id
        self.world = world
        self.label_every = label_every
        self.video = VideoEncoder(out / f"{camera_id}.mp4", o.fps, size or (o.width, o.height))
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
        try:
            self.video.close()
        finally:
            self.objects.close()
