"""Draws one camera's frame: the pre-rendered background, trucks far to near, props, lamps and effects.

Trucks are flat-shaded cuboids (body, cab) whose visible faces are filled as polygons; the cab's
front face is the truck's sprite warped onto its projected quad, so the plate lands exactly where
the truth says it is. Painter's order (far first) gives the natural occlusion of a truck by the
one in front of it.
"""

from __future__ import annotations

import cv2
import numpy as np

from sim.camera import NEAR_Z, Camera, project_polygon
from sim.effects import Effects
from sim.layout import GATE
from sim.look import Look
from sim.scene import draw_props, draw_signal_post
from sim.traffic import LaneSim, Seen, Truck
from sim.truck_model import TruckModel, build_model
from sim.truck_sprite import BackSprite, CabSprite, MipSprite

Lamp = tuple[float, float, float, float]  # x, y, radius x, radius y


class CameraRenderer:
    def __init__(
        self,
        camera: Camera,
        role: str,
        look: Look,
        background: np.ndarray,
        effects: Effects,
        jpeg_quality: int,
        motion_blur: bool,
    ) -> None:
        self.camera = camera
        self.role = role
        self.look = look
        self.background = background
        self.effects = effects
        self.jpeg_quality = jpeg_quality
        self.motion_blur = motion_blur
        # Sprites are drawn sharp enough for the nearest distance a cab front (or a back, for the rear
        # camera) is fully in view.
        self.sprite_ppm = min(420.0, camera.fpx / (9.0 if role == "queue" else 6.0))
        self.sprites: dict[str, MipSprite] = {}
        self.models: dict[str, TruckModel] = {}
        self.last_bottom: dict[str, tuple[int, float]] = {}  # truck -> (frame, bottom edge of its cab front)
        self.buffer = np.empty_like(background)

    def render(self, frame: int, lane: LaneSim) -> np.ndarray:
        """The frame for the lane's current state; the returned array is reused by the next call."""
        img = self.buffer
        np.copyto(img, self.background)
        back = self.camera.looks_back
        # Far first: towards the camera facing the oncoming trucks D falls, towards the rear camera it grows.
        seen = sorted(lane.seen[self.role], key=(lambda s: s.truck.d) if back else (lambda s: -s.truck.d))
        blooms: list[Lamp] = []
        props_drawn = self.role == "queue"
        post_drawn = not back  # the rear camera is close behind the signal post: it hides trucks past the gate
        for s in seen:
            if not props_drawn and (s.truck.d >= GATE.exit_d if back else s.truck.d < GATE.exit_d + 0.2):
                self._props(img, lane)
                props_drawn = True
            if not post_drawn and s.truck.d >= GATE.gate_d:
                draw_signal_post(img, self.camera, self.look)
                post_drawn = True
            self._truck(img, frame, s, blooms)
        if not props_drawn:
            self._props(img, lane)
        if not post_drawn:
            draw_signal_post(img, self.camera, self.look)
        for x, y, rx, ry in blooms:
            self.effects.headlight(img, x, y, rx, ry)
        self.effects.apply(img, frame)
        ids = {s.truck.id for s in seen}
        for gone in [k for k in self.sprites if k not in ids]:
            del self.sprites[gone]
        for gone in [k for k in self.models if k not in ids]:
            del self.models[gone]
            self.last_bottom.pop(gone, None)
        if self.jpeg_quality:
            ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                np.copyto(img, decoded)
        return img

    def _props(self, img: np.ndarray, lane: LaneSim) -> None:
        # The rear camera sees the signal head from behind: no lamp.
        draw_props(
            img, self.camera, self.look, lane.barrier_lift(lane.t), lane.signal_green, signal=not self.camera.looks_back
        )

    # ------------------------------------------------------------------ one truck
    def _truck(self, img: np.ndarray, frame: int, s: Seen, blooms: list[Lamp]) -> None:
        tr, cam = s.truck, self.camera
        model = self.models.get(tr.id)
        if model is None:
            model = self.models[tr.id] = build_model(tr.spec, self.look, float(cam.centre[0]), cam.looks_back)
        world = model.points.copy()
        world[:, 2] += tr.d
        cpts = cam.to_camera(world)
        if (cpts[:, 2] > NEAR_Z).all():
            self._fast(img, model, cam.image_of(cpts), cpts)
        else:
            self._clipped(img, model, world, cpts)
        if cam.looks_back:
            back_depth = cpts[model.back, 2]
            if (back_depth > 0.6).all():
                self._sprite(img, frame, tr, cam.image_of(cpts[model.back]), float(back_depth.mean()), BackSprite)
            else:
                self._fill(img, project_polygon(cam, world[model.back]), model.back_colour)
            return
        front_depth = cpts[model.front, 2]
        if (front_depth > 0.6).all():
            self._sprite(img, frame, tr, cam.image_of(cpts[model.front]), float(front_depth.mean()), CabSprite)
        else:
            self._fill(img, project_polygon(cam, world[model.front]), model.front_colour)
        if self.look.lamps_on:
            self._lamps(img, model, cpts, blooms)

    def _fast(self, img: np.ndarray, model: TruckModel, px: np.ndarray, cpts: np.ndarray) -> None:
        fixed = np.round(px * 16).astype(np.int32)
        for p in model.prims:
            pts = fixed[p.index]
            if p.kind == "line":
                cv2.line(
                    img,
                    (int(pts[0, 0]), int(pts[0, 1])),
                    (int(pts[1, 0]), int(pts[1, 1])),
                    p.colour,
                    1,
                    cv2.LINE_AA,
                    shift=4,
                )
                continue
            if p.cull and _signed_area(pts) <= 0:
                continue
            cv2.fillConvexPoly(img, pts, p.colour, lineType=cv2.LINE_AA, shift=4)

    def _clipped(self, img: np.ndarray, model: TruckModel, world: np.ndarray, cpts: np.ndarray) -> None:
        """A truck passing the camera: clip every polygon at the near plane (slow, rare)."""
        for p in model.prims:
            if p.kind == "line":
                continue
            pts = project_polygon(self.camera, world[p.index])
            if len(pts) < 3:
                continue
            if p.cull and _signed_area(np.round(pts * 16).astype(np.int32)) <= 0:
                continue
            self._fill(img, pts, p.colour)

    @staticmethod
    def _fill(img: np.ndarray, pts: np.ndarray, colour: tuple[int, int, int]) -> None:
        if len(pts) >= 3:
            cv2.fillConvexPoly(img, np.round(pts * 16).astype(np.int32), colour, lineType=cv2.LINE_AA, shift=4)

    def _sprite(
        self, img: np.ndarray, frame: int, tr: Truck, quad: np.ndarray, depth: float, kind: type[CabSprite | BackSprite]
    ) -> None:
        """Warp the truck's face picture (cab front or back) onto its projected quad."""
        sprite = self.sprites.get(tr.id)
        if sprite is None:
            sprite = self.sprites[tr.id] = kind(tr.spec, self.look, self.sprite_ppm)
        ppm = self.camera.fpx / depth
        bottom = float(quad[2:, 1].mean())
        blur = 0.0
        last = self.last_bottom.get(tr.id)
        if self.motion_blur and tr.v > 0 and last is not None and last[0] == frame - 1:
            blur = abs(bottom - last[1]) * self.look.exposure
        self.last_bottom[tr.id] = (frame, bottom)
        src = sprite.level_for(ppm, blur)
        x0 = max(0, int(np.floor(quad[:, 0].min())))
        y0 = max(0, int(np.floor(quad[:, 1].min())))
        x1 = min(self.camera.width, int(np.ceil(quad[:, 0].max())) + 1)
        y1 = min(self.camera.height, int(np.ceil(quad[:, 1].max())) + 1)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return
        h, w = src.shape[:2]
        src_quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        dst_quad = (quad - np.array([x0, y0])).astype(np.float32)
        m = cv2.getPerspectiveTransform(src_quad, dst_quad)
        roi = img[y0:y1, x0:x1]
        cv2.warpPerspective(
            src, m, (x1 - x0, y1 - y0), dst=roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
        )

    def _lamps(self, img: np.ndarray, model: TruckModel, cpts: np.ndarray, blooms: list[Lamp]) -> None:
        lights = cpts[model.headlights]
        if (lights[:, 2] <= 0.6).any():
            return
        radius = 0.55 * self.camera.fpx / float(lights[:, 2].mean())
        beam = cpts[model.beam]
        if (beam[:, 2] > 0.6).all():
            # The pool the beams throw on the road goes under any truck nearer the camera: draw it now.
            g = self.camera.image_of(beam)
            rx, ry = abs(g[1, 0] - g[0, 0]) / 2, abs(g[2, 1] - g[3, 1]) / 2
            self.effects.headlight(img, float(g[:2, 0].mean()), float((g[2, 1] + g[3, 1]) / 2), rx, ry, beam=True)
        for x, y in self.camera.image_of(lights):
            blooms.append((float(x), float(y), radius, radius))


def _signed_area(pts: np.ndarray) -> float:
    """Twice the signed area in image coordinates: positive when the face is seen from its front."""
    xs, ys = pts[:, 0].tolist(), pts[:, 1].tolist()
    n = len(xs)
    return float(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n)))
