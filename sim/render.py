"""Draws one camera's frame: the pre-rendered background, trucks far to near, props, lamps and effects.

Trucks are flat-shaded cuboids (body, cab) whose visible faces are filled as polygons; the cab's
front face is the truck's sprite warped onto its projected quad, so the plate lands exactly where
the truth says it is. Painter's order (far first) gives the natural occlusion of a truck by the
one in front of it.
"""

from __future__ import annotations

import cv2
import numpy as np

from sim.camera import Camera, project_polygon
from sim.fleet import CAB_COLOURS, TruckSpec
from sim.layout import GATE
from sim.look import Look
from sim.effects import Effects
from sim.scene import draw_props, facing, fill_world_polygon
from sim.traffic import LaneSim, Seen, Truck
from sim.truck_geometry import Cuboid, body, cab
from sim.truck_sprite import CabSprite, headlight_boxes

WHEEL = (18, 18, 18)
HUB = (90, 90, 90)


class CameraRenderer:
    def __init__(
        self, camera: Camera, role: str, look: Look, background: np.ndarray, effects: Effects, jpeg_quality: int, motion_blur: bool
    ) -> None:
        self.camera = camera
        self.role = role
        self.look = look
        self.background = background
        self.effects = effects
        self.jpeg_quality = jpeg_quality
        self.motion_blur = motion_blur
        # Sprites are drawn sharp enough for the nearest distance a cab front is fully in view.
        self.sprite_ppm = min(420.0, camera.fpx / (6.0 if role == "gate" else 9.0))
        self.sprites: dict[str, CabSprite] = {}
        self.last_bottom: dict[str, float] = {}
        self.buffer = np.empty_like(background)

    def render(self, frame: int, lane: LaneSim) -> np.ndarray:
        img = self.buffer
        np.copyto(img, self.background)
        seen = sorted(lane.seen[self.role], key=lambda s: -s.truck.d)
        lamps: list[tuple[float, float, float, float, bool]] = []
        props_drawn = self.role != "gate"
        for s in seen:
            if not props_drawn and s.truck.d < GATE.exit_d + 0.2:
                self._props(img, lane)
                props_drawn = True
            self._truck(img, s, lamps)
            for x, y, rx, ry, beam in lamps:
                if beam:  # the pool on the road goes under any truck nearer the camera
                    self.effects.headlight(img, x, y, rx, ry, True)
            lamps = [lamp for lamp in lamps if not lamp[4]]
        if not props_drawn:
            self._props(img, lane)
        for x, y, rx, ry, _ in lamps:
            self.effects.headlight(img, x, y, rx, ry)
        self.effects.apply(img, frame)
        ids = {s.truck.id for s in seen}
        for gone in [k for k in self.sprites if k not in ids]:
            del self.sprites[gone]
            self.last_bottom.pop(gone, None)
        if self.jpeg_quality:
            ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if ok:
                cv2.imdecode(data, cv2.IMREAD_COLOR, dst=img)
        return img

    def _props(self, img: np.ndarray, lane: LaneSim) -> None:
        draw_props(img, self.camera, self.look, lane.barrier_lift(lane.t), lane.signal_green)

    # ------------------------------------------------------------------ one truck
    def _truck(self, img: np.ndarray, s: Seen, lamps: list[tuple[float, float, float, float, bool]]) -> None:
        tr, spec, d = s.truck, s.truck.spec, s.truck.d
        cam, look = self.camera, self.look
        bd, cb = body(spec, d), cab(spec, d)
        body_colour = spec.body_colour
        self._faces(img, bd, body_colour, skip_front=False)
        self._body_details(img, spec, bd)
        self._wheels(img, spec, d, spec.shape.body_start)
        self._faces(img, cb, _cab_paint(spec), skip_front=True)
        self._cab_window(img, spec, cb)
        self._wheels(img, spec, d, 0.0, until=spec.shape.cab_length)
        front = cb.faces()["front"]
        cam_pts = cam.to_camera(front)
        if (cam_pts[:, 2] > 0.6).all():
            self._front_sprite(img, tr, cam.image_of(cam_pts), float(cam_pts[:, 2].mean()))
        elif len(project_polygon(cam, front)) >= 3:
            fill_world_polygon(img, cam, front, look.colour(_cab_paint(spec)))
        if look.lamps_on:
            self._headlights(img, spec, d, lamps)

    def _faces(self, img: np.ndarray, cuboid: Cuboid, colour: tuple[int, int, int], skip_front: bool) -> None:
        shades = {"front": 0.92, "top": 1.08, "left": 0.72, "right": 0.8}
        for name, poly in cuboid.faces().items():
            if skip_front and name == "front":
                continue
            if facing(self.camera, poly):
                c = tuple(int(min(255, v * shades[name])) for v in colour)
                fill_world_polygon(img, self.camera, poly, self.look.colour(c))  # type: ignore[arg-type]

    def _visible_side_x(self, spec: TruckSpec) -> float | None:
        x0 = spec.lateral_m - spec.shape.width / 2
        x1 = spec.lateral_m + spec.shape.width / 2
        if self.camera.mount.lateral_m > x1:
            return x1
        if self.camera.mount.lateral_m < x0:
            return x0
        return None

    def _body_details(self, img: np.ndarray, spec: TruckSpec, bd: Cuboid) -> None:
        side = self._visible_side_x(spec)
        if side is None:
            return
        dark = self.look.colour(tuple(int(v * 0.55) for v in spec.body_colour))  # type: ignore[arg-type]
        if spec.kind == "tractor_container":
            step = 0.9
            n = int((bd.d1 - bd.d0) / step)
            pts = np.array([[side, y, bd.d0 + step * (k + 0.5)] for k in range(n) for y in (bd.y0 + 0.1, bd.y1 - 0.1)])
            self._lines(img, pts, dark)
        elif spec.kind == "rigid_tarp":
            pts = np.array([[side, y, dd] for y in (bd.y0 + 0.7, bd.y0 + 1.6) for dd in (bd.d0, bd.d1)])
            self._lines(img, pts, dark)
        elif spec.kind == "tractor_reefer":
            unit = Cuboid(spec.lateral_m - 0.7, spec.lateral_m + 0.7, bd.y1 - 1.5, bd.y1 - 0.3, bd.d0 - 0.45, bd.d0)
            self._faces(img, unit, (150, 150, 150), skip_front=False)
        else:
            band = np.array([[side, bd.y0 + 0.5, bd.d1], [side, bd.y0 + 0.5, bd.d0], [side, bd.y0 + 0.2, bd.d0], [side, bd.y0 + 0.2, bd.d1]])
            fill_world_polygon(img, self.camera, band, dark)

    def _lines(self, img: np.ndarray, pts: np.ndarray, colour: tuple[int, int, int]) -> None:
        cam = self.camera.to_camera(pts)
        if (cam[:, 2] <= 0.6).any():
            return
        px = np.round(self.camera.image_of(cam) * 16).astype(np.int32)
        for a, b in zip(px[0::2], px[1::2]):
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, 1, cv2.LINE_AA, shift=4)

    def _wheels(self, img: np.ndarray, spec: TruckSpec, d: float, start: float, until: float = 1e9) -> None:
        side = self._visible_side_x(spec)
        if side is None:
            return
        out = 0.02 if side > spec.lateral_m else -0.02
        for pos in spec.shape.axles:
            if not start <= pos < until:
                continue
            a = d + pos
            tyre = np.array([[side + out, 1.0, a - 0.5], [side + out, 1.0, a + 0.5], [side + out, 0.0, a + 0.5], [side + out, 0.0, a - 0.5]])
            hub = np.array([[side + out, 0.65, a - 0.2], [side + out, 0.65, a + 0.2], [side + out, 0.35, a + 0.2], [side + out, 0.35, a - 0.2]])
            for poly, colour in ((tyre, WHEEL), (hub, HUB)):
                fill_world_polygon(img, self.camera, poly, self.look.colour(colour))

    def _cab_window(self, img: np.ndarray, spec: TruckSpec, cb: Cuboid) -> None:
        side = self._visible_side_x(spec)
        if side is None:
            return
        out = 0.01 if side > spec.lateral_m else -0.01
        y0, y1 = cb.y1 - 1.15, cb.y1 - 0.25
        win = np.array([[side + out, y1, cb.d0 + 0.25], [side + out, y1, cb.d1 - 0.35], [side + out, y0, cb.d1 - 0.35], [side + out, y0, cb.d0 + 0.25]])
        fill_world_polygon(img, self.camera, win, self.look.colour((70, 62, 55)))

    def _front_sprite(self, img: np.ndarray, tr: Truck, quad: np.ndarray, depth: float) -> None:
        sprite = self.sprites.get(tr.id)
        if sprite is None:
            sprite = self.sprites[tr.id] = CabSprite(tr.spec, self.look, self.sprite_ppm)
        ppm = self.camera.fpx / depth
        bottom = float(quad[2:, 1].mean())
        blur = 0.0
        if self.motion_blur and tr.v > 0 and tr.id in self.last_bottom:
            blur = abs(bottom - self.last_bottom[tr.id]) * self.look.exposure
        self.last_bottom[tr.id] = bottom
        src = sprite.level_for(ppm, blur)
        x0 = max(0, int(np.floor(quad[:, 0].min())))
        y0 = max(0, int(np.floor(quad[:, 1].min())))
        x1 = min(self.camera.width, int(np.ceil(quad[:, 0].max())) + 1)
        y1 = min(self.camera.height, int(np.ceil(quad[:, 1].max())) + 1)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return
        h, w = src.shape[:2]
        src_quad = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst_quad = (quad - np.array([x0, y0])).astype(np.float32)
        m = cv2.getPerspectiveTransform(src_quad, dst_quad)
        roi = img[y0:y1, x0:x1]
        cv2.warpPerspective(src, m, (x1 - x0, y1 - y0), dst=roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)

    def _headlights(self, img: np.ndarray, spec: TruckSpec, d: float, lamps: list[tuple[float, float, float, float, bool]]) -> None:
        left = spec.lateral_m - spec.shape.width / 2
        pts = []
        for hx0, hy0, hx1, hy1 in headlight_boxes(spec):
            pts.append([left + (hx0 + hx1) / 2, (hy0 + hy1) / 2, d - 0.02])
        cam = self.camera.to_camera(np.array(pts))
        if (cam[:, 2] <= 0.6).any():
            return
        px = self.camera.image_of(cam)
        radius = 0.55 * self.camera.fpx / float(cam[:, 2].mean())
        # The beams light the road in front of the truck: a pool from 1 to 9 m ahead.
        ground = np.array([[spec.lateral_m - 2.2, 0.0, d - 5.0], [spec.lateral_m + 2.2, 0.0, d - 5.0], [spec.lateral_m, 0.0, d - 0.5], [spec.lateral_m, 0.0, d - 10.0]])
        gcam = self.camera.to_camera(ground)
        if (gcam[:, 2] > 0.6).all():
            g = self.camera.image_of(gcam)
            rx, ry = abs(g[1, 0] - g[0, 0]) / 2, abs(g[2, 1] - g[3, 1]) / 2
            lamps.append((float(g[:2, 0].mean()), float((g[2, 1] + g[3, 1]) / 2), rx, ry, True))
        for x, y in px:
            lamps.append((float(x), float(y), radius, radius, False))


def _cab_paint(spec: TruckSpec) -> tuple[int, int, int]:
    return CAB_COLOURS[spec.colour]
