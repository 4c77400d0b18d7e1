"""Per-frame object truth: truck boxes, plate boxes, how much of each is visible; YOLO label lines.

Occlusion is measured with boxes: a truck is hidden where the boxes of trucks nearer the camera
cover its box. Boxes overstate a truck's silhouette a little (the corners of a projected cuboid),
so visible fractions are slightly pessimistic for trucks behind another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.camera import NEAR_Z, Camera
from sim.fleet import rear_plate
from sim.layout import GATE
from sim.plate_image import plate_size_m
from sim.scene import SIGNAL_POST
from sim.traffic import Seen
from sim.truck_geometry import Box, Cuboid, cuboids_box, plate_quad, rear_plate_quad

PLATE_MIN_VISIBLE = 0.6  # a plate less visible than this gets no box
TRUCK_LABEL_MIN_VISIBLE = 0.25  # trucks hidden more than this are left out of YOLO labels


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def uncovered_area(target: Box, covers: list[Box]) -> float:
    """Exact area of `target` not covered by the union of `covers` (coordinate compression)."""
    clipped = []
    for c in covers:
        x1, y1 = max(c[0], target[0]), max(c[1], target[1])
        x2, y2 = min(c[2], target[2]), min(c[3], target[3])
        if x2 > x1 and y2 > y1:
            clipped.append((x1, y1, x2, y2))
    if not clipped:
        return area(target)
    xs = sorted({target[0], target[2], *(c[0] for c in clipped), *(c[2] for c in clipped)})
    ys = sorted({target[1], target[3], *(c[1] for c in clipped), *(c[3] for c in clipped)})
    covered = 0.0
    for i in range(len(xs) - 1):
        cx = (xs[i] + xs[i + 1]) / 2
        for j in range(len(ys) - 1):
            cy = (ys[j] + ys[j + 1]) / 2
            if any(c[0] <= cx <= c[2] and c[1] <= cy <= c[3] for c in clipped):
                covered += (xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j])
    return area(target) - covered


def _clip(b: Box, camera: Camera) -> Box | None:
    x1, y1 = max(b[0], 0.0), max(b[1], 0.0)
    x2, y2 = min(b[2], float(camera.width)), min(b[3], float(camera.height))
    return (x1, y1, x2, y2) if x2 - x1 >= 1.0 and y2 - y1 >= 1.0 else None


def _plate_box(camera: Camera, s: Seen, covers: list[Box]) -> Box | None:
    spec = s.truck.spec
    if camera.looks_back:
        w, h = plate_size_m(rear_plate(spec))
        quad = rear_plate_quad(spec, s.truck.d, w, h)
    else:
        w, h = plate_size_m(spec.plates[0])
        quad = plate_quad(spec, s.truck.d, w, h)
    cam = camera.to_camera(quad)
    if (cam[:, 2] < NEAR_Z).any():
        return None
    px = camera.image_of(cam)
    full = (float(px[:, 0].min()), float(px[:, 1].min()), float(px[:, 0].max()), float(px[:, 1].max()))
    clipped = _clip(full, camera)
    if clipped is None or area(full) <= 0:
        return None
    if uncovered_area(clipped, covers) / area(full) < PLATE_MIN_VISIBLE:
        return None
    return clipped


def frame_objects(camera: Camera, seen: list[Seen]) -> list[dict[str, Any]]:
    """Objects of one frame, nearest truck first; the rear camera's plate is the rear plate."""
    out: list[dict[str, Any]] = []
    covers: list[Box] = []
    back = camera.looks_back
    post_added = not back
    for s in sorted(seen, key=(lambda s: -s.truck.d) if back else (lambda s: s.truck.d)):
        if not post_added and s.truck.d < GATE.gate_d:
            # The rear camera stands close behind the gate signal: its post hides what lies past the gate line.
            covers.extend(signal_post_boxes(camera))
            post_added = True
        full_area = area(s.full_box)
        visible = uncovered_area(s.box, covers) / full_area if full_area > 0 else 0.0
        plate = _plate_box(camera, s, covers)
        out.append(
            {
                "truck": s.truck.id,
                "box": _r(s.box),
                "plate_box": _r(plate) if plate else None,
                "plate_text": rear_plate(s.truck.spec).text if back else s.truck.spec.plates[0].text,
                "visible_fraction": round(min(1.0, max(0.0, visible)), 3),
            }
        )
        covers.append(s.box)
    return out


def signal_post_boxes(camera: Camera) -> list[Box]:
    """Image boxes (clipped to the frame) of the gate signal's pole and head."""
    out = []
    for bounds, _ in SIGNAL_POST:
        x0, x1, y0, y1, d0, d1 = bounds
        box, _ = cuboids_box(camera, [Cuboid(x0, x1, y0, y1, d0, d1)])
        if box is not None:
            out.append(box)
    return out


def _r(b: Box) -> list[float]:
    return [round(float(v), 1) for v in b]


def yolo_lines(objects: list[dict[str, Any]], width: int, height: int) -> list[str]:
    """class 0 truck, 1 plate; normalised centre x, centre y, width, height."""
    lines = []
    for obj in objects:
        if obj["visible_fraction"] >= TRUCK_LABEL_MIN_VISIBLE:
            lines.append(_yolo(0, obj["box"], width, height))
        if obj["plate_box"] is not None:
            lines.append(_yolo(1, obj["plate_box"], width, height))
    return lines


def _yolo(cls: int, b: list[float], width: int, height: int) -> str:
    cx, cy = (b[0] + b[2]) / 2 / width, (b[1] + b[3]) / 2 / height
    w, h = (b[2] - b[0]) / width, (b[3] - b[1]) / height
    return f"{cls} {np.clip(cx, 0, 1):.6f} {np.clip(cy, 0, 1):.6f} {np.clip(w, 0, 1):.6f} {np.clip(h, 0, 1):.6f}"
