"""The still part of each camera's view, rendered once: road, markings, deck, roadside, lamps.

The ground is drawn per pixel by casting each pixel's ray onto the road plane, so markings,
texture and lamp light land in true perspective. Upright things (booth, poles, barrier post,
signal, fence, trees) are drawn over it far to near. Moving parts (barrier arm, signal lamp) are
drawn each frame by `draw_props`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from sim.camera import Camera, project_polygon
from sim.layout import GATE, LANE_HALF_WIDTH, QUEUE
from sim.look import Look

ASPHALT = 88.0
SHOULDER = 128.0
_POLE_STEP = 26.0
SIGNAL_POST: tuple[tuple[tuple[float, ...], tuple[int, int, int]], ...] = (
    ((2.55, 2.65, 0.0, 3.2, GATE.gate_d, GATE.gate_d + 0.1), (60, 60, 60)),  # pole
    ((2.45, 2.75, 3.2, 4.0, GATE.gate_d - 0.05, GATE.gate_d + 0.2), (30, 30, 30)),  # head
)


def _ground_xd(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Road-plane X and D for every pixel, and whether the ray hits the road at all."""
    h, w = camera.height, camera.width
    u = (np.arange(w, dtype=np.float32) + 0.5 - camera.cx) / camera.fpx
    v = (np.arange(h, dtype=np.float32) + 0.5 - camera.cy) / camera.fpx
    uu, vv = np.meshgrid(u, v)
    r = camera.rotation.astype(np.float32)
    # world direction = R^T @ (u, v, 1)
    dx = r[0, 0] * uu + r[1, 0] * vv + r[2, 0]
    dy = r[0, 1] * uu + r[1, 1] * vv + r[2, 1]
    dz = r[0, 2] * uu + r[1, 2] * vv + r[2, 2]
    hits = dy < -1e-4
    t = np.where(hits, -camera.mount.height_m / np.where(hits, dy, -1.0), 1e4)
    if camera.looks_back:
        return float(camera.centre[0]) + t * dx, float(camera.centre[2]) + t * dz, hits
    return (camera.mount.lateral_m + t * dx), t * dz, hits


def _noise_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    coarse = cv2.resize(
        rng.normal(0, 1, (size // 16, size // 16)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
    )
    mid = cv2.resize(
        rng.normal(0, 1, (size // 4, size // 4)).astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR
    )
    fine = rng.normal(0, 1, (size, size)).astype(np.float32)
    return coarse * 0.5 + mid * 0.35 + fine * 0.25


def _stripe(x: np.ndarray, centre: float, half: float) -> np.ndarray:
    return np.abs(x - centre) <= half


def _ground(camera: Camera, role: str, look: Look, rng: np.random.Generator) -> np.ndarray:
    X, D, hits = _ground_xd(camera)
    tex = _noise_texture(rng)
    tx = np.mod(X / 0.08, tex.shape[1]).astype(np.float32)
    ty = np.mod(D / 0.08, tex.shape[0]).astype(np.float32)
    noise = cv2.remap(tex, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    ax = np.abs(X)
    grey = np.full(X.shape, ASPHALT, dtype=np.float32)
    shoulder = (X > LANE_HALF_WIDTH) & (X < LANE_HALF_WIDTH + 1.15) | (X < -LANE_HALF_WIDTH) & (
        X > -LANE_HALF_WIDTH - 0.9
    )
    grey[shoulder] = SHOULDER
    kerb = (X >= LANE_HALF_WIDTH + 1.15) & (X < LANE_HALF_WIDTH + 1.35)
    grey[kerb] = 175
    neighbour = (X <= -LANE_HALF_WIDTH - 0.9) & (X > -LANE_HALF_WIDTH - 4.4)
    grey[neighbour] = ASPHALT + 6
    grey += noise * np.where(grey < 100, 9.0, 6.0)
    colour = np.repeat(grey[:, :, None], 3, axis=2)
    grass = (X >= LANE_HALF_WIDTH + 1.35) | (X <= -LANE_HALF_WIDTH - 4.4)
    grass_col = np.stack([40 + noise * 8, 95 + noise * 14, 85 + noise * 10], axis=2)
    colour[grass] = grass_col[grass]
    white = np.zeros(X.shape, dtype=bool)
    for edge in (LANE_HALF_WIDTH, -LANE_HALF_WIDTH):
        white |= _stripe(X, edge, 0.075)
    white |= _stripe(X, -LANE_HALF_WIDTH - 4.4 + 0.2, 0.075) & neighbour
    # The island between the lanes is hatched.
    hatch = (X < -LANE_HALF_WIDTH) & (X > -LANE_HALF_WIDTH - 0.9) & (np.mod(D + X, 3.0) < 0.35)
    white |= hatch
    in_lane = ax <= LANE_HALF_WIDTH
    if role == "queue":
        white |= in_lane & _stripe(D, QUEUE.stop_line_d, 0.2)
        white |= in_lane & _stripe(D, QUEUE.entry_d, 0.12) & (np.mod(X + 10, 1.0) < 0.55)
    else:
        white |= in_lane & _stripe(D, GATE.gate_d, 0.2)
        white |= in_lane & _stripe(D, GATE.exit_d, 0.15)
        deck = (ax <= GATE.deck_half_width) & (D >= GATE.deck_near_d) & (D <= GATE.deck_far_d)
        steel = np.stack([112 + noise * 5, 110 + noise * 5, 102 + noise * 5], axis=2)
        seams = deck & (np.mod(D - GATE.deck_near_d, 3.0) < 0.05)
        colour[deck] = steel[deck]
        colour[seams] = (60, 60, 60)
        for end in (GATE.deck_near_d, GATE.deck_far_d):
            band = (ax <= GATE.deck_half_width) & _stripe(D, end, 0.2)
            yellow = band & (np.mod(X * 2.0, 1.0) < 0.5)
            colour[band] = (20, 20, 20)
            colour[yellow] = (0, 190, 230)
    colour[white] = 0.35 * colour[white] + 0.65 * np.array([225, 228, 228])
    # Haze with distance.
    ahead = D if not camera.looks_back else float(camera.mount.pole_d) - D  # distance down the camera's view
    fog = np.clip((ahead - 60.0) / 250.0, 0, 0.6)[:, :, None]
    colour = (colour * (1 - fog) + np.array([185, 180, 170]) * fog).astype(np.float32)
    colour[~hits] = (200, 185, 170)
    img = look.image(np.clip(colour, 0, 255).astype(np.uint8))
    if look.weather == "rain":
        img = _wet(img, X, D, rng)
    if look.lamps_on:
        img = _lamp_pools(img, X, D, look)
    return img


def _wet(img: np.ndarray, X: np.ndarray, D: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Puddles: darker patches with a hint of sky sheen."""
    tex = _noise_texture(rng, 128)
    puddles = cv2.remap(
        tex,
        np.mod(X / 0.4, 128).astype(np.float32),
        np.mod(D / 0.4, 128).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP,
    )
    mask = np.clip((puddles - 0.4) * 2.0, 0, 1)[:, :, None] * (np.abs(X) < LANE_HALF_WIDTH + 1.1)[:, :, None]
    out = img.astype(np.float32) * (1 - 0.35 * mask) + 30 * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def _lamp_positions() -> list[float]:
    return [24.0 + _POLE_STEP * k for k in range(7)]


def _lamp_pools(img: np.ndarray, X: np.ndarray, D: np.ndarray, look: Look) -> np.ndarray:
    light = np.zeros(X.shape, dtype=np.float32)
    for pd in _lamp_positions():
        r2 = (X - 1.2) ** 2 + (D - pd) ** 2
        light += 1.0 / (1.0 + r2 / 30.0)
    strength = 120.0 if look.light == "night" else 55.0
    pool = (light * strength)[:, :, None] * np.array([0.55, 0.8, 1.0], dtype=np.float32)  # sodium-ish, BGR
    return np.clip(img.astype(np.float32) + pool, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- upright things
def _cuboid_faces(x0: float, x1: float, y0: float, y1: float, d0: float, d1: float) -> list[tuple[np.ndarray, float]]:
    """Faces (world polygon, shade) visible from a camera that looks towards +D from the -D side."""
    return [
        (np.array([[x0, y1, d1], [x1, y1, d1], [x1, y1, d0], [x0, y1, d0]]), 1.1),  # top
        (np.array([[x0, y1, d1], [x0, y1, d0], [x0, y0, d0], [x0, y0, d1]]), 0.75),  # left side
        (np.array([[x1, y1, d0], [x1, y1, d1], [x1, y0, d1], [x1, y0, d0]]), 0.8),  # right side
        (np.array([[x0, y1, d0], [x1, y1, d0], [x1, y0, d0], [x0, y0, d0]]), 0.95),  # front
    ]


def fill_world_polygon(img: np.ndarray, camera: Camera, poly: np.ndarray, colour: tuple[int, int, int]) -> None:
    pts = project_polygon(camera, poly)
    if len(pts) >= 3:
        cv2.fillConvexPoly(img, np.round(pts * 16).astype(np.int32), colour, lineType=cv2.LINE_AA, shift=4)


def facing(camera: Camera, poly: np.ndarray) -> bool:
    """Whether a face is seen from its front (counter-clockwise in the image after projection)."""
    pts = project_polygon(camera, poly)
    if len(pts) < 3:
        return False
    area = 0.0
    for i in range(len(pts)):
        x1, y1 = pts[i]
        x2, y2 = pts[(i + 1) % len(pts)]
        area += x1 * y2 - x2 * y1
    return area > 0


def draw_box(
    img: np.ndarray, camera: Camera, look: Look, bounds: tuple[float, ...], colour: tuple[int, int, int]
) -> None:
    faces = _cuboid_faces(*bounds)
    if camera.looks_back:
        x0, x1, y0, y1, _, d1 = bounds
        faces.append((np.array([[x1, y1, d1], [x0, y1, d1], [x0, y0, d1], [x1, y0, d1]]), 0.9))  # back
    for poly, shade in faces:
        if facing(camera, poly):
            fill_world_polygon(img, camera, poly, look.colour(tuple(int(min(255, c * shade)) for c in colour)))  # type: ignore[arg-type]


def _upright(img: np.ndarray, camera: Camera, role: str, look: Look, rng: np.random.Generator) -> None:
    items: list[tuple[float, tuple[float, ...], tuple[int, int, int]]] = []  # (distance, bounds, colour)
    crowns: list[tuple[float, float, float, float]] = []  # tree crowns: x, height, distance, radius
    for pd in _lamp_positions():
        items.append((pd, (3.3, 3.45, 0.0, 8.0, pd, pd + 0.15), (150, 150, 150)))
        items.append((pd, (1.6, 3.45, 7.8, 8.0, pd, pd + 0.3), (120, 120, 120)))
    for fd in np.arange(2.0, 160.0, 3.0):
        items.append((fd, (8.0, 8.08, 0.0, 1.8, fd, fd + 0.08), (110, 115, 110)))
        items.append((fd, (-10.5, -10.42, 0.0, 1.8, fd, fd + 0.08), (110, 115, 110)))
    for td in np.arange(6.0, 170.0, 9.0):
        x = float(rng.uniform(11.0, 16.0))
        hgt = float(rng.uniform(4.0, 8.0))
        items.append((td + 1.2, (x + 1.1, x + 1.4, 0.0, hgt - 1.5, td + 1.1, td + 1.4), (40, 60, 80)))
        crowns.append((x + 1.25, hgt - 1.2, td + 1.0, float(rng.uniform(1.3, 2.0))))
    if role == "queue":
        items.append((12.5, (-4.4, -3.0, 0.0, 2.5, 12.5, 14.5), (200, 205, 210)))  # check-in booth
    else:
        items.append((10.0, (-5.4, -3.9, 0.0, 2.5, 10.0, 12.5), (200, 205, 210)))  # inspection booth
        items.append(
            (GATE.exit_d, (-2.65, -2.3, 0.0, 1.1, GATE.exit_d, GATE.exit_d + 0.35), (40, 40, 200))
        )  # barrier post
        if not camera.looks_back:  # the rear camera stands close behind the signal: drawn over trucks, per frame
            items.extend((GATE.gate_d, bounds, colour) for bounds, colour in SIGNAL_POST)
    for _, bounds, colour in sorted(items, key=lambda it: -camera.distance_along(it[0])):
        draw_box(img, camera, look, bounds, colour)
    for x, y, d, r in sorted(crowns, key=lambda c: -camera.distance_along(c[2])):
        _crown(img, camera, look, x, y, d, r)
    if camera.looks_back:
        return  # the booth's window and the lamps' undersides face the other way
    booth = (-4.4, -3.0, 12.5) if role == "queue" else (-5.4, -3.9, 10.0)
    window = np.array(
        [
            [booth[0] + 0.2, 2.1, booth[2] - 0.01],
            [booth[1] - 0.2, 2.1, booth[2] - 0.01],
            [booth[1] - 0.2, 1.2, booth[2] - 0.01],
            [booth[0] + 0.2, 1.2, booth[2] - 0.01],
        ]
    )
    fill_world_polygon(img, camera, window, (120, 200, 235) if look.lamps_on else look.colour((90, 80, 70)))
    if look.lamps_on:
        for pd in _lamp_positions():
            fill_world_polygon(
                img,
                camera,
                np.array([[1.7, 7.79, pd], [2.3, 7.79, pd], [2.3, 7.79, pd + 0.3], [1.7, 7.79, pd + 0.3]]),
                (200, 240, 255),
            )


def draw_signal_post(img: np.ndarray, camera: Camera, look: Look) -> None:
    """The gate signal's pole and head (the lamp is a prop)."""
    for bounds, colour in SIGNAL_POST:
        draw_box(img, camera, look, bounds, colour)


def _crown(img: np.ndarray, camera: Camera, look: Look, x: float, y: float, d: float, r: float) -> None:
    """A tree crown: a shaded disc, darker on the underside."""
    cam = camera.to_camera(np.array([[x, y, d]]))
    if cam[0, 2] < 1.0:
        return
    cx, cy = camera.image_of(cam)[0]
    rad = camera.fpx * r / cam[0, 2]
    if rad < 1 or not (-rad < cx < camera.width + rad and -rad < cy < camera.height + rad):
        return
    centre = (int(round(cx * 16)), int(round(cy * 16)))
    cv2.circle(img, centre, int(rad * 16), look.colour((35, 85, 45)), -1, cv2.LINE_AA, shift=4)
    top = (int(round((cx - rad * 0.2) * 16)), int(round((cy - rad * 0.25) * 16)))
    cv2.circle(img, top, int(rad * 0.7 * 16), look.colour((50, 120, 65)), -1, cv2.LINE_AA, shift=4)


def render_background(camera: Camera, role: str, look: Look, rng: np.random.Generator) -> np.ndarray:
    img = _ground(camera, role, look, rng)
    _upright(img, camera, role, look, rng)
    return img


# ---------------------------------------------------------------------- moving props
def draw_props(
    img: np.ndarray, camera: Camera, look: Look, barrier_lift: float, signal_green: bool, signal: bool = True
) -> None:
    """Barrier arm (0 closed .. 1 up) and (`signal`) the gate signal lamp, drawn each frame on the gate view."""
    pivot = np.array([-2.3, 1.0, GATE.exit_d + 0.17])
    angle = math.radians(80.0 * barrier_lift)
    length = 4.6
    tip = pivot + np.array([length * math.cos(angle), length * math.sin(angle), 0.0])
    n = 8
    for i in range(n):
        a = pivot + (tip - pivot) * (i / n)
        b = pivot + (tip - pivot) * ((i + 1) / n)
        colour = (40, 40, 210) if i % 2 == 0 else (235, 235, 235)
        quad = np.array([a + [0, 0.06, 0], b + [0, 0.06, 0], b - [0, 0.06, 0], a - [0, 0.06, 0]])
        fill_world_polygon(img, camera, quad, look.colour(colour))
    if not signal:
        return
    lamp = np.array(
        [
            [2.5, 3.9, GATE.gate_d - 0.06],
            [2.7, 3.9, GATE.gate_d - 0.06],
            [2.7, 3.3, GATE.gate_d - 0.06],
            [2.5, 3.3, GATE.gate_d - 0.06],
        ]
    )
    red_on, green_on = (not signal_green), signal_green
    top, bottom = lamp.copy(), lamp.copy()
    top[2:, 1] = 3.62
    bottom[:2, 1] = 3.58
    fill_world_polygon(img, camera, top, (40, 40, 255) if red_on else look.colour((30, 30, 90)))
    fill_world_polygon(img, camera, bottom, (90, 255, 60) if green_on else look.colour((30, 80, 30)))
