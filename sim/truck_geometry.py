"""A truck as boxes in the world: cab and body cuboids, wheels, plate and headlights, and its image box.

A truck stands at front distance d (the front bumper, on the road) and lateral offset x.
The truth box is the image bounding box of the whole truck, clipped to the frame, occlusion ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.camera import NEAR_Z, Camera
from sim.fleet import TruckSpec

Box = tuple[float, float, float, float]

# Corner order of a cuboid: bottom face (y0) then top face (y1); each face near-left, near-right, far-right, far-left.
_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))


@dataclass(frozen=True)
class Cuboid:
    x0: float
    x1: float
    y0: float
    y1: float
    d0: float  # near face (towards the camera)
    d1: float

    def corners(self) -> np.ndarray:
        x0, x1, y0, y1, d0, d1 = self.x0, self.x1, self.y0, self.y1, self.d0, self.d1
        return np.array(
            [
                [x0, y0, d0],
                [x1, y0, d0],
                [x1, y0, d1],
                [x0, y0, d1],
                [x0, y1, d0],
                [x1, y1, d0],
                [x1, y1, d1],
                [x0, y1, d1],
            ]
        )

    def faces(self) -> dict[str, np.ndarray]:
        """World polygons of the faces a camera in front of the truck may see, with outward normals' names."""
        x0, x1, y0, y1, d0, d1 = self.x0, self.x1, self.y0, self.y1, self.d0, self.d1
        return {
            "front": np.array([[x0, y1, d0], [x1, y1, d0], [x1, y0, d0], [x0, y0, d0]]),
            "top": np.array([[x0, y1, d1], [x1, y1, d1], [x1, y1, d0], [x0, y1, d0]]),
            "left": np.array([[x0, y1, d1], [x0, y1, d0], [x0, y0, d0], [x0, y0, d1]]),
            "right": np.array([[x1, y1, d0], [x1, y1, d1], [x1, y0, d1], [x1, y0, d0]]),
        }


def back_quad(spec: TruckSpec, d: float) -> np.ndarray:
    """The truck's back, road to roof, as seen from behind: top-left, top-right, bottom-right, bottom-left.

    Seen from behind, the image left is the truck's right (+X), hence the order.
    """
    s, x = spec.shape, spec.lateral_m
    dd = d + s.length
    x0, x1 = x - s.width / 2, x + s.width / 2
    return np.array([[x1, s.body_height, dd], [x0, s.body_height, dd], [x0, 0.0, dd], [x1, 0.0, dd]])


def rear_plate_centre(spec: TruckSpec) -> tuple[float, float]:
    """(X, height) of the rear plate's centre: centred on the rear bar, below the load floor."""
    return spec.lateral_m, spec.shape.body_bottom - 0.25


def cab(spec: TruckSpec, d: float) -> Cuboid:
    s, x = spec.shape, spec.lateral_m
    return Cuboid(x - s.width / 2, x + s.width / 2, 0.0, s.cab_height, d, d + s.cab_length)


def body(spec: TruckSpec, d: float) -> Cuboid:
    s, x = spec.shape, spec.lateral_m
    return Cuboid(x - s.width / 2, x + s.width / 2, s.body_bottom, s.body_height, d + s.body_start, d + s.length)


def plate_quad(spec: TruckSpec, d: float, width_m: float, height_m: float) -> np.ndarray:
    """The front plate's corners in the world: top-left, top-right, bottom-right, bottom-left (as seen)."""
    cx = spec.lateral_m + spec.plate_offset_m
    cy = spec.shape.plate_height_m
    dd = d - 0.01  # a hair in front of the bumper
    return np.array(
        [
            [cx - width_m / 2, cy + height_m / 2, dd],
            [cx + width_m / 2, cy + height_m / 2, dd],
            [cx + width_m / 2, cy - height_m / 2, dd],
            [cx - width_m / 2, cy - height_m / 2, dd],
        ]
    )


def rear_plate_quad(spec: TruckSpec, d: float, width_m: float, height_m: float) -> np.ndarray:
    """The rear plate's corners, as seen from behind: top-left, top-right, bottom-right, bottom-left."""
    cx, cy = rear_plate_centre(spec)
    dd = d + spec.shape.length + 0.01  # a hair behind the back
    return np.array(
        [
            [cx + width_m / 2, cy + height_m / 2, dd],
            [cx - width_m / 2, cy + height_m / 2, dd],
            [cx - width_m / 2, cy - height_m / 2, dd],
            [cx + width_m / 2, cy - height_m / 2, dd],
        ]
    )


def _clipped_image_points(camera: Camera, corners: np.ndarray) -> np.ndarray:
    cam = camera.to_camera(corners)
    z = cam[:, 2]
    front = z >= NEAR_Z
    if front.all():
        return camera.image_of(cam)
    pts = [cam[front]]
    for i, j in _EDGES:
        if front[i] != front[j]:
            t = (NEAR_Z - z[i]) / (z[j] - z[i])
            pts.append((cam[i] + t * (cam[j] - cam[i]))[None, :])
    kept = np.vstack(pts)
    return camera.image_of(kept) if len(kept) else np.zeros((0, 2))


def image_box(camera: Camera, spec: TruckSpec, d: float) -> tuple[Box | None, Box | None]:
    """(box clipped to the frame or None when out of view, the unclipped box or None when behind the lens)."""
    parts = [cab(spec, d), body(spec, d)]
    if camera.looks_back:
        # From behind, the rear wheels and bar below the load floor are part of the truck's outline.
        s, x = spec.shape, spec.lateral_m
        rear = d + s.length
        parts.append(Cuboid(x - s.width / 2, x + s.width / 2, 0.0, s.body_bottom, rear - 0.01, rear))
    return cuboids_box(camera, parts)


def cuboids_box(camera: Camera, cuboids: list[Cuboid]) -> tuple[Box | None, Box | None]:
    """(box clipped to the frame or None when out of view, the unclipped box or None) of some cuboids."""
    pts = [_clipped_image_points(camera, c.corners()) for c in cuboids]
    allp = np.vstack([p for p in pts if len(p)]) if any(len(p) for p in pts) else np.zeros((0, 2))
    if not len(allp):
        return None, None
    x1, y1 = float(allp[:, 0].min()), float(allp[:, 1].min())
    x2, y2 = float(allp[:, 0].max()), float(allp[:, 1].max())
    full = (x1, y1, x2, y2)
    cx1, cy1 = max(x1, 0.0), max(y1, 0.0)
    cx2, cy2 = min(x2, float(camera.width)), min(y2, float(camera.height))
    if cx2 - cx1 < 1.0 or cy2 - cy1 < 1.0:
        return None, full
    return (cx1, cy1, cx2, cy2), full


def anchor(box: Box) -> tuple[float, float]:
    """Bottom-centre of a box: where a truck touches the road, the point lines and zones test."""
    return ((box[0] + box[2]) / 2, box[3])
