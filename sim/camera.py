"""A pinhole camera on a pole beside a lane, and the few bits of projective geometry the world needs.

World coordinates are per stretch of road (one for the queue camera, one for the gate): X across
the road (metres, positive to the right of a camera facing the oncoming trucks), Y up from the
road surface, D along the road measured from the foot of the camera's pole towards the oncoming
trucks. Trucks drive towards the camera, so their D decreases.

A camera that looks along the travel direction (the rear plate camera) is described in its own
frame, the same conventions turned half round about the vertical at its pole (its D grows in the
direction the trucks drive); `Camera` folds that turn into its pose, so it takes and projects
points of the shared world like any other camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEAR_Z = 0.5  # metres in front of the lens; anything nearer is clipped away


@dataclass(frozen=True)
class CameraMount:
    """Where a camera hangs and where it looks, independent of the image size."""

    height_m: float
    lateral_m: float
    hfov_deg: float
    aim_distance_m: float  # the lane centre at this distance sits on the vertical image centre line
    bottom_distance_m: float  # the road at this distance touches the bottom image edge
    looks_back: bool = False  # True: looks along the travel direction, at the backs of trucks
    pole_d: float = 0.0  # D of the pole in the shared world (a camera looking back stands up the road)


class Camera:
    """Projects world points (X, Y, D) to pixels of a width x height image."""

    def __init__(self, mount: CameraMount, width: int, height: int) -> None:
        self.mount = mount
        self.width = width
        self.height = height
        self.fpx = (width / 2) / math.tan(math.radians(mount.hfov_deg) / 2)
        self.cx = width / 2
        self.cy = height / 2
        self.centre = np.array([mount.lateral_m, mount.height_m, 0.0])
        self.yaw = math.atan2(-mount.lateral_m, mount.aim_distance_m)
        self.pitch = self._solve_pitch()
        self.rotation = self._rotation(self.yaw, self.pitch)
        if mount.looks_back:
            # Own frame = world turned half round at the pole: (x, y, d) -> (-x, y, pole_d - d). A rotation,
            # not a mirror, so faces keep their winding and culling works unchanged.
            self.rotation = self.rotation @ np.diag([-1.0, 1.0, -1.0])
            self.centre = np.array([-mount.lateral_m, mount.height_m, mount.pole_d])

    @property
    def looks_back(self) -> bool:
        return self.mount.looks_back

    def distance_along(self, d: float) -> float:
        """How far down the road from the pole, in the direction the camera looks, a world D lies."""
        return self.mount.pole_d - d if self.mount.looks_back else d

    @staticmethod
    def _rotation(yaw: float, pitch: float) -> np.ndarray:
        forward = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
        right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
        down = np.cross(right, forward)
        return np.stack([right, down, forward])

    def _solve_pitch(self) -> float:
        # Bisection on the pitch that puts the road point (lane centre, bottom_distance) on the last row.
        target = np.array([[0.0, 0.0, self.mount.bottom_distance_m]])
        lo, hi = 0.0, math.radians(80)
        for _ in range(60):
            mid = (lo + hi) / 2
            self.rotation = self._rotation(self.yaw, mid)
            v = self.project(target)[0, 1]
            if v > self.height:  # point below the frame: tilt down more
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World (N, 3) -> camera coordinates (N, 3): right, down, forward (depth)."""
        return (np.asarray(points, dtype=np.float64) - self.centre) @ self.rotation.T

    def image_of(self, cam_points: np.ndarray) -> np.ndarray:
        """Camera coordinates (N, 3) with depth > 0 -> pixels (N, 2)."""
        z = cam_points[:, 2:3]
        return np.hstack([self.cx + self.fpx * cam_points[:, 0:1] / z, self.cy + self.fpx * cam_points[:, 1:2] / z])

    def project(self, points: np.ndarray) -> np.ndarray:
        """World (N, 3) -> pixels (N, 2); callers make sure the points are in front of the lens."""
        return self.image_of(self.to_camera(points))


def clip_polygon_near(cam_poly: np.ndarray, near: float = NEAR_Z) -> np.ndarray:
    """Sutherland-Hodgman against the plane depth = near; returns the kept part (may be empty)."""
    out: list[np.ndarray] = []
    n = len(cam_poly)
    for i in range(n):
        cur, nxt = cam_poly[i], cam_poly[(i + 1) % n]
        cur_in, nxt_in = cur[2] >= near, nxt[2] >= near
        if cur_in:
            out.append(cur)
        if cur_in != nxt_in:
            t = (near - cur[2]) / (nxt[2] - cur[2])
            out.append(cur + t * (nxt - cur))
    return np.array(out) if out else np.zeros((0, 3))


def project_polygon(camera: Camera, world_poly: np.ndarray) -> np.ndarray:
    """World polygon -> image polygon, clipped at the near plane (possibly empty)."""
    cam = camera.to_camera(world_poly)
    if (cam[:, 2] >= NEAR_Z).all():
        return camera.image_of(cam)
    kept = clip_polygon_near(cam)
    return camera.image_of(kept) if len(kept) >= 3 else np.zeros((0, 2))


def side_of_line(start: tuple[float, float], end: tuple[float, float], p: tuple[float, float]) -> float:
    """cross(end - start, p - start): negative before the line, positive after (lanewatch convention)."""
    return (end[0] - start[0]) * (p[1] - start[1]) - (end[1] - start[1]) * (p[0] - start[0])


def point_in_polygon(poly: list[list[float]], p: tuple[float, float]) -> bool:
    """Even-odd rule; points on an edge count as inside only by chance, which is fine for anchors."""
    inside = False
    x, y = p
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside
