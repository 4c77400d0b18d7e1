"""A truck as drawing primitives for one camera: all its points in one array, polygons as indices.

Built once per truck and camera with colours already graded for the light, so a frame costs one
projection of every point and a run of polygon fills. Points are in truck-local coordinates with
the front bumper at D = 0; the renderer adds the truck's distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.fleet import CAB_COLOURS, TruckSpec
from sim.look import Look
from sim.truck_geometry import Cuboid, back_quad, body, cab
from sim.truck_sprite import headlight_boxes

_SHADES = {"front": 0.92, "top": 1.08, "left": 0.72, "right": 0.8}
WHEEL = (18, 18, 18)
HUB = (90, 90, 90)


@dataclass
class Primitive:
    kind: str  # "poly" (filled, cull=True drops it when seen from behind) or "line"
    index: np.ndarray
    colour: tuple[int, int, int]
    cull: bool = False


@dataclass
class TruckModel:
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    prims: list[Primitive] = field(default_factory=list)
    front: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # cab front TL, TR, BR, BL
    front_colour: tuple[int, int, int] = (0, 0, 0)
    headlights: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    beam: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # left, right, near, far on the road
    back: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # back TL, TR, BR, BL seen from behind
    back_colour: tuple[int, int, int] = (0, 0, 0)
    _pts: list[list[float]] = field(default_factory=list)

    def add_points(self, pts: list[list[float]] | np.ndarray) -> np.ndarray:
        start = len(self._pts)
        self._pts.extend([list(map(float, p)) for p in pts])
        return np.arange(start, len(self._pts), dtype=np.intp)

    def poly(self, pts: list[list[float]] | np.ndarray, colour: tuple[int, int, int], cull: bool = False) -> None:
        self.prims.append(Primitive("poly", self.add_points(pts), colour, cull))

    def line(self, a: list[float], b: list[float], colour: tuple[int, int, int]) -> None:
        self.prims.append(Primitive("line", self.add_points([a, b]), colour))

    def done(self) -> TruckModel:
        self.points = np.array(self._pts, dtype=np.float64)
        return self


def _shade(colour: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return (int(min(255, colour[0] * k)), int(min(255, colour[1] * k)), int(min(255, colour[2] * k)))


def _cuboid(model: TruckModel, c: Cuboid, colour: tuple[int, int, int], look: Look, skip_front: bool) -> None:
    for name, poly in c.faces().items():
        if skip_front and name == "front":
            continue
        model.poly(poly, look.colour(_shade(colour, _SHADES[name])), cull=True)


def visible_side(spec: TruckSpec, camera_x: float) -> float | None:
    """X of the truck side the camera sees, or None when the camera is right above the truck."""
    x0 = spec.lateral_m - spec.shape.width / 2
    x1 = spec.lateral_m + spec.shape.width / 2
    if camera_x > x1:
        return x1
    if camera_x < x0:
        return x0
    return None


def _wheels(model: TruckModel, spec: TruckSpec, side: float, start: float, until: float, look: Look) -> None:
    out = 0.02 if side > spec.lateral_m else -0.02
    x = side + out
    for pos in spec.shape.axles:
        if start <= pos < until:
            model.poly(
                [[x, 1.0, pos - 0.5], [x, 1.0, pos + 0.5], [x, 0.0, pos + 0.5], [x, 0.0, pos - 0.5]], look.colour(WHEEL)
            )
            model.poly(
                [[x, 0.65, pos - 0.2], [x, 0.65, pos + 0.2], [x, 0.35, pos + 0.2], [x, 0.35, pos - 0.2]],
                look.colour(HUB),
            )


def build_model(spec: TruckSpec, look: Look, camera_x: float, from_behind: bool = False) -> TruckModel:
    """The truck for a camera at world X `camera_x`; `from_behind` for a camera looking at its back."""
    if from_behind:
        return _build_rear_model(spec, look, camera_x)
    m = TruckModel()
    bd, cb = body(spec, 0.0), cab(spec, 0.0)
    side = visible_side(spec, camera_x)
    _cuboid(m, bd, spec.body_colour, look, skip_front=False)
    dark = look.colour(_shade(spec.body_colour, 0.55))
    if side is not None:
        if spec.kind == "tractor_container":
            step = 0.9
            for k in range(int((bd.d1 - bd.d0) / step)):
                dd = bd.d0 + step * (k + 0.5)
                m.line([side, bd.y0 + 0.1, dd], [side, bd.y1 - 0.1, dd], dark)
        elif spec.kind == "rigid_tarp":
            for y in (bd.y0 + 0.7, bd.y0 + 1.6):
                m.line([side, y, bd.d0], [side, y, bd.d1], dark)
        elif spec.kind != "tractor_reefer":
            m.poly(
                [
                    [side, bd.y0 + 0.5, bd.d1],
                    [side, bd.y0 + 0.5, bd.d0],
                    [side, bd.y0 + 0.2, bd.d0],
                    [side, bd.y0 + 0.2, bd.d1],
                ],
                dark,
            )
    if spec.kind == "tractor_reefer":
        unit = Cuboid(spec.lateral_m - 0.7, spec.lateral_m + 0.7, bd.y1 - 1.5, bd.y1 - 0.3, bd.d0 - 0.45, bd.d0)
        _cuboid(m, unit, (150, 150, 150), look, skip_front=False)
    if side is not None:
        _wheels(m, spec, side, spec.shape.body_start, 1e9, look)
    paint = CAB_COLOURS[spec.colour]
    _cuboid(m, cb, paint, look, skip_front=True)
    if side is not None:
        out = 0.01 if side > spec.lateral_m else -0.01
        x, y0, y1 = side + out, cb.y1 - 1.15, cb.y1 - 0.25
        m.poly(
            [[x, y1, cb.d0 + 0.25], [x, y1, cb.d1 - 0.35], [x, y0, cb.d1 - 0.35], [x, y0, cb.d0 + 0.25]],
            look.colour((70, 62, 55)),
        )
        _wheels(m, spec, side, 0.0, spec.shape.cab_length, look)
    m.front = m.add_points(cb.faces()["front"])
    m.front_colour = look.colour(paint)
    left = spec.lateral_m - spec.shape.width / 2
    m.headlights = m.add_points([[left + (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, -0.02] for b in headlight_boxes(spec)])
    x = spec.lateral_m
    m.beam = m.add_points([[x - 2.2, 0.0, -5.0], [x + 2.2, 0.0, -5.0], [x, 0.0, -0.5], [x, 0.0, -10.0]])
    return m.done()


def _build_rear_model(spec: TruckSpec, look: Look, camera_x: float) -> TruckModel:
    """Seen from behind the cab is farthest, so it goes first; the back itself is a sprite (`back`)."""
    m = TruckModel()
    bd, cb = body(spec, 0.0), cab(spec, 0.0)
    side = visible_side(spec, camera_x)
    paint = CAB_COLOURS[spec.colour]
    _cuboid(m, cb, paint, look, skip_front=True)
    if side is not None:
        _wheels(m, spec, side, 0.0, spec.shape.cab_length, look)
    _cuboid(m, bd, spec.body_colour, look, skip_front=False)
    if side is not None:
        dark = look.colour(_shade(spec.body_colour, 0.55))
        if spec.kind == "tractor_container":
            step = 0.9
            for k in range(int((bd.d1 - bd.d0) / step)):
                dd = bd.d0 + step * (k + 0.5)
                m.line([side, bd.y0 + 0.1, dd], [side, bd.y1 - 0.1, dd], dark)
        elif spec.kind == "rigid_tarp":
            for y in (bd.y0 + 0.7, bd.y0 + 1.6):
                m.line([side, y, bd.d0], [side, y, bd.d1], dark)
        _wheels(m, spec, side, spec.shape.body_start, 1e9, look)
    m.back = m.add_points(back_quad(spec, 0.0))
    m.back_colour = look.colour(_shade(spec.body_colour, 0.92))
    return m.done()
