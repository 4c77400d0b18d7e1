"""What a weighbridge indicator shows, sampled at 10 Hz: axle loads on the deck plus dynamics and faults.

The deck carries the axles that stand on it. While a truck drives on, every axle that rolls onto
the deck shakes the load cells (a damped oscillation) and the reading wanders with speed; the
shaking fades as the truck slows and is gone the moment it stands still, which is when the
weight is stable (the truth's `weigh` time). With an empty deck the zero drifts slowly, and now
and then a single reading spikes (electrical noise); spikes raise the motion flag as an indicator
would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAMPLE_HZ = 10
DIVISION_KG = 10
_OSC_HZ = 2.3
_OSC_TAU_S = 0.6
_SPIKES_PER_HOUR = 6.0
_DRIFT_LIMIT_KG = 40


@dataclass(frozen=True)
class DeckLoad:
    load_kg: float
    speed_mps: float
    truck: str  # the truck with most weight on the deck, "" when empty


@dataclass(frozen=True)
class Reading:
    t_s: float
    weight_kg: int
    motion: int
    truck: str


class Indicator:
    """Turns the true deck load at each sample time into the number an indicator prints."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._last_load = 0.0
        self._osc_amp = 0.0
        self._osc_phase = 0.0
        self._drift = 0.0

    def sample(self, t_s: float, deck: DeckLoad) -> Reading:
        rng = self._rng
        dt = 1.0 / SAMPLE_HZ
        step = deck.load_kg - self._last_load
        if step > 0:  # an axle rolled on: the deck rings
            self._osc_amp += 0.25 * step
            self._osc_phase = float(rng.uniform(0, 2 * math.pi))
        self._last_load = deck.load_kg
        self._osc_amp *= math.exp(-dt / _OSC_TAU_S)
        self._osc_phase += 2 * math.pi * _OSC_HZ * dt
        moving = deck.load_kg > 0 and deck.speed_mps > 0
        if deck.load_kg > 0:
            settle = min(1.0, deck.speed_mps / 0.6)  # fades to nothing as the truck comes to rest
            dynamic = settle * (self._osc_amp * math.sin(self._osc_phase) + deck.load_kg * 0.01 * rng.standard_normal())
            self._drift = 0.0  # zero tracking re-zeroes between trucks
        else:
            dynamic = 0.0
            if rng.random() < 0.05:
                self._drift = float(
                    np.clip(self._drift + rng.choice([-DIVISION_KG, DIVISION_KG]), -_DRIFT_LIMIT_KG, _DRIFT_LIMIT_KG)
                )
        weight = deck.load_kg + dynamic + (self._drift if deck.load_kg == 0 else 0.0)
        motion = 1 if moving else 0
        if rng.random() < _SPIKES_PER_HOUR / 3600.0 * dt:
            weight += float(rng.choice([-1, 1])) * float(rng.uniform(300, 3000))
            motion = 1
        return Reading(round(t_s, 3), int(round(weight / DIVISION_KG)) * DIVISION_KG, motion, deck.truck)
