"""The physical layout of one lane: where the cameras hang and where lines, zones, deck and barrier lie.

All distances are D (metres from the camera pole along the road, trucks drive towards smaller D).
Every lane is built the same way; lanes are separate roads, so a camera sees only its own lane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.camera import Camera, CameraMount

LANE_HALF_WIDTH = 1.75  # a 3.5 m lane
ZONE_MARGIN = 0.6  # zones reach a little past the lane edges so a wandering truck's anchor stays inside
LINE_HALF_LENGTH = LANE_HALF_WIDTH + 0.8


@dataclass(frozen=True)
class QueueLayout:
    """Lane entrance: trucks cross the entry line, stand in the queue zone, check in at the yard booth."""

    # A 12 m mast at the roadside, 10 m off the lane centre: from there the truck crossing the entry
    # line at the queue's tail shows its side and its near front corner past the truck ahead. From a
    # pole over the lane edge (7 m up, 1.5 m off, the first layout) that corner was hidden behind the
    # queue whenever the queue reached the line, so no camera-side fix could time those entries.
    mount: CameraMount = CameraMount(
        height_m=12.0, lateral_m=10.0, hfov_deg=58.0, aim_distance_m=30.0, bottom_distance_m=11.0
    )
    spawn_d: float = 140.0  # arrivals appear here, beyond the top edge of the frame
    entry_d: float = 60.0
    zone_near_d: float = 12.5
    booth_stop_d: float = 14.0  # the first truck's front stops here to check in
    stop_line_d: float = 13.4
    gone_d: float = -3.0  # a truck whose rear passed this is behind the camera, into the yard


@dataclass(frozen=True)
class GateLayout:
    """Control point: wait at the gate line, weigh on the deck, inspection at the barrier, exit."""

    mount: CameraMount = CameraMount(
        height_m=3.0, lateral_m=1.8, hfov_deg=36.0, aim_distance_m=14.0, bottom_distance_m=7.0
    )
    spawn_d: float = 95.0  # trucks from the yard appear here, beyond the top edge of the frame
    gate_d: float = 35.5
    wait_stop_d: float = 37.0
    deck_near_d: float = 15.0
    deck_far_d: float = 33.0
    deck_half_width: float = 1.6
    weigh_stop_d: float = 16.0
    inspection_stop_d: float = 11.5  # the plate then shows above the closed barrier arm
    exit_d: float = 8.0
    gone_d: float = -3.0


GATE = GateLayout()


@dataclass(frozen=True)
class RearLayout:
    """The rear plate camera (`--rear-camera`): beside the lane before the gate line, looking down the deck.

    Its mount is in its own frame (D grows in the travel direction from its pole, lateral positive to
    its right): a pole on the verge 5 m off the lane centre, on the gate signal's side, 5.5 m before
    the gate line. From there it looks past the truck waiting at the red light and sees the backs of
    the trucks standing on the deck, a tractor's 9 m away and a small rigid truck's 18 m. The sight
    lines to the rear plates pass the signal post: on its lane side for tractors, on its far side for
    rigid trucks (from 3.5 m off the lane the post hid the plates of some rigid trucks).
    """

    mount: CameraMount = CameraMount(
        height_m=4.5,
        lateral_m=-5.0,
        hfov_deg=48.0,
        aim_distance_m=14.0,
        bottom_distance_m=7.6,
        looks_back=True,
        pole_d=GATE.gate_d + 5.5,
    )


QUEUE = QueueLayout()
REAR = RearLayout()


def _ground_quad(near_d: float, far_d: float, half_width: float) -> np.ndarray:
    return np.array(
        [[-half_width, 0.0, far_d], [half_width, 0.0, far_d], [half_width, 0.0, near_d], [-half_width, 0.0, near_d]]
    )


def _line(camera: Camera, d: float) -> dict[str, list[float]]:
    # start on the image left, end on the image right: trucks moving down the image cross from - to +.
    pts = camera.project(np.array([[-LINE_HALF_LENGTH, 0.0, d], [LINE_HALF_LENGTH, 0.0, d]]))
    return {"start": _rounded(pts[0]), "end": _rounded(pts[1])}


def _polygon(camera: Camera, quad: np.ndarray) -> list[list[float]]:
    return [_rounded(p) for p in camera.project(quad)]


def _rounded(p: np.ndarray) -> list[float]:
    return [round(float(p[0]), 2), round(float(p[1]), 2)]


def queue_geometry(camera: Camera) -> dict[str, object]:
    zone = _ground_quad(QUEUE.zone_near_d, QUEUE.entry_d, LANE_HALF_WIDTH + ZONE_MARGIN)
    return {"queue_zone": _polygon(camera, zone), "entry_line": _line(camera, QUEUE.entry_d)}


def gate_geometry(camera: Camera) -> dict[str, object]:
    deck = _ground_quad(GATE.deck_near_d, GATE.deck_far_d, GATE.deck_half_width)
    return {
        "weighbridge_zone": _polygon(camera, deck),
        "gate_line": _line(camera, GATE.gate_d),
        "exit_line": _line(camera, GATE.exit_d),
    }


def rear_geometry(camera: Camera) -> dict[str, object]:
    """The deck as the rear camera sees it (its near end, at the gate, is the bottom of the quad)."""
    deck = _ground_quad(GATE.deck_near_d, GATE.deck_far_d, GATE.deck_half_width)
    return {"weighbridge_zone": _polygon(camera, deck)}
