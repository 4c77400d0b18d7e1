"""Truck types, sizes, colours, loads and plates: everything about a truck that does not move."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.plate_text import PlateNumber, cn_plate, rear_format, vn_plate

Kind = Literal["rigid_small", "rigid_box", "rigid_tarp", "tractor_container", "tractor_reefer"]
KINDS: tuple[Kind, ...] = ("rigid_small", "rigid_box", "rigid_tarp", "tractor_container", "tractor_reefer")
_KIND_P = (0.14, 0.22, 0.22, 0.24, 0.18)

# Cab colours, BGR (OpenCV order).
CAB_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (236, 236, 232),
    "red": (40, 40, 190),
    "blue": (170, 90, 30),
    "green": (60, 140, 40),
    "yellow": (30, 200, 235),
    "silver": (190, 186, 180),
    "orange": (30, 120, 235),
    "black": (38, 36, 34),
    "dark_green": (50, 80, 30),
    "grey": (120, 118, 114),
}
_CAB_P = (0.28, 0.12, 0.14, 0.08, 0.07, 0.1, 0.06, 0.04, 0.05, 0.06)
_BODY_COLOURS: dict[Kind, list[tuple[int, int, int]]] = {
    "rigid_small": [(235, 235, 235), (150, 120, 60), (90, 90, 90), (60, 120, 50)],
    "rigid_box": [(235, 235, 235), (200, 200, 200), (160, 110, 40), (60, 60, 170)],
    "rigid_tarp": [(40, 110, 40), (150, 90, 20), (40, 110, 200), (100, 100, 100), (60, 70, 30)],
    "tractor_container": [(40, 40, 160), (150, 80, 20), (80, 110, 40), (120, 120, 120), (20, 90, 200), (120, 40, 110)],
    "tractor_reefer": [(240, 240, 240), (230, 232, 236)],
}


@dataclass(frozen=True)
class Shape:
    """Dimensions in metres; the cab starts at the front bumper, the body a little behind it."""

    length: float
    width: float
    cab_length: float
    cab_height: float
    body_start: float  # distance from the front to the body's front face
    body_bottom: float
    body_height: float
    axles: tuple[float, ...]  # axle positions from the front
    plate_height_m: float  # plate centre above the road


@dataclass(frozen=True)
class TruckSpec:
    kind: Kind
    colour: str
    body_colour: tuple[int, int, int]
    shape: Shape
    weight_kg: int
    axle_loads_kg: tuple[int, ...]
    plates: tuple[PlateNumber, ...]  # the front (visible) plate first
    plate_offset_m: float  # lateral offset of the front plate from the cab centre
    lateral_m: float  # where in the lane the truck drives
    reaction_s: float  # driver's delay before moving off
    headlight_style: int


def _shape(rng: np.random.Generator, kind: Kind) -> Shape:
    u = rng.uniform
    if kind == "rigid_small":
        length = u(6.2, 7.4)
        wheelbase = u(3.6, 4.2)
        return Shape(length, 2.2, 1.7, u(2.4, 2.7), 1.9, 1.0, u(2.8, 3.2), (1.1, 1.1 + wheelbase), u(0.45, 0.6))
    if kind in ("rigid_box", "rigid_tarp"):
        length = u(8.5, 10.5)
        rear = length - u(1.8, 2.4)
        height = u(3.6, 3.9) if kind == "rigid_box" else u(3.3, 3.6)
        return Shape(length, 2.5, 2.1, u(2.9, 3.2), 2.3, 1.1, height, (1.3, rear - 1.3, rear), u(0.5, 0.7))
    # Tractor with a semi-trailer (12.2 m container chassis or a reefer trailer): 16.5 m overall.
    length = u(16.0, 16.5)
    height = 4.1 if kind == "tractor_container" else u(3.9, 4.0)
    rear = length - u(1.4, 1.8)
    axles: tuple[float, ...] = (1.4, 4.7, 6.0, rear - 2.6, rear - 1.3, rear)
    if rng.random() < 0.3:
        axles = (1.4, 4.7, 6.0, rear - 1.3, rear)
    return Shape(length, 2.5, 2.3, u(3.1, 3.5), 2.9, 1.2, height, axles, u(0.55, 0.75))


def _weight(rng: np.random.Generator, kind: Kind, loaded: bool) -> int:
    empty, full = {
        "rigid_small": (3500, 10500),
        "rigid_box": (8500, 24000),
        "rigid_tarp": (8000, 24000),
        "tractor_container": (14500, 44000),
        "tractor_reefer": (15500, 42000),
    }[kind]
    kg = rng.uniform(full * 0.62, full) if loaded else rng.uniform(empty, empty * 1.15)
    return int(round(kg / 10.0)) * 10


def _axle_loads(rng: np.random.Generator, weight_kg: int, n: int) -> tuple[int, ...]:
    front_share = rng.uniform(0.17, 0.26) if n > 2 else rng.uniform(0.3, 0.38)
    rest = rng.uniform(0.9, 1.1, n - 1)
    shares = np.concatenate([[front_share], (1 - front_share) * rest / rest.sum()])
    loads = [int(round(weight_kg * s / 10.0)) * 10 for s in shares]
    loads[-1] += weight_kg - sum(loads)  # keep the sum exact
    return tuple(loads)


def make_truck(rng: np.random.Generator, direction: str) -> TruckSpec:
    """A random truck for a lane; export lanes carry mostly Vietnamese trucks, import lanes Chinese ones."""
    kind: Kind = KINDS[int(rng.choice(len(KINDS), p=_KIND_P))]
    colour = str(rng.choice(list(CAB_COLOURS), p=_CAB_P))
    palette = _BODY_COLOURS[kind]
    body_colour = palette[int(rng.integers(len(palette)))]
    shape = _shape(rng, kind)
    loaded = rng.random() < (0.88 if direction == "export" else 0.7)
    weight = _weight(rng, kind, loaded)
    country = "VN" if rng.random() < (0.8 if direction == "export" else 0.25) else "CN"
    tractor = kind.startswith("tractor")
    make = vn_plate if country == "VN" else cn_plate
    two_row_front = rng.random() < 0.2
    plates = [make(rng, "tractor" if tractor else "vehicle", two_row_front)]
    if tractor:
        # A semi-trailer carries its own plate at the rear: in truth only, no front camera sees it.
        plates.append(make(rng, "trailer", True))
    return TruckSpec(
        kind=kind,
        colour=colour,
        body_colour=body_colour,
        shape=shape,
        weight_kg=weight,
        axle_loads_kg=_axle_loads(rng, weight, len(shape.axles)),
        plates=tuple(plates),
        plate_offset_m=float(rng.choice([0.0, 0.0, 0.0, -0.35, 0.35])),
        lateral_m=float(np.clip(rng.normal(0.0, 0.15), -0.35, 0.35)),
        reaction_s=float(rng.uniform(0.6, 1.8)),
        headlight_style=int(rng.integers(3)),
    )


def rear_plate(spec: TruckSpec) -> PlateNumber:
    """The plate on the truck's back: a tractor's trailer plate, or a rigid truck's own number in rear format."""
    return spec.plates[1] if len(spec.plates) > 1 else rear_format(spec.plates[0])
